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
    "implicitmf": ModelSpec("ImplicitMF", False, _implicitmf),
    "bpr": ModelSpec("BPR-MF", False, _bpr),
    "itemknn": ModelSpec("ItemKNN", False, _itemknn),
    "ease": ModelSpec("EASE", False, _ease),
    "biasedmf": ModelSpec("BiasedMF", True, _biasedmf),
    "lightgcn": ModelSpec("LightGCN", False, _lightgcn),
    "sasrec": ModelSpec("SASRec", False, _sasrec),
}
