"""Fit the conventional recommenders and take each user's top-N unseen items.

Implicit models learn from the training likes; the explicit model (BiasedMF)
from the training likes and dislikes with their ratings. Every model is fitted
once, on training data only, and ranks, for each user and target (``valid`` or
``test``), the catalogue minus the user's seen items (see ``data.split``) but
with the target kept in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

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
    from lenskit import topn_pipeline
    from lenskit.training import TrainingOptions

    implicit = _lenskit_dataset(split.train_likes, with_ratings=False)
    explicit = _lenskit_dataset(split.train_rated, with_ratings=True)
    pools = _candidate_pools(split)

    frames, timings, embeddings = [], {}, None
    with logging_redirect_tqdm(loggers=[log]):
        for name in (bar := tqdm(config.models, desc="baselines", unit="model", leave=False)):
            spec = MODELS[name]
            bar.set_postfix_str(spec.label)
            pipeline = topn_pipeline(spec.build(config), n=config.n_candidates)
            started = time.perf_counter()
            pipeline.train(explicit if spec.explicit else implicit, TrainingOptions(rng=seed))
            fitted = time.perf_counter()
            frames.append(_recommend(pipeline, pools, config.n_candidates).assign(model=name))
            done = time.perf_counter()
            timings[name] = {"fit_seconds": round(fitted - started, 3), "candidate_seconds": round(done - fitted, 3)}
            log.info("%s: fit %.1fs, candidates %.1fs", spec.label, fitted - started, done - fitted)
            if name == config.embedding_model:
                embeddings = _user_embeddings(pipeline.node("scorer").component)

    candidates = pd.concat(frames, ignore_index=True)[
        ["target", "model", "user_id", "item_id", "rank", "score"]
    ]
    assert embeddings is not None  # config.check guarantees the embedding model is fitted
    return BaselineResult(candidates=candidates, user_embeddings=embeddings, timings=timings)


def _lenskit_dataset(rows: pd.DataFrame, *, with_ratings: bool):
    from lenskit.data import from_interactions_df

    columns = ["user_id", "item_id", "timestamp"] + (["rating"] if with_ratings else [])
    return from_interactions_df(rows[columns].reset_index(drop=True))


def _candidate_pools(split: Split) -> pd.DataFrame:
    """One row per kept user: its valid and test items and the unseen catalogue plus both."""
    catalogue = np.sort(split.table["item_id"].unique())
    seen = split.seen()
    targets = split.targets("valid").merge(split.targets("test"), on="user_id", suffixes=("_valid", "_test"))
    targets["pool"] = [
        np.union1d(np.setdiff1d(catalogue, seen[user], assume_unique=True), [valid, test])
        for user, valid, test in zip(targets["user_id"], targets["item_id_valid"], targets["item_id_test"])
    ]
    return targets


def _recommend(pipeline, pools: pd.DataFrame, n: int) -> pd.DataFrame:
    """Top-n per user and target from one pipeline call per user.

    Each user's pool holds both targets, so one list of n + 1 serves both: the
    validation list drops the test item and vice versa.
    """
    from lenskit.batch import BatchPipelineRunner, InvocationSpec
    from lenskit.data import ItemList, RecQuery

    runner = BatchPipelineRunner(n_jobs=1)
    # "test-items" hands each user's own candidate pool to the pipeline as its item list.
    runner.add_invocation(InvocationSpec("recommend", {"recommender": "recs"}, "test-items", {"n": n + 1}))
    requests = [(RecQuery(user_id=u), ItemList(item_ids=pool)) for u, pool in zip(pools["user_id"], pools["pool"])]
    recs = runner.run(pipeline, requests).output("recs").to_df().merge(pools.drop(columns="pool"), on="user_id")
    lists = []
    for target, other in (("valid", "item_id_test"), ("test", "item_id_valid")):
        kept = recs[recs["item_id"] != recs[other]].sort_values(["user_id", "rank"], kind="stable")
        kept = kept.assign(rank=kept.groupby("user_id").cumcount() + 1, target=target)
        lists.append(kept[kept["rank"] <= n])
    return pd.concat(lists)[["target", "user_id", "item_id", "rank", "score"]].astype(
        {"rank": "int64", "score": "float64"}
    )


def _user_embeddings(scorer) -> pd.DataFrame:
    matrix = np.asarray(scorer.user_embeddings, dtype=np.float32)
    return pd.DataFrame({"user_id": scorer.users.ids(), "embedding": list(matrix)})
