"""Fit one conventional recommender on training rows; ask it for top-N lists or scores.

Thin wrappers over lenskit pipelines: every list or score request carries the
user's own item pool, so callers decide exactly which items may appear.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recranker_core import memory
from recranker_core.baselines.models import MODELS
from recranker_core.config import BaselineConfig

Requests = Sequence[tuple[object, np.ndarray]]
"""(user_id, item ids) pairs: the items to rank or score for that user."""


def fit(name: str, rows: pd.DataFrame, config: BaselineConfig, seed: int):
    """A trained lenskit top-N pipeline for model ``name``.

    ``rows`` are training rows with a ``feedback`` column: implicit models learn
    from the likes, the explicit model from likes and dislikes with their ratings.
    """
    from lenskit import topn_pipeline
    from lenskit.data import from_interactions_df
    from lenskit.training import TrainingOptions

    spec = MODELS[name]
    users, items = rows["user_id"].nunique(), rows["item_id"].nunique()
    what = f"baseline {name} on {users:,} users and {items:,} items"
    memory.require(spec.memory(config, users, items), what, spec.remedy.format(cfg=config))
    # Sequential models read the split's order (timestamps with ties broken) as time.
    rows = rows.assign(timestamp=rows["seq"])
    if spec.explicit:
        data = rows[["user_id", "item_id", "rating", "timestamp"]]
    else:
        data = rows.loc[rows["feedback"] == "like", ["user_id", "item_id", "timestamp"]]
    pipeline = topn_pipeline(spec.build(config), n=config.n_candidates)
    pipeline.train(from_interactions_df(data.reset_index(drop=True)), TrainingOptions(rng=seed))
    return pipeline


def top_n(pipeline, requests: Requests, n: int) -> pd.DataFrame:
    """Each user's n best items from its own pool: user_id, item_id, rank (1 = best), score."""
    from lenskit.batch import BatchPipelineRunner, InvocationSpec

    runner = BatchPipelineRunner(n_jobs=1)
    # "test-items" hands each request's item pool to the pipeline as its candidates.
    runner.add_invocation(InvocationSpec("recommend", {"recommender": "out"}, "test-items", {"n": n}))
    lists = runner.run(pipeline, _requests(requests)).output("out").to_df()
    return lists[["user_id", "item_id", "rank", "score"]].astype({"rank": "int64", "score": "float64"})


def score(pipeline, requests: Requests) -> pd.DataFrame:
    """The model's score for each requested (user, item): user_id, item_id, score (NaN if it cannot score)."""
    from lenskit.batch import BatchPipelineRunner

    runner = BatchPipelineRunner(n_jobs=1)
    runner.score()
    scores = runner.run(pipeline, _requests(requests)).output("scores").to_df()
    return scores[["user_id", "item_id", "score"]].astype({"score": "float64"})


def _requests(requests: Requests):
    from lenskit.data import ItemList, RecQuery

    return [(RecQuery(user_id=user), ItemList(item_ids=items)) for user, items in requests]
