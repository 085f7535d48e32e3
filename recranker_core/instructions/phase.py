"""What each phase may know: its fitted hint models and item text (``Phase``), and what every phase
reads of the split (``Context``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recranker_core.baselines.candidates import embeddings, unseen_pools
from recranker_core.baselines.fitting import fit, score, top_n
from recranker_core.baselines.models import MODELS
from recranker_core.config import PromptConfig, RunConfig
from recranker_core.data.split import Split
from recranker_core.instructions.holdout import Held
from recranker_core.instructions.lists import LIST_SIZE, around
from recranker_core.prompts.builder import Catalogue, History


class Phase:
    """Fitted hint models and item text for one phase, plus batched score lookups."""

    def __init__(self, rows: pd.DataFrame, items: pd.DataFrame, config: RunConfig, seed: int):
        prompts = config.prompts
        self.primary = config.baselines.primary
        self.embedder = config.baselines.embedding_model if prompts.collab_tokens else None
        names = dict.fromkeys(
            [self.primary, *prompts.hint_models, *filter(None, [prompts.rating_hint_model, self.embedder])]
        )
        self.models = {name: fit(name, rows, config.baselines, seed) for name in names}
        self.catalogue = Catalogue.build(items, rows, prompts)
        self.scores: dict[str, dict] = {}

    def vectors(self, phase: str) -> pd.DataFrame | None:
        """phase, kind, id (as text), vector: the embedding model's user and item vectors for collaborative
        tokens, each kind scaled to a root mean square of 1 (None without collaborative tokens)."""
        if self.embedder is None:
            return None
        frames = []
        for kind in ("user", "item"):
            table = embeddings(self.models[self.embedder], kind)
            matrix = np.stack(table["embedding"].to_numpy())
            matrix = (matrix / max(float(np.sqrt(np.mean(matrix**2))), 1e-12)).astype(np.float32)
            ids = table[f"{kind}_id"].astype(str)
            frames.append(pd.DataFrame({"phase": phase, "kind": kind, "id": ids, "vector": list(matrix)}))
        return pd.concat(frames, ignore_index=True)

    def score_all(self, wanted: dict[Any, set]) -> None:
        requests = [(user, np.array(sorted(items))) for user, items in wanted.items()]
        for name, pipeline in self.models.items():
            table = score(pipeline, requests)
            self.scores[name] = dict(zip(zip(table["user_id"], table["item_id"]), table["score"]))

    def get(self, model: str, user, items) -> np.ndarray:
        return np.array([self.scores[model].get((user, i), np.nan) for i in items], dtype=float)

    def base_order(self, user, items) -> list:
        """Items by the primary model's score, best first (unscorable last, then by id)."""
        scores = np.nan_to_num(self.get(self.primary, user, items), nan=-np.inf)
        return [items[i] for i in sorted(range(len(items)), key=lambda i: (-scores[i], str(items[i])))]

    def rankings(self, split: Split, keep: dict[Any, list]) -> dict[Any, np.ndarray]:
        """Per user: its unseen items plus ``keep[user]``, ranked by the primary model (unscorable left
        out)."""
        pools = unseen_pools(split, list(keep), extra=list(keep.values()))
        lists = top_n(self.models[self.primary], pools, -1)
        return {u: g.sort_values("rank")["item_id"].to_numpy() for u, g in lists.groupby("user_id")}

    def rating_hint(self, prompts: PromptConfig, user, item) -> float | None:
        if not (prompts.pointwise_hint and prompts.rating_hint_model):
            return None
        return float(self.get(prompts.rating_hint_model, user, [item])[0])

    def pair_scores(self, prompts: PromptConfig, user, pair) -> dict[str, tuple[float, float]]:
        if not prompts.pairwise_hint:
            return {}
        return {m: tuple(self.get(m, user, list(pair))) for m in prompts.hint_models}

    def list_scores(self, prompts: PromptConfig, user, items) -> dict[str, np.ndarray]:
        if not prompts.listwise_hint:
            return {}
        return {m: self.get(m, user, list(items)) for m in prompts.hint_models}


class Context:
    """What every phase reads of the split: rows per user, what each user rated, the catalogue."""

    def __init__(self, split: Split, config: RunConfig, seed: int):
        self.split, self.config, self.prompts, self.seed = split, config, config.prompts, seed
        self.rows_by_user = {u: g for u, g in split.table.groupby("user_id")}
        self.rated = {u: g["item_id"].to_numpy() for u, g in self.rows_by_user.items()}
        self.catalogue_items = np.sort(split.table["item_id"].unique())

    def unseen(self, user, rng: np.random.Generator, k: int) -> list:
        pool = np.setdiff1d(self.catalogue_items, self.rated[user])
        return list(rng.choice(pool, size=min(k, len(pool)), replace=False))

    def history(
        self, user, before_seq: float, rng: np.random.Generator, hide=(), also: pd.DataFrame | None = None
    ) -> History:
        rows = self.rows_by_user[user]
        rows = rows[
            (rows["role"] == "train") & (rows["seq"] < before_seq) & ~rows["item_id"].isin(list(hide))
        ]
        if also is not None:
            rows = pd.concat([rows, also])
        return History.from_rows(rows, self.prompts, rng)

    def opponents(self, user, target, rng: np.random.Generator, ranked: dict, positions: np.ndarray) -> tuple:
        if self.prompts.negatives == "candidates":
            return tuple(around(ranked.get(user, np.array([])), target, rng, positions))
        return (target, *self.unseen(user, rng, LIST_SIZE - 1))

    def negatives(
        self, like: Held, dislike: Held | None, opponents: tuple, rng: np.random.Generator
    ) -> tuple:
        first = (dislike.item,) if dislike is not None and self.prompts.pairwise_dislike else ()
        others = [i for i in opponents if i != like.item]
        count = min(self.prompts.pairwise_per_user - len(first), len(others))
        return first + tuple(rng.choice(others, size=max(count, 0), replace=False))


def labels() -> dict[str, str]:
    """How hints call each model."""
    return {name: MODELS[name].label for name in MODELS}
