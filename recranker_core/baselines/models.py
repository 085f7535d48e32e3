"""The conventional recommenders, as lenskit scorers built from our config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from recranker_core.config import BaselineConfig


@dataclass(frozen=True)
class ModelSpec:
    label: str
    """Short human-readable name for tables, plots and prompt hints."""
    explicit: bool
    """True when the model learns rating values (from likes and dislikes), False for likes only."""
    build: Callable[[BaselineConfig], Any]
    """Makes the (untrained) lenskit scorer."""
    memory: Callable[[BaselineConfig, int, int], int] = lambda cfg, users, items: 0
    """Estimated bytes of its largest allocations when fitted on (users, items): checked before fitting."""
    remedy: str = ""
    """What to lower when that does not fit (a format string of ``cfg``, the BaselineConfig)."""


_SMALLER = "lower baselines.embedding_size (now {cfg.embedding_size})"


def _factors(size: Callable[[BaselineConfig], int], copies: int) -> Callable[[BaselineConfig, int, int], int]:
    """Float32 user and item embeddings, ``copies`` of them (solver work, gradients, optimiser moments)."""
    return lambda cfg, users, items: (users + items) * size(cfg) * 4 * copies


def _gram(cfg: BaselineConfig, users: int, items: int) -> int:
    """EASE: the float32 item-item co-occurrence matrix, its inverse and the weights."""
    return 3 * items * items * 4


def _als(cfg: BaselineConfig, users: int, items: int) -> int:
    """ALS: the embeddings and the k x k normal equations it solves."""
    return _factors(lambda c: c.embedding_size, 4)(cfg, users, items) + 2 * cfg.embedding_size**2 * 4


def _sasrec_memory(cfg: BaselineConfig, users: int, items: int) -> int:
    s = cfg.sasrec  # item embeddings with Adam's moments, and a batch's activations (~20 values a unit)
    return items * s.embedding_size * 4 * 4 + s.batch_size * s.max_len * s.embedding_size * s.blocks * 4 * 20


def _popular(cfg: BaselineConfig):
    from lenskit.basic import PopScorer

    return PopScorer(score="count")


def _implicitmf(cfg: BaselineConfig):
    from lenskit.als import ImplicitMFScorer

    return ImplicitMFScorer(
        embedding_size=cfg.embedding_size,
        epochs=cfg.als_epochs,
        regularization=cfg.als_regularization,
        weight=cfg.implicit_weight,
    )


def _bpr(cfg: BaselineConfig):
    from lenskit.flexmf import FlexMFImplicitScorer

    return FlexMFImplicitScorer(
        preset="bpr",
        embedding_size=cfg.embedding_size,
        epochs=cfg.bpr_epochs,
        learning_rate=cfg.bpr_learning_rate,
    )


def _itemknn(cfg: BaselineConfig):
    from lenskit.knn import ItemKNNScorer

    return ItemKNNScorer(max_nbrs=cfg.knn_neighbors, feedback="implicit")


def _ease(cfg: BaselineConfig):
    from lenskit.knn import EASEScorer

    return EASEScorer(regularization=cfg.ease_regularization)


def _biasedmf(cfg: BaselineConfig):
    from lenskit.als import BiasedMFScorer

    return BiasedMFScorer(
        embedding_size=cfg.embedding_size, epochs=cfg.als_epochs, regularization=cfg.als_regularization
    )


def _lightgcn(cfg: BaselineConfig):
    from recranker_core.baselines.lightgcn import LightGCNScorer

    return LightGCNScorer(cfg.lightgcn)


def _sasrec(cfg: BaselineConfig):
    from recranker_core.baselines.sasrec import SASRecScorer

    return SASRecScorer(cfg.sasrec)


MODELS: dict[str, ModelSpec] = {
    "popular": ModelSpec("Popularity", False, _popular),
    "implicitmf": ModelSpec("ImplicitMF", False, _implicitmf, _als, _SMALLER),
    "bpr": ModelSpec("BPR-MF", False, _bpr, _factors(lambda c: c.embedding_size, 4), _SMALLER),
    "itemknn": ModelSpec("ItemKNN", False, _itemknn),
    "ease": ModelSpec("EASE", False, _ease, _gram, "leave ease out of baselines.models for this many items"),
    "biasedmf": ModelSpec("BiasedMF", True, _biasedmf, _als, _SMALLER),
    "lightgcn": ModelSpec(
        "LightGCN",
        False,
        _lightgcn,
        _factors(lambda c: c.lightgcn.embedding_size * (c.lightgcn.layers + 4), 1),
        "lower baselines.lightgcn.embedding_size ({cfg.lightgcn.embedding_size}) "
        "or layers ({cfg.lightgcn.layers})",
    ),
    "sasrec": ModelSpec(
        "SASRec",
        False,
        _sasrec,
        _sasrec_memory,
        "lower baselines.sasrec.embedding_size ({cfg.sasrec.embedding_size}), "
        "batch_size ({cfg.sasrec.batch_size}) or max_len ({cfg.sasrec.max_len})",
    ),
}
