"""The verdict sentence and the findings beneath it, computed from a run's files."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from recranker_core.analysis import verdict


def document(value: float, low: float, high: float, control: float = 0.004) -> dict:
    def d(v, lo, hi):
        return {"NDCG@3": {"value": v, "ci_low": lo, "ci_high": hi, "p_value": 0.2}}

    return {
        "test_users": 942,
        "ci_level": 0.95,
        "reference": "base:implicitmf",
        "selected": {
            "method": "fusion",
            "against": {"base:implicitmf": d(value, low, high), "control:hints": d(control, -0.01, 0.02)},
        },
    }


@pytest.mark.parametrize(
    "interval, expected",
    [
        (
            (0.021, 0.004, 0.038),
            "Yes: fusion beats base:implicitmf on NDCG@3: paired difference +0.021 (95% CI +0.004 to +0.038)",
        ),
        (
            (-0.0096, -0.031, 0.012),
            "No: fusion does not beat base:implicitmf on NDCG@3: paired difference -0.010 "
            "(95% CI -0.031 to +0.012)",
        ),
        ((0.006, -0.002, 0.015), "Not decided: fusion is not shown to beat base:implicitmf on NDCG@3"),
        ((-0.02, -0.035, -0.006), "No: fusion does not beat base:implicitmf"),
    ],
)
def test_the_sentence_answers_names_the_difference_the_users_and_the_control(interval, expected):
    text = verdict.sentence(document(*interval))
    assert text.startswith(expected)
    assert (
        "over 942 test users; against the no-LLM control control:hints, +0.004 (95% CI -0.010 to +0.020)."
        in text
    )


def test_runs_without_a_judged_method_have_no_sentence():
    assert verdict.sentence({"test_users": 10, "ci_level": 0.95, "reference": "base:ease"}) is None


def test_findings_are_the_run_s_own_numbers(smoke_run):
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    outputs = pd.read_parquet(smoke_run / "llm_outputs.parquet")
    scores = pd.read_parquet(smoke_run / "task_scores.parquet")
    rankings = pd.read_parquet(smoke_run / "rankings.parquet")
    lines = verdict.findings(metrics, outputs, scores, rankings)
    tuned = outputs[(outputs["split"] == "test") & (outputs["family"] == "tuned")]
    listwise = tuned[tuned["task"] == "listwise"]
    first = np.mean([int(np.argmax(p)) == 0 for p in listwise["probs"]])
    assert f"first-shown candidate on top in {first:.0%} of {len(listwise)} prompts (chance 10%)" in lines[0]
    asked = tuned[tuned["task"] == "pairwise"].assign(
        pair=lambda t: t["variant"].str[:-3], order=lambda t: t["variant"].str[-2:]
    )
    yes = asked.assign(p=asked["probs"].map(lambda p: p[0])).pivot_table(
        index=["user_id", "pair"], columns="order", values="p"
    )
    agree = ((yes["ab"] > 0.5) == (yes["ba"] <= 0.5)).mean()
    assert f"same item in both orders for {agree:.0%} of {len(yes)} pairs" in lines[1]
    method = metrics["selected"]["method"]
    tops = rankings[rankings["rank"] == 1].set_index(["method", "user_id"])["item_id"]
    judged, base = tops[method], tops[metrics["reference"]].reindex(tops[method].index)
    assert (
        f"{method}'s top item is the base model {metrics['reference']}'s for {(judged == base).mean():.0%}"
        in lines[2]
    )
    assert re.search(
        r"It (does not push more|pushes more|pushes less) popular items than base:implicitmf", lines[3]
    )


def test_the_glossary_in_the_docs_is_the_dashboard_s(tmp_path):
    from recranker_core.analysis import glossary
    from tests.conftest import ROOT

    assert glossary.markdown() in (ROOT / "docs" / "dashboard.md").read_text()
    assert glossary.help_for("NDCG@3") == glossary.METRICS["NDCG@k"]
    assert glossary.help_for("Δ arp@5") == glossary.METRICS["arp@k"] and glossary.help_for("method") is None
