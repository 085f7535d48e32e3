"""HR@k / NDCG@k on hand-made lists, checked against lenskit.metrics, and the bootstrap CIs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from lenskit.data import ItemList
from lenskit.metrics import NDCG, Hit, LogRankWeight

from recranker_core.config import EvaluationConfig
from recranker_core.evaluation import metrics_document, per_user_metrics

TRUTH = pd.DataFrame({"user_id": [1, 2, 3, 4], "item_id": [10, 20, 30, 40]})


def ranking(method: str, lists: dict[int, list[int]]) -> pd.DataFrame:
    rows = [(u, method, item, rank) for u, items in lists.items() for rank, item in enumerate(items, start=1)]
    return pd.DataFrame(rows, columns=["user_id", "method", "item_id", "rank"])


# user 1: hit at rank 1; user 2: rank 3; user 3: rank 5; user 4: test item not in the list.
LISTS = {1: [10, 11, 12, 13, 14], 2: [21, 22, 20, 23, 24], 3: [31, 32, 33, 34, 30], 4: [41, 42, 43, 44, 45]}


def test_hand_computed_values():
    table = per_user_metrics(ranking("m", LISTS), TRUTH, (3, 5)).set_index("user_id")
    assert table["HR@3"].tolist() == [1, 1, 0, 0]
    assert table["HR@5"].tolist() == [1, 1, 1, 0]
    assert table["NDCG@3"].tolist() == pytest.approx([1.0, 1 / math.log2(4), 0.0, 0.0])
    assert table["NDCG@5"].tolist() == pytest.approx([1.0, 0.5, 1 / math.log2(6), 0.0])
    assert table["listed"].tolist() == [True, True, True, False]


def test_agrees_with_lenskit_metrics():
    # RecRanker (and RecBole) discount rank r by log2(r + 1); lenskit's default clips
    # ranks at 2 instead, and offset=1 selects the former.
    discount = LogRankWeight(offset=1)
    rng = np.random.default_rng(0)
    users = np.arange(200)
    truth = pd.DataFrame({"user_id": users, "item_id": rng.integers(0, 15, size=200)})
    lists = {int(u): list(rng.permutation(15)[:10]) for u in users}
    ours = per_user_metrics(ranking("m", lists), truth, (3, 5, 10)).set_index("user_id")
    for u, item in zip(truth["user_id"], truth["item_id"]):
        recs = ItemList(item_ids=lists[u], ordered=True)
        test = ItemList(item_ids=[item])
        for k in (3, 5, 10):
            assert ours.loc[u, f"HR@{k}"] == pytest.approx(Hit(n=k).measure_list(recs, test))
            assert ours.loc[u, f"NDCG@{k}"] == pytest.approx(
                NDCG(n=k, weight=discount).measure_list(recs, test)
            )


def test_a_user_missing_from_a_method_counts_as_a_miss():
    partial = ranking("m", {1: LISTS[1]})
    table = per_user_metrics(partial, TRUTH, (3,))
    assert len(table) == 4 and table["HR@3"].sum() == 1


def test_document_means_coverage_and_paired_intervals():
    rankings = pd.concat([ranking("a", LISTS), ranking("b", {u: LISTS[u][::-1] for u in LISTS})])
    doc = metrics_document(rankings, TRUTH, EvaluationConfig(ks=(3, 5), bootstrap_samples=500), seed=1)
    assert doc["test_users"] == 4 and set(doc["methods"]) == {"a", "b"}
    a = doc["methods"]["a"]
    assert a["coverage"] == 0.75
    assert a["metrics"]["HR@3"]["value"] == 0.5
    for interval in a["metrics"].values():
        assert interval["ci_low"] <= interval["value"] <= interval["ci_high"]
    # Same seed, same document.
    again = metrics_document(rankings, TRUTH, EvaluationConfig(ks=(3, 5), bootstrap_samples=500), seed=1)
    assert again == doc


def test_paired_delta_against_the_reference_uses_the_same_users_and_resamples():
    # 200 users; "better" moves the test item from rank 4 to rank 3 for 20 of them and equals "base"
    # elsewhere.
    users = np.arange(200)
    truth = pd.DataFrame({"user_id": users, "item_id": 0})
    hit = {int(u): [0, 1, 2, 3] if u % 2 else [1, 2, 3, 4] for u in users}
    moved = {u: ([1, 2, 0, 3] if u < 40 and not u % 2 else items) for u, items in hit.items()}
    rankings = pd.concat([ranking("base", hit), ranking("better", moved), ranking("same", hit)])
    config = EvaluationConfig(ks=(3,), bootstrap_samples=1000)
    doc = metrics_document(rankings, truth, config, seed=3, reference="base")
    assert doc["reference"] == "base" and "delta" not in doc["methods"]["base"]
    delta = doc["methods"]["better"]["delta"]["HR@3"]
    base, better = doc["methods"]["base"]["metrics"]["HR@3"], doc["methods"]["better"]["metrics"]["HR@3"]
    assert delta["value"] == pytest.approx(better["value"] - base["value"]) == pytest.approx(0.1)
    # Paired: the difference's interval lies above 0 although the two methods' own intervals overlap.
    assert delta["ci_low"] > 0 and delta["p_value"] < 0.01
    assert better["ci_low"] < base["ci_high"]
    same = doc["methods"]["same"]["delta"]["HR@3"]
    assert same == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0}


def test_ndcg_at_scores_one_item_by_its_rank_and_nothing_past_k():
    from recranker_core.evaluation import ndcg_at

    got = ndcg_at([1, 2, 3, 4, np.nan], 3)
    np.testing.assert_allclose(got, [1.0, 1 / np.log2(3), 0.5, 0.0, 0.0])
