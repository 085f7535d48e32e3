"""Fusion of standardised scores, the hint control, and choosing the judged method on validation users."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recranker_core import fusion
from recranker_core.config import EvaluationConfig
from recranker_core.evaluation import paired_deltas, per_user_metrics, summarize
from recranker_core.ranking import rank_within_user, select


def lists(users: int, llm: list[float], hint: list[float] | None = None) -> pd.DataFrame:
    """Validation rows: four candidates per user in base order (base scores 4, 3, 2, 1), with an LLM score
    and a hint model's score per candidate; the target is always item 13, the base model's last."""
    rows = [
        ("valid-rerank", "tuned", user, 10 + slot, slot, 4.0 - slot, llm[slot], (hint or llm)[slot])
        for user in range(users)
        for slot in range(4)
    ]
    columns = ["split", "family", "user_id", "item_id", "base_rank", "base_score", "listwise", "hint:bpr"]
    return pd.DataFrame(rows, columns=columns)


def prompt(task: str, items: list, hint: dict) -> dict:
    return {"meta": {"task": task, "split": "test", "user_id": 1, "items": items, "hint": hint}}


TRUTH = pd.DataFrame({"user_id": range(5), "item_id": 13})


def test_zero_weights_give_back_the_base_ranking():
    table = lists(5, [0.9, 0.1, 0.5, 0.7])
    ranks = rank_within_user(table, fusion.fusion_score(table, {"listwise": 0.0}))
    assert ranks.tolist() == (table["base_rank"] + 1).tolist()


def test_tuning_takes_an_informative_score_and_leaves_a_misleading_one_out():
    helpful = lists(5, [0.1, 0.2, 0.3, 0.9])  # the LLM puts the target first
    weights, value = fusion.tune(helpful, ["listwise"], TRUTH)
    assert weights["listwise"] > 0 and value == 1.0
    misleading = lists(5, [0.9, 0.8, 0.7, 0.1])  # it agrees with the base, more strongly
    weights, value = fusion.tune(misleading, ["listwise"], TRUTH)
    assert weights == {"listwise": 0.0} and value == 0.0  # still fourth, as the base has it


def test_target_ranks_agree_with_the_rankings_and_break_ties_by_base_rank():
    rng = np.random.default_rng(0)
    table = lists(5, [0.0] * 4).assign(listwise=rng.integers(0, 3, 20).astype(float))
    target = (table["item_id"] == 13).to_numpy()
    groups = table.groupby(fusion.KEYS).ngroup().to_numpy()
    fast = fusion.target_ranks(groups, table["listwise"].to_numpy(), table["base_rank"].to_numpy(), target)
    assert fast.tolist() == rank_within_user(table, table["listwise"])[target].tolist()


def test_standardised_scores_are_per_user_and_missing_ones_count_as_the_mean():
    table = lists(2, [1.0, 2.0, 3.0, np.nan])
    table.loc[table["user_id"] == 1, "listwise"] *= 100
    z = fusion.standardised(table, ["listwise"])["listwise"]
    assert z[table["user_id"] == 0].tolist() == pytest.approx(z[table["user_id"] == 1].tolist())
    assert z.iloc[3] == 0.0


def test_the_control_fuses_the_hints_the_prompts_showed_and_not_the_base_models_own():
    prompts = [
        prompt("pointwise", [5], {"biasedmf": [4.5]}),
        prompt("pairwise", [6, 5], {"bpr": [0.2, 0.9]}),
        prompt("listwise", [5, 6], {"bpr": [1, 0]}),  # positions, not scores: not read
        prompt("pairwise", [5, 6], {"implicitmf": [1, 2]}),
    ]
    shown = fusion.shown_hints(prompts)
    assert shown.set_index(["item_id", "model"])["score"].to_dict() == {
        (5, "biasedmf"): 4.5,
        (6, "bpr"): 0.2,
        (5, "bpr"): 0.9,
        (5, "implicitmf"): 1,
        (6, "implicitmf"): 2,
    }
    table = pd.DataFrame(
        {"split": "test", "family": "tuned", "user_id": 1, "item_id": [5, 6], "listwise": 0.5}
    )
    table = fusion.with_hints(table, shown, primary="implicitmf")
    assert fusion.hint_columns(table) == ["hint:biasedmf", "hint:bpr"]
    assert fusion.fusion_methods(table, ("pointwise", "listwise")) == {
        "fusion": ("tuned", ["listwise"]),
        fusion.CONTROL: ("tuned", ["hint:biasedmf", "hint:bpr"]),
    }


def test_the_judged_method_is_the_best_llm_method_on_validation():
    ndcg = {"base:ease": 0.9, fusion.CONTROL: 0.8, "listwise": 0.3, "fusion": 0.5, "zeroshot:fusion": 0.4}
    assert select(ndcg) == "fusion"
    assert select({"base:ease": 0.9}) is None


def test_the_judged_method_is_compared_with_its_rivals_on_the_same_resamples():
    users = range(40)
    rng = np.random.default_rng(1)
    rankings = pd.DataFrame(
        [
            (u, m, 100 + u, int(r))
            for u in users
            for m, r in (("a", rng.integers(1, 5)), ("b", rng.integers(1, 5)), ("c", 2))
        ],
        columns=["user_id", "method", "item_id", "rank"],
    )
    truth = pd.DataFrame({"user_id": users, "item_id": [100 + u for u in users]})
    config = EvaluationConfig(ks=(3,), bootstrap_samples=200)
    per_user = per_user_metrics(rankings, truth, config.ks)
    deltas = paired_deltas(per_user, config, 7, "a", ("b", "c", "missing"))
    assert set(deltas) == {"b", "c"}
    assert deltas["c"] == summarize(per_user, config, 7, reference="c")["a"]["delta"]
    assert (
        deltas["b"]["NDCG@3"]["ci_low"] <= deltas["b"]["NDCG@3"]["value"] <= deltas["b"]["NDCG@3"]["ci_high"]
    )
