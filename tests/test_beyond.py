"""Beyond-accuracy metrics: RecBole's definitions where it has them, hand-worked lists where it has not,
and the pairing of a method with the reference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recranker_core.beyond import Catalogue, beyond_document, list_metrics
from recranker_core.config import EvaluationConfig

GENRES = {1: ["Drama"], 2: ["Drama", "Comedy"], 3: ["Comedy"], 4: ["Horror"], 5: [], 6: ["Drama"]}


def catalogue(train: dict[int, list[int]]) -> Catalogue:
    rows = [(u, i, "train") for u, items in train.items() for i in items]
    split = pd.DataFrame(rows, columns=["user_id", "item_id", "role"])
    items = pd.DataFrame({"item_id": list(GENRES), "title": "t", "genres": list(GENRES.values())})
    return Catalogue.build(split, items)


def rankings(lists: dict[str, dict[int, list[int]]]) -> pd.DataFrame:
    rows = [
        (u, method, item, rank)
        for method, by_user in lists.items()
        for u, items in by_user.items()
        for rank, item in enumerate(items, start=1)
    ]
    return pd.DataFrame(rows, columns=["user_id", "method", "item_id", "rank"])


@pytest.fixture(scope="module")
def random_run():
    rng = np.random.default_rng(0)
    n_items = 40
    genres = {i: [f"g{g}" for g in range(5) if rng.random() < 0.4] for i in range(n_items)}
    train = pd.DataFrame(
        [
            (u, int(i), "train")
            for u in range(30)
            for i in rng.choice(n_items, rng.integers(2, 12), replace=False)
        ],
        columns=["user_id", "item_id", "role"],
    )
    items = pd.DataFrame({"item_id": list(genres), "title": "t", "genres": list(genres.values())})
    rated = train["item_id"].unique()
    lists = {u: [int(i) for i in rng.choice(rated, 5, replace=False)] for u in range(30)}
    return Catalogue.build(train, items), train, lists


def recbole_metrics(monkeypatch):
    """RecBole's metric classes, without its package __init__ (which needs colorlog, tensorboard and more
    that this project does not install: its wheel is here only for the ML-100K files)."""
    import importlib
    import importlib.util
    import sys
    import types

    root = Path(importlib.util.find_spec("recbole").origin).parent
    for name, folder in (("recbole", root), ("recbole.evaluator", root / "evaluator")):
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        monkeypatch.setitem(sys.modules, name, package)
    spec = importlib.util.spec_from_file_location("recbole.utils", root / "utils" / "enum_type.py")
    enums = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(enums)  # EvaluatorType, all that the metrics read of recbole.utils
    monkeypatch.setitem(sys.modules, "recbole.utils", enums)
    for name in ("recbole.evaluator.utils", "recbole.evaluator.base_metric", "recbole.evaluator.metrics"):
        monkeypatch.setitem(sys.modules, name, None)  # so that teardown removes what the import adds
        del sys.modules[name]
    return importlib.import_module("recbole.evaluator.metrics")


def test_coverage_popularity_and_tail_agree_with_recbole(random_run, monkeypatch):
    metrics = recbole_metrics(monkeypatch)
    AveragePopularity, ItemCoverage, TailPercentage = (
        metrics.AveragePopularity,
        metrics.ItemCoverage,
        metrics.TailPercentage,
    )
    catalogue, train, lists = random_run
    users = np.arange(30)
    doc = beyond_document(rankings({"m": lists}), catalogue, users, EvaluationConfig(bootstrap_samples=50), 1)
    matrix = np.array([lists[u] for u in users])
    counts = dict(train["item_id"].value_counts())
    tail = object.__new__(TailPercentage)
    tail.tail = 0.8  # the least popular 80% of the items rated in training: outside the top 20%
    for k in (3, 5):
        top = matrix[:, :k]
        assert doc["m"][f"coverage@{k}"]["value"] == pytest.approx(ItemCoverage.get_coverage(None, top, 40))
        recbole_pop = AveragePopularity.get_pop(None, top, counts).mean(axis=1).mean()
        assert doc["m"][f"arp@{k}"]["value"] * 30 == pytest.approx(
            recbole_pop, abs=1e-4
        )  # shares of 30 users
        assert doc["m"][f"tail@{k}"]["value"] == pytest.approx(tail.get_tail(top, counts).mean(), abs=1e-6)


def test_diversity_novelty_and_calibration_by_hand():
    cat = catalogue({10: [1, 2], 11: [1, 3], 12: [4]})  # 3 users; items 5 and 6 unrated
    metrics = list_metrics(np.array([[0, 2], [0, 5], [3, -1]]), np.array([10, 11, 99]), cat)
    # Jaccard distances: {Drama} vs {Comedy} 1; {Drama} vs {Drama} 0; one item: no pairs.
    np.testing.assert_allclose(metrics["ild"][:2], [1.0, 0.0])
    assert math.isnan(metrics["ild"][2])
    # Popularity: item 1 rated by 2 of 3 users, item 3 by 1, item 6 by none (counted as one user).
    np.testing.assert_allclose(metrics["arp"], [(2 / 3 + 1 / 3) / 2, (2 / 3 + 0) / 2, 1 / 3])
    np.testing.assert_allclose(metrics["novelty"][1], (-math.log2(2 / 3) - math.log2(1 / 3)) / 2)
    # User 10 liked {Drama} and {Drama, Comedy}: p = (3/4 Drama, 1/4 Comedy); the list {Drama}, {Comedy}
    # has q = (1/2, 1/2); KL(p || 0.99 q + 0.01 p).
    p, q = np.array([0.75, 0.25]), np.array([0.5, 0.5])
    mixed = 0.99 * q + 0.01 * p
    assert metrics["miscalibration"][0] == pytest.approx(float((p * np.log(p / mixed)).sum()))
    assert math.isnan(metrics["miscalibration"][2])  # user 99 has no training ratings


def test_a_method_is_paired_with_the_reference_on_the_users_both_have(random_run):
    catalogue, _, lists = random_run
    users = np.arange(30)
    shorter = {u: lists[u][::-1] for u in range(10)}  # the same items, reordered, for 10 users
    doc = beyond_document(
        rankings({"base": lists, "llm": shorter, "same": lists}),
        catalogue,
        users,
        EvaluationConfig(bootstrap_samples=200),
        3,
        reference="base",
    )
    assert doc["llm"]["arp@5"]["users"] == 10 and doc["base"]["arp@5"]["users"] == 30
    # Over the 10 users both have, the top 5 holds the same items: no difference, in every resample.
    assert doc["llm"]["arp@5"]["delta"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0}
    assert doc["llm"]["coverage@5"]["delta"]["value"] == 0.0
    assert doc["llm"]["arp@3"]["delta"]["value"] != 0.0 or doc["llm"]["ild@3"]["delta"]["value"] != 0.0
    assert "delta" not in doc["base"]["arp@5"] and doc["same"]["novelty@3"]["delta"]["ci_high"] == 0.0
    for entry in doc["base"].values():
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
