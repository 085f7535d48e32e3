"""The answer at a glance: one sentence from metrics.json, and the run's leading measured findings, all
computed from the run's files (never written by hand)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from recranker_core.analysis import bias
from recranker_core.fusion import CONTROL
from recranker_core.methods import Method

METRIC = "NDCG@3"
"""The metric the verdict judges (the one the judged method was chosen by on validation users)."""
POPULARITY = "arp@5"
"""The beyond-accuracy metric that answers "does the LLM push popular items?"."""


def judged_method(metrics: dict[str, Any], methods) -> str | None:
    """The method every view judges: metrics.json's ``selected`` (chosen on validation users); for runs
    without one, the hybrid, else the listwise task, else any LLM method in ``methods``."""
    selected = metrics.get("selected", {}).get("method")
    if selected in methods:
        return selected
    llm = [m for m in methods if Method.parse(m).family == "tuned"]
    return next((m for m in ("hybrid", "listwise") if m in llm), llm[0] if llm else None)


def default_methods(metrics: dict[str, Any]) -> list[str]:
    """The short set every page shows first: the reference, the judged method, the no-LLM control, the
    three tasks and the hybrid (those the run has); the rest wait behind a toggle. Runs without LLM methods
    show every base model."""
    have = metrics.get("methods", {})
    judged = judged_method(metrics, set(have))
    if judged is None:  # the base models alone: all of them
        return list(have)
    wanted = [metrics.get("reference"), judged, CONTROL, "pointwise", "pairwise", "listwise", "hybrid"]
    return list(dict.fromkeys(m for m in wanted if m in have))


def answer(difference: dict[str, float]) -> str:
    """ "Yes" when the paired interval lies above 0, "No" when the difference is not positive, else
    "Not decided" (a positive difference its interval cannot tell from 0)."""
    if difference["ci_low"] > 0:
        return "Yes"
    return "No" if difference["value"] <= 0 else "Not decided"


def sentence(metrics: dict[str, Any]) -> str | None:
    """Does the judged method beat the base model it reranks? None for runs without a judged method."""
    selected = metrics.get("selected")
    reference = metrics.get("reference")
    if not selected or reference not in selected.get("against", {}):
        return None
    method, against, level = selected["method"], selected["against"], round(100 * metrics["ci_level"])
    verdict = answer(against[reference][METRIC])
    verb = {"Yes": "beats", "No": "does not beat", "Not decided": "is not shown to beat"}[verdict]
    text = (
        f"{verdict}: {method} {verb} {reference} on {METRIC}: paired difference "
        f"{_difference(against[reference][METRIC], level)} over {metrics['test_users']:,} test users"
    )
    if CONTROL in against:
        text += f"; against the no-LLM control {CONTROL}, {_difference(against[CONTROL][METRIC], level)}"
    return text + "."


def _difference(d: dict[str, float], level: int) -> str:
    return f"{d['value']:+.3f} ({level}% CI {d['ci_low']:+.3f} to {d['ci_high']:+.3f})"


def findings(
    metrics: dict[str, Any], outputs: pd.DataFrame, scores: pd.DataFrame, rankings: pd.DataFrame
) -> list[str]:
    """The run's leading measured findings on its test prompts (llm_outputs.parquet, task_scores.parquet,
    rankings.parquet): how often the tuned listwise model picks the first-shown candidate, how often its
    pairwise answers agree across the two orders, how often the judged method's top item is the hint's and
    the base model's top item, and whether it pushes popular items."""
    test = outputs[(outputs["split"] == "test") & (outputs["family"] == "tuned")]
    out = []
    picks = bias.top_pick_positions(test)
    if len(picks):
        first = picks[picks["position"] == 1]
        share = float(first["share"].sum()) if len(first) else 0.0
        prompts, n = int(picks["prompts"].sum()), int(picks["n"].max())
        out.append(
            f"The tuned listwise model puts the first-shown candidate on top in {share:.0%} of {prompts:,} "
            f"prompts (chance {1 / n:.0%})."
        )
    pairs = bias.pair_orders(test)
    if len(pairs):
        out.append(
            f"Its pairwise answers pick the same item in both orders for {pairs['agree'].mean():.0%} of "
            f"{len(pairs):,} pairs."
        )
    method = metrics.get("selected", {}).get("method")
    if method:
        out += _top_items(metrics, method, scores[scores["split"] == "test"], rankings)
        popular = _popularity(metrics, method)
        if popular:
            out.append(popular)
    return out


def _top_items(
    metrics: dict[str, Any], method: str, scores: pd.DataFrame, rankings: pd.DataFrame
) -> list[str]:
    tops = rankings[rankings["rank"] == 1].pivot_table(
        index="user_id", columns="method", values="item_id", aggfunc="first"
    )
    if method not in tops:
        return []
    judged = tops[method].dropna()
    compared = {f"the base model {metrics['reference']}'s": tops.get(metrics["reference"])}
    hints = [c for c in scores.columns if c.startswith("hint:")]
    if hints:
        tuned = scores[scores["family"] == "tuned"]
        best = tuned.loc[tuned.groupby("user_id")[hints[0]].idxmax(), ["user_id", "item_id"]]
        compared[f"the hint model {hints[0].removeprefix('hint:')}'s"] = best.set_index("user_id")["item_id"]
    parts = [
        f"{name} for {(judged == other.reindex(judged.index)).mean():.0%}"
        for name, other in compared.items()
        if other is not None
    ]
    return [f"{method}'s top item is " + " and ".join(parts) + f" of {len(judged):,} reranked users."]


def _popularity(metrics: dict[str, Any], method: str) -> str | None:
    entry = metrics.get("beyond", {}).get(method, {}).get(POPULARITY)
    if not entry or "delta" not in entry:
        return None
    d = entry["delta"]
    push = (
        "pushes more popular items"
        if d["ci_low"] > 0
        else "pushes less popular items"
        if d["ci_high"] < 0
        else ("does not push more popular items")
    )
    return (
        f"It {push} than {metrics['reference']}: {POPULARITY} (mean popularity of the top 5) differs by "
        f"{_difference(d, round(100 * metrics['ci_level']))} over the {entry['users']:,} users it reranks."
    )
