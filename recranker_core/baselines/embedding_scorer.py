"""What our torch recommenders share once trained: user and item vectors, scored by dot product.

LightGCN and SASRec differ in how they learn the vectors; after training both score a user's items
as ``user_vector @ item_vector``, expose ``users``/``user_embeddings`` like lenskit's ALS scorers
(so either can feed clustering-based sampling), and save to / load from safetensors.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from pathlib import Path

import numpy as np
from lenskit.data import Dataset, ItemList, QueryInput, RecQuery, Vocabulary
from lenskit.pipeline import Component
from lenskit.training import Trainable, TrainingOptions

from recranker_core.errors import InputError
from recranker_core.evaluation import ndcg_at

DEFAULT_TRAINING = TrainingOptions()
"""``train``'s default options (one shared instance, as a default argument would be)."""


class EmbeddingScorer(Component[ItemList], Trainable):
    users: Vocabulary
    items: Vocabulary
    user_embeddings: np.ndarray
    """(users, dim) float32."""
    item_embeddings: np.ndarray
    """(items, dim) float32."""

    def train(self, data: Dataset, options: TrainingOptions = DEFAULT_TRAINING) -> None:
        import torch

        if hasattr(self, "user_embeddings") and not options.retrain:
            return
        torch.manual_seed(torch_seed(options))
        table = data.interaction_table(format="pandas", original_ids=False)
        users, items = self.fit_vectors(data, table, options.random_generator())
        self.users, self.items = data.users, data.items
        self.user_embeddings = np.ascontiguousarray(users, dtype=np.float32)
        self.item_embeddings = np.ascontiguousarray(items, dtype=np.float32)

    @abstractmethod
    def fit_vectors(self, data: Dataset, table, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(user vectors, item vectors) in lenskit's user and item number order; table: the
        interactions as user_num, item_num, timestamp; rng: for sampling (torch is seeded too)."""

    def __call__(self, query: QueryInput, items: ItemList) -> ItemList:
        user = RecQuery.create(query).user_id
        number = self.users.number(user, missing=None) if user is not None else None
        if number is None:
            return ItemList(items, scores=np.nan)
        numbers = items.numbers(vocabulary=self.items, missing="negative")
        known = numbers >= 0
        scores = np.full(len(items), np.nan, dtype=np.float32)
        scores[known] = self.item_embeddings[numbers[known]] @ self.user_embeddings[number]
        return ItemList(items, scores=scores)

    def save(self, path: Path) -> None:
        """The vectors and both vocabularies, in one safetensors file."""
        import torch
        from safetensors.torch import save_file

        tensors = {
            "user_embeddings": torch.from_numpy(self.user_embeddings),
            "item_embeddings": torch.from_numpy(self.item_embeddings),
        }
        metadata = {
            "users": json.dumps(np.asarray(self.users.ids()).tolist()),
            "items": json.dumps(np.asarray(self.items.ids()).tolist()),
        }
        save_file(tensors, str(path), metadata={**metadata, "scorer": type(self).__name__})

    def load(self, path: Path) -> EmbeddingScorer:
        """Restore what :meth:`save` wrote (instead of training)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("scorer") != type(self).__name__:
                raise InputError(
                    f"{path}: not a saved {type(self).__name__} (found {metadata.get('scorer')!r})"
                )
            self.user_embeddings = handle.get_tensor("user_embeddings")
            self.item_embeddings = handle.get_tensor("item_embeddings")
        self.users = Vocabulary(json.loads(metadata["users"]), reorder=False)
        self.items = Vocabulary(json.loads(metadata["items"]), reorder=False)
        return self


def torch_seed(options: TrainingOptions) -> int:
    """A torch seed drawn from lenskit's training options, so one run seed fixes everything."""
    return int(options.random_generator().integers(2**31 - 1))


def holdout_ndcg(user_vectors, item_vectors, seen, held_out: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k of each user's held-out item, ranking every item the user has not seen.

    user_vectors (U, d), item_vectors (I, d): torch tensors; seen: torch sparse (U, I) of the
    items each user may not be recommended; held_out: one item number per user (-1: none)."""
    import torch

    with torch.no_grad():
        scores = user_vectors @ item_vectors.T
        scores[seen.indices()[0], seen.indices()[1]] = -torch.inf
        users = torch.from_numpy(np.flatnonzero(held_out >= 0))
        target = scores[users, torch.from_numpy(held_out[held_out >= 0])]
        rank = (scores[users] > target[:, None]).sum(dim=1) + 1
    return float(ndcg_at(rank.numpy(), k).mean()) if len(users) else 0.0
