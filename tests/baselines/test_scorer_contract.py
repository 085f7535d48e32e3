"""LightGCN and SASRec against lenskit's own scorer contract (``lenskit.testing``).

lenskit's harness reads its data from lenskit's repository folder (``data/ml-latest-small``,
``data/ml-100k.zip``), which the wheel does not ship and which we never download. The fixtures it
asks for are provided here from data we have, read by lenskit's own MovieLens loaders (so the
column types are lenskit's: int32 ids, float32 ratings, datetime timestamps):

- ``ml_ds`` (lenskit's own fixture, which checks that no test changes the data) and
  ``ml_ratings``: the committed ML-100K-format folder ``tests/fixtures/ml-100k-mini``
  (40 users, 150 items, 2.6K ratings);
- ``ml_100k`` (top-N accuracy): the first 300 users of the embedded ML-100K (31K ratings), written
  as a ``u.data`` file, so that lenskit's 60 sampled test users give a steady NDCG;
- ``rng``: a seeded generator (lenskit's conftest has its own, not shipped).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from lenskit.data import Dataset
from lenskit.data.movielens import load_movielens, load_movielens_df
from lenskit.testing import BasicComponentTests, ScorerTests, ml_ds  # noqa: F401 (ml_ds: a fixture)

from recranker_core.baselines.lightgcn import LightGCNScorer
from recranker_core.baselines.sasrec import SASRecScorer
from tests.conftest import MINI

ACCURACY_USERS = 300


@pytest.fixture(scope="session")
def ml_ratings() -> pd.DataFrame:
    return load_movielens_df(MINI)


@pytest.fixture(scope="session")
def ml_ds_unchecked() -> Dataset:
    """What lenskit's ``ml_ds`` fixture yields (and checks after each module)."""
    return load_movielens(MINI)


@pytest.fixture(scope="session")
def ml100k_slice() -> pd.DataFrame:
    from recranker_core.data import load_dataset

    ratings = load_dataset("ml-100k").ratings
    return ratings.loc[ratings["user_id"] <= ACCURACY_USERS, ["user_id", "item_id", "rating", "timestamp"]]


@pytest.fixture
def ml_100k(ml100k_slice, tmp_path) -> pd.DataFrame:
    folder = tmp_path / "ml-100k"  # lenskit tells the MovieLens version by the folder's name
    folder.mkdir()
    ml100k_slice.to_csv(folder / "u.data", sep="\t", header=False, index=False)
    return load_movielens_df(folder)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture(scope="module", autouse=True)
def batches_in_process():
    """lenskit's batch runs (``batch.recommend`` without ``n_jobs``) run in this process, as ours
    do (``BatchPipelineRunner(n_jobs=1)`` in baselines/fitting.py): by default lenskit spawns a
    pool of workers, each importing torch again, about 15 s per test on 2 cores. That the models
    survive pickling, which the pool relies on, is a contract test of its own (test_pickle_roundrip)."""
    from lenskit.parallel import config

    current = config.get_parallel_config()  # lenskit's defaults, as the first batch run would set
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "_config", config.ParallelConfig(1, current.threads, current.backend_threads))
        yield


class TestLightGCN(BasicComponentTests, ScorerTests):
    component = LightGCNScorer
    config = LightGCNScorer.validate_config({"embedding_size": 16, "epochs": 10})
    configs: ClassVar[list[dict[str, Any]]] = [
        {"embedding_size": 16, "layers": 3, "epochs": 4, "eval_every": 2, "patience": 4, "batch_size": 256}
    ]
    # NDCG@20 on lenskit's quick split (60 of the 300 users, seed 42): 0.139-0.210 over 26 trainings
    # (training is seeded afresh each time), popularity 0.132, random scores 0.011-0.016.
    expected_ndcg = 0.1
    # LightGCN learns from likes (implicit feedback): its scores are not ratings, so it has no RMSE.
    test_batch_prediction_accuracy = None


class TestSASRec(BasicComponentTests, ScorerTests):
    component = SASRecScorer
    # More, smaller steps than the defaults (30 epochs of 128 sequences at lr 1e-3), so that a few
    # seconds of training learn something on the small data sets.
    config = SASRecScorer.validate_config(
        {
            "embedding_size": 16,
            "blocks": 1,
            "max_len": 20,
            "epochs": 10,
            "batch_size": 32,
            "learning_rate": 5e-3,
        }
    )
    configs: ClassVar[list[dict[str, Any]]] = [
        {"embedding_size": 16, "blocks": 1, "heads": 2, "max_len": 10, "dropout": 0.1, "epochs": 2}
    ]
    # NDCG@20 as above: 0.085-0.139 over 26 trainings (a next-item model, scored here on random
    # held-out ratings), random scores 0.011-0.016.
    expected_ndcg = 0.06
    # SASRec learns from likes (implicit feedback): its scores are not ratings, so it has no RMSE.
    test_batch_prediction_accuracy = None
