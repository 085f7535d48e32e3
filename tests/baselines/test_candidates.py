"""Candidate lists of the lenskit baselines, on the small fixture run and the full ML-100K."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from recranker_core import rundir
from recranker_core.config import BASELINE_MODELS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def mini(mini_run):
    return {
        "candidates": rundir.read_table(mini_run / rundir.CANDIDATES),
        "split": rundir.read_table(mini_run / rundir.SPLIT),
        "embeddings": rundir.read_table(mini_run / rundir.USER_EMBEDDINGS),
    }


def test_every_model_lists_ten_unseen_items_per_user_and_target(mini):
    candidates, split = mini["candidates"], mini["split"]
    users = split.loc[split["role"] == "test", "user_id"]
    sizes = candidates.groupby(["target", "model", "user_id"]).size()
    assert set(sizes) == {10}
    assert len(sizes) == 2 * len(BASELINE_MODELS) * len(users)
    ranks = candidates.groupby(["target", "model", "user_id"])["rank"].apply(list)
    assert all(r == list(range(1, 11)) for r in ranks)
    # Scores never increase down a list.
    ordered = candidates.sort_values(["target", "model", "user_id", "rank"])
    steps = ordered.groupby(["target", "model", "user_id"])["score"].diff().dropna()
    assert (steps <= 1e-9).all()


def test_candidates_exclude_what_the_user_rated_before_the_target(mini):
    candidates, split = mini["candidates"], mini["split"]
    seq = split.set_index(["user_id", "item_id"])["seq"]
    moment = split[split["role"].isin(["valid", "test"])].set_index(["role", "user_id"])
    later = 0
    for target, user, item in candidates[["target", "user_id", "item_id"]].to_numpy():
        at = moment.loc[(target, user)]
        rated = seq.get((user, item))
        assert item == at["item_id"] or rated is None or rated > at["seq"]
        later += rated is not None and item != at["item_id"]
    # Items rated after the target (the test item, among validation candidates) are not hidden
    assert later > 0


def test_all_rated_leaves_out_every_item_the_user_ever_rated(mini):
    from recranker_core.baselines.candidates import candidate_pools
    from recranker_core.data.split import Split

    split = mini["split"]
    rated = split.groupby("user_id")["item_id"].apply(set)
    targets = split[split["role"] == "test"].set_index("user_id")["item_id"]
    for user, pool in candidate_pools(Split(split, 0), "test", "all-rated"):
        assert set(pool) & rated[user] == {targets[user]}


def test_user_embeddings_cover_every_training_user(mini):
    embeddings, split = mini["embeddings"], mini["split"]
    assert set(embeddings["user_id"]) == set(split.loc[split["role"] == "test", "user_id"])
    matrix = np.stack(embeddings["embedding"].to_numpy())
    assert matrix.shape[1] == 64 and np.isfinite(matrix).all()


def test_same_seed_gives_identical_candidates(mini, tmp_path):
    from recranker_core.config import load_profile
    from recranker_core.runner import create_run
    from tests.conftest import MINI

    create_run(str(MINI), tmp_path / "again", load_profile("smoke"))
    again = rundir.read_table(tmp_path / "again" / rundir.CANDIDATES)
    pd.testing.assert_frame_equal(again, mini["candidates"])


@pytest.mark.slow
def test_full_ml100k_through_the_cli(tmp_path):
    """The real embedded data, end to end: every baseline evaluated, and learned models beat popularity."""
    out = tmp_path / "ml100k"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "recranker_core",
            "baselines",
            "--dataset",
            "ml-100k",
            "--profile",
            "smoke",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_users"] == 942
    assert set(metrics["methods"]) == {f"base:{m}" for m in BASELINE_MODELS}
    hr10 = {m: e["metrics"]["HR@10"]["value"] for m, e in metrics["methods"].items()}
    assert hr10["base:ease"] > hr10["base:popular"] and hr10["base:implicitmf"] > hr10["base:popular"]
    rankings = pd.read_parquet(out / "rankings.parquet")
    assert list(rankings.columns) == ["user_id", "method", "item_id", "rank"]
    assert rankings.groupby("method")["user_id"].nunique().eq(942).all()
