"""Fit the conventional recommenders and take each user's top-N unseen items.

Every model is fitted once, on training rows only, and ranks, for each user and
target (``valid`` or ``test``), the catalogue minus what the user rated before the
target (or ever: ``baselines.exclude``; see ``data.split``), the target kept in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from recranker_core.baselines.fitting import fit, top_n
from recranker_core.baselines.models import MODELS
from recranker_core.config import BaselineConfig
from recranker_core.data.split import Split

log = logging.getLogger("recranker")


@dataclass(frozen=True)
class BaselineResult:
    candidates: pd.DataFrame
    """Columns: target (valid/test), model, user_id, item_id, rank (1 = best), score."""
    user_embeddings: pd.DataFrame
    """Columns: user_id, embedding (list of floats) from the configured embedding model."""
    timings: dict[str, dict[str, float]]
    """model -> {fit_seconds, candidate_seconds}."""


def run_baselines(split: Split, config: BaselineConfig, seed: int) -> BaselineResult:
    pools = {role: candidate_pools(split, role, config.exclude) for role in ("valid", "test")}
    frames, timings, embeddings = [], {}, None
    with logging_redirect_tqdm(loggers=[log]):
        for name in (bar := tqdm(config.models, desc="baselines", unit="model", leave=False)):
            bar.set_postfix_str(MODELS[name].label)
            started = time.perf_counter()
            pipeline = fit(name, split.train_rated, config, seed)
            fitted = time.perf_counter()
            for target, requests in pools.items():
                frames.append(
                    top_n(pipeline, requests, config.n_candidates).assign(target=target, model=name)
                )
            done = time.perf_counter()
            timings[name] = {
                "fit_seconds": round(fitted - started, 3),
                "candidate_seconds": round(done - fitted, 3),
            }
            log.info("%s: fit %.1fs, candidates %.1fs", MODELS[name].label, fitted - started, done - fitted)
            if name == config.embedding_model:
                embeddings = user_embeddings(pipeline)

    candidates = pd.concat(frames, ignore_index=True)[
        ["target", "model", "user_id", "item_id", "rank", "score"]
    ]
    assert embeddings is not None  # config.check guarantees the embedding model is fitted
    return BaselineResult(candidates=candidates, user_embeddings=embeddings, timings=timings)


def candidate_pools(split: Split, role: str, exclude: str) -> list[tuple[object, np.ndarray]]:
    """Per user: the items its ``role`` ("valid"/"test") list may hold: the catalogue minus what it rated
    before that item ("known") or ever ("all-rated"), the item itself kept."""
    targets = split.targets(role)
    seen = split.seen(before=role if exclude == "known" else None)
    catalogue = np.sort(split.table["item_id"].unique())
    return [
        (user, np.union1d(np.setdiff1d(catalogue, seen.get(user, []), assume_unique=True), [item]))
        for user, item in zip(targets["user_id"], targets["item_id"])
    ]


def unseen_pools(split: Split, users, extra) -> list[tuple[object, np.ndarray]]:
    """Per user: the catalogue minus every item the user rated, plus that user's row of ``extra`` items."""
    catalogue = np.sort(split.table["item_id"].unique())
    seen = split.seen()
    return [
        (user, np.union1d(np.setdiff1d(catalogue, seen[user], assume_unique=True), keep))
        for user, keep in zip(users, extra)
    ]


def user_embeddings(pipeline) -> pd.DataFrame:
    """user_id, embedding (float32 array) of every user the pipeline's scorer learnt a vector for."""
    return embeddings(pipeline, "user")


def embeddings(pipeline, kind: str) -> pd.DataFrame:
    """``kind``_id, embedding of every user (``kind`` "user") or item ("item") of the pipeline's scorer."""
    scorer = pipeline.node("scorer").component
    matrix = np.asarray(getattr(scorer, f"{kind}_embeddings"), dtype=np.float32)
    return pd.DataFrame({f"{kind}_id": getattr(scorer, f"{kind}s").ids(), "embedding": list(matrix)})
