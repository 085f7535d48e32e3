"""Task scores, rankings and the hybrid on hand-made numbers."""

import numpy as np
import pandas as pd
import pytest

from recranker_core.ranking import (
    hybrid_score,
    method_rankings,
    pairwise_accuracy,
    rank_within_user,
    task_scores,
    tune_weights,
)


def outputs(rows):
    return pd.DataFrame(rows, columns=["split", "family", "user_id", "task", "items", "probs"])


CANDIDATES = pd.DataFrame({"split": "test", "user_id": 1, "item_id": [10, 11, 12], "base_rank": [0, 1, 2]})


def test_task_scores_expected_rating_mean_wins_per_comparison_and_listwise_average():
    table = task_scores(
        outputs(
            [
                ("test", "tuned", 1, "pointwise", [10], [0, 0, 0, 0, 1.0]),
                ("test", "tuned", 1, "pointwise", [11], [0.5, 0, 0, 0, 0.5]),
                ("test", "tuned", 1, "pointwise", [12], [0, 0, 1.0, 0, 0]),
                ("test", "tuned", 1, "pairwise", [10, 11], [0.8, 0.2]),  # 10 preferred with 0.8
                ("test", "tuned", 1, "pairwise", [11, 10], [0.4, 0.6]),  # 11 preferred with 0.4
                ("test", "tuned", 1, "listwise", [12, 10, 11], [0.5, 0.3, 0.2]),
                ("test", "tuned", 1, "listwise", [10, 11, 12], [0.1, 0.2, 0.7]),
            ]
        ),
        CANDIDATES,
        (1, 5),
    ).set_index("item_id")
    assert table["pointwise"].tolist() == [5.0, 3.0, 3.0]
    # 12 is in no asked pair: neither a win nor a loss, so it is not ranked below the loser of a pair.
    assert table["pairwise"].to_dict() == pytest.approx({10: (0.8 + 0.6) / 2, 11: (0.2 + 0.4) / 2, 12: 0.5})
    assert table["listwise"].to_dict() == pytest.approx({10: 0.2, 11: 0.2, 12: 0.6})
    assert table["base_rank"].tolist() == [0, 1, 2]
    # Greedy readings, as the official code parses answers: the most likely rating; wins when both orders
    # agree.
    assert table["pointwise_greedy"].tolist() == [5.0, 1.0, 3.0]
    assert table["pairwise_greedy"].to_dict() == {10: 1.0, 11: 0.0, 12: 0.5}


def test_wins_are_counted_per_comparison_and_disagreeing_orders_split_the_win():
    candidates = pd.DataFrame(
        {"split": "test", "user_id": 1, "item_id": [10, 11, 12, 13], "base_rank": [0, 1, 2, 3]}
    )
    table = task_scores(
        outputs(
            [
                ("test", "tuned", 1, "pairwise", [10, 11], [0.9, 0.1]),
                ("test", "tuned", 1, "pairwise", [11, 10], [0.3, 0.7]),  # both orders name 10
                ("test", "tuned", 1, "pairwise", [10, 12], [0.6, 0.4]),
                (
                    "test",
                    "tuned",
                    1,
                    "pairwise",
                    [12, 10],
                    [0.6, 0.4],
                ),  # each order names its first: a split win
                ("test", "tuned", 1, "pairwise", [13, 11], [0.2, 0.8]),
                ("test", "tuned", 1, "pairwise", [11, 13], [0.7, 0.3]),
            ]
        ),
        candidates,
        (1, 5),
    ).set_index("item_id")
    # 10 was in two comparisons: its score is the mean, not the sum.
    assert table.loc[10, "pairwise"] == pytest.approx(((0.9 + 0.7) / 2 + (0.6 + 0.4) / 2) / 2)
    assert table["pairwise_greedy"].to_dict() == {10: 0.75, 11: 0.5, 12: 0.5, 13: 0.0}
    ranked = method_rankings(
        table.reset_index().assign(family="tuned"), (0.5, 0.05, 0.025), (0.5, 0.05, 0.025)
    )
    official = ranked[ranked["method"] == "pairwise+prior"].sort_values("rank")["item_id"].tolist()
    assert official == [10, 11, 12, 13]  # equal wins (11, 12) keep the base order


def test_hybrid_arithmetic_with_zero_based_positions():
    table = pd.DataFrame(
        {
            "split": "test",
            "family": "tuned",
            "user_id": 1,
            "item_id": [10, 11, 12],
            "base_rank": [0, 1, 2],
            "pointwise": [3.0, 4.0, 2.0],
            "pairwise": [1.0, 0.0, 2.0],
            "listwise": [0.2, 0.5, 0.3],
        }
    )
    score = hybrid_score(table, (0.5, 0.05, 0.025))
    # listwise positions: 11 -> 0, 12 -> 1, 10 -> 2
    assert score.tolist() == pytest.approx(
        [3 + 0.5 + 0.5 + 0.025 * 3, 4 + 0.45 + 0 + 0.025 * 5, 2 + 0.4 + 1.0 + 0.025 * 4]
    )


def test_ties_and_missing_scores_fall_back_to_base_rank():
    table = pd.DataFrame(
        {"split": "t", "family": "f", "user_id": 1, "item_id": [1, 2, 3, 4], "base_rank": [0, 1, 2, 3]}
    )
    ranks = rank_within_user(table, pd.Series([1.0, 2.0, 2.0, np.nan]))
    assert ranks.tolist() == [3, 1, 2, 4]


def test_methods_and_tuning_find_the_weight_that_ranks_targets_first():
    # The target (item 11) is never first by pointwise, but always wins its pairs.
    rows = []
    for user in range(6):
        for item, base, point, pair in ((10, 0, 4.0, 0.0), (11, 1, 3.9, 2.0), (12, 2, 1.0, 0.0)):
            rows.append(("valid-rerank", "tuned", user, item, base, point, pair, 1 / 3))
    table = pd.DataFrame(
        rows,
        columns=["split", "family", "user_id", "item_id", "base_rank", "pointwise", "pairwise", "listwise"],
    )
    table = table.assign(pointwise_greedy=table["pointwise"].round(), pairwise_greedy=table["pairwise"] / 2)
    truth = pd.DataFrame({"user_id": range(6), "item_id": 11})
    weights, grid = tune_weights(table, truth)
    assert weights[0] > 0 and max(r["ndcg@5"] for r in grid) == 1.0
    ranked = method_rankings(table, (0.0, 0.0, 0.0), weights)
    assert set(ranked["method"]) == {
        "pointwise",
        "pairwise",
        "listwise",
        "pointwise+prior",
        "pairwise+prior",
        "hybrid",
        "hybrid-tuned",
    }
    top = ranked[ranked["rank"] == 1].set_index(["method", "user_id"])["item_id"]
    assert (top["hybrid-tuned"] == 11).all() and (top["hybrid"] == 10).all()
    accuracy = pairwise_accuracy(ranked, truth)
    assert accuracy["hybrid-tuned"] == 1.0 and accuracy["pointwise"] == 0.5  # rank 2 of 3: beats one of two
