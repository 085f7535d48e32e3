"""From per-prompt label probabilities to per-candidate task scores, rankings and the hybrid.

* pointwise: expected rating under the label distribution over the rating scale;
* pairwise: mean P(candidate preferred) over the comparisons it was in (each pair is asked in both
  orders; a candidate in no pair gets 0.5);
* listwise: the probability of the candidate's label as the first answer, averaged over the
  copies (test-time bootstrap).

Hybrid (RecRanker, with 0-based positions): pointwise + a2 * (10 - base_rank)
+ a1 * pairwise + a3 * max(0, 5 - listwise_position). Ties are always broken by
the base model's rank.

The official code's rows read the greedy answers (the most likely label, as its text parsing does)
and add the base rank as a prior: ``pointwise+prior`` = rating + a2 * (10 - base_rank);
``pairwise+prior`` = (10 - base_rank) + W * wins, where a pair's win goes to the candidate both
orders name (half each when they disagree) and W outweighs any difference of base ranks (the
official W is 200 x the user's id), so wins come first and the base rank breaks ties.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recranker_core import fusion, methods
from recranker_core.evaluation import ndcg_at, per_user_metrics
from recranker_core.methods import Method

GRID = {
    "a1": (0.0, 0.25, 0.5, 1.0, 2.0),
    "a2": (0.0, 0.025, 0.05, 0.1, 0.2, 0.4),
    "a3": (0.0, 0.025, 0.05, 0.1, 0.2),
}
HYBRID_K = 5
"""NDCG@k that the hybrid's weights are tuned by, as the official code tunes them (the judged method and
the fusions are chosen by ``fusion.TUNE_K``)."""
HYBRID_NDCG = f"ndcg@{HYBRID_K}"
"""The key of each hybrid grid point's validation NDCG in hybrid.json."""
TASKS = ("pointwise", "pairwise", "listwise")
GREEDY = ("pointwise_greedy", "pairwise_greedy")
"""The greedy readings behind the official rows: the most likely rating; the share of comparisons won."""


def task_scores(outputs: pd.DataFrame, candidates: pd.DataFrame, scale: tuple[int, int]) -> pd.DataFrame:
    """outputs: split, family, user_id, task, items, probs (one row per prompt);
    candidates: split, user_id, item_id, base_rank (0-based).
    Returns one row per (split, family, user, candidate): base_rank, a column per task and the GREEDY ones."""
    ratings = np.arange(scale[0], scale[1] + 1, dtype=float)
    rows = []
    for key, task, items, probs in zip(
        zip(outputs["split"], outputs["family"], outputs["user_id"]),
        outputs["task"],
        outputs["items"],
        outputs["probs"],
    ):
        probs = np.asarray(probs, dtype=float)
        if task == "pointwise":
            rows += [
                (*key, items[0], task, float(probs @ ratings)),
                (*key, items[0], "pointwise_greedy", ratings[np.argmax(probs)]),
            ]
        elif task == "pairwise":
            first = 0.5 if probs[0] == probs[1] else float(probs[0] > probs[1])
            rows += [(*key, items[0], task, probs[0]), (*key, items[1], task, probs[1])]
            rows += [
                (*key, items[0], "pairwise_greedy", first),
                (*key, items[1], "pairwise_greedy", 1.0 - first),
            ]
        else:
            rows += [(*key, item, task, p) for item, p in zip(items, probs)]
    long = pd.DataFrame(rows, columns=["split", "family", "user_id", "item_id", "task", "score"])
    # The mean over a candidate's prompts: its comparisons (pairwise) or copies (listwise).
    wide = long.pivot_table(
        index=["split", "family", "user_id", "item_id"], columns="task", values="score", aggfunc="mean"
    )
    wide = wide.reset_index().rename_axis(columns=None)
    families = wide[["split", "family", "user_id"]].drop_duplicates()
    table = families.merge(candidates, on=["split", "user_id"]).merge(
        wide, on=["split", "family", "user_id", "item_id"], how="left"
    )
    for task in (*TASKS, *GREEDY):
        if task not in table:
            table[task] = np.nan
    for column in (
        "pairwise",
        "pairwise_greedy",
    ):  # a candidate in no asked pair of its user: no evidence either way
        asked = table.groupby(["split", "family", "user_id"])[column].transform("count") > 0
        table.loc[asked, column] = table.loc[asked, column].fillna(0.5)
    return table.sort_values(["split", "family", "user_id", "base_rank"], kind="stable").reset_index(
        drop=True
    )


def rank_within_user(table: pd.DataFrame, score: pd.Series) -> pd.Series:
    """1-based rank by descending score; ties (and missing scores) by base rank."""
    keyed = table.assign(_score=score.fillna(-np.inf).to_numpy())
    keyed = keyed.sort_values(
        ["split", "family", "user_id", "_score", "base_rank"],
        ascending=[True, True, True, False, True],
        kind="stable",
    )
    ranks = keyed.groupby(["split", "family", "user_id"]).cumcount() + 1
    return ranks.reindex(table.index)


def hybrid_score(table: pd.DataFrame, weights: tuple[float, ...], pointwise: float = 1.0) -> pd.Series:
    """weights = (a1, a2, a3); ``pointwise`` scales the expected rating (the paper fixes it at 1)."""
    a1, a2, a3 = weights
    listwise_position = rank_within_user(table, table["listwise"]) - 1
    return (
        pointwise * table["pointwise"].fillna(0.0)
        + a2 * (10 - table["base_rank"])
        + a1 * table["pairwise"].fillna(0.5)
        + a3 * np.maximum(0, 5 - listwise_position)
    )


def method_rankings(
    table: pd.DataFrame, paper_weights: tuple[float, ...], tuned_weights: tuple[float, ...]
) -> pd.DataFrame:
    """rankings rows (split, user_id, method, item_id, rank) for every LLM method in ``table``."""
    frames = []
    for family, rows in table.groupby("family", sort=False):
        for task in TASKS:
            if rows[task].notna().any():
                frames.append(_ranked(rows, rows[task], methods.scored(family, task)))
        if rows["pointwise_greedy"].notna().any():
            prior = rows["pointwise_greedy"] + paper_weights[1] * (10 - rows["base_rank"])
            frames.append(_ranked(rows, prior, methods.scored(family, "pointwise" + methods.PRIOR)))
        if rows["pairwise_greedy"].notna().any():
            # Ties (pairs the two orders disagree on) go by base rank.
            name = methods.scored(family, "pairwise" + methods.PRIOR)
            frames.append(_ranked(rows, rows["pairwise_greedy"], name))
        if family == "tuned":
            frames.append(_ranked(rows, hybrid_score(rows, paper_weights), "hybrid"))
            frames.append(_ranked(rows, hybrid_score(rows, tuned_weights), "hybrid-tuned"))
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["split", "user_id", "method", "item_id", "rank"])
    )


def fusion_rankings(table: pd.DataFrame, fused: dict[str, dict]) -> list[pd.DataFrame]:
    """The rankings of each fusion method (``fusion``, ``zeroshot:fusion``, ``control:hints``) the task-score
    ``table`` can score, with the lambdas ``fused`` holds for it (hybrid.json's ``fusion``)."""
    frames = []
    for method, (family, _) in fusion.fusion_methods(table, TASKS).items():
        weights = fused.get(method, {}).get("weights")
        if weights is not None and set(weights) <= set(table.columns):
            rows = table[table["family"] == family]
            frames.append(_ranked(rows, fusion.fusion_score(rows, weights), method))
    return frames


def _ranked(rows: pd.DataFrame, score: pd.Series, method: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "split": rows["split"].to_numpy(),
            "user_id": rows["user_id"].to_numpy(),
            "method": method,
            "item_id": rows["item_id"].to_numpy(),
            "rank": rank_within_user(rows, score).to_numpy(),
        }
    )


def tune_weights(table: pd.DataFrame, truth: pd.DataFrame) -> tuple[tuple[float, float, float], list[dict]]:
    """Grid search of (a1, a2, a3) by mean NDCG@HYBRID_K over the validation users (every user in ``table``).

    table: one family's validation rows; truth: user_id, item_id (the validation items).
    """
    target = table.merge(truth.assign(_target=1), on=["user_id", "item_id"], how="left")["_target"].notna()
    results = []
    for a1, a2, a3 in itertools.product(GRID["a1"], GRID["a2"], GRID["a3"]):
        ranks = rank_within_user(table, hybrid_score(table, (a1, a2, a3)))[target.to_numpy()]
        ndcg = ndcg_at(ranks, HYBRID_K).mean() if len(ranks) else 0.0
        results.append({"a1": a1, "a2": a2, "a3": a3, HYBRID_NDCG: round(float(ndcg), 6)})
    best = max(results, key=lambda r: r[HYBRID_NDCG])  # first best in grid order on ties
    return (best["a1"], best["a2"], best["a3"]), results


def pairwise_accuracy(rankings: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Per method: how often the target outranks each other candidate, over users whose target is listed."""
    sizes = rankings.groupby(["method", "user_id"]).size().rename("n").reset_index()
    hits = rankings.merge(truth, on=["user_id", "item_id"]).merge(sizes, on=["method", "user_id"])
    return ((hits["n"] - hits["rank"]) / (hits["n"] - 1)).groupby(hits["method"]).mean()


@dataclass(frozen=True)
class Reranked:
    table: pd.DataFrame
    """Task scores per (split, family, user, candidate), from :func:`task_scores`."""
    rankings: pd.DataFrame
    """split, user_id, method, item_id, rank for every LLM method."""
    tuned_weights: tuple[float, ...]
    grid: list[dict]
    """Every grid point with its validation NDCG@HYBRID_K."""
    accuracy: pd.Series
    """Validation pairwise accuracy per method, base models included."""
    validation_users: int
    fused: dict[str, dict]
    """Per fusion method (``fusion``, ``zeroshot:fusion``, ``control:hints``): its lambdas and their
    validation NDCG@3."""
    validation_ndcg: dict[str, float]
    """Validation NDCG@3 of every reranking method, base models included."""
    selected: str | None
    """The LLM method with the best validation NDCG@3: the one judged on test."""


def rank_outputs(
    outputs: pd.DataFrame,
    candidates: pd.DataFrame,
    valid_truth: pd.DataFrame,
    primary: str,
    paper_weights: tuple[float, ...],
    scale: tuple[int, int],
    hints: pd.DataFrame | None = None,
) -> Reranked:
    """Per-prompt outputs and the baselines' candidates -> task scores, tuned hybrid and fusions,
    rankings, validation accuracy and NDCG, and the selected LLM method.

    candidates: candidates.parquet (target valid/test, model, user_id, item_id, rank, score);
    valid_truth: user_id, item_id of the validation items; hints: the hint models' scores the prompts
    showed (``fusion.shown_hints``), for ``control:hints``.
    """
    lists = candidates[candidates["model"] == primary]
    lists = lists.assign(
        split=lists["target"].map({"test": "test", "valid": "valid-rerank"}),
        base_rank=lists["rank"] - 1,
        base_score=lists["score"],
    )
    table = task_scores(outputs, lists[["split", "user_id", "item_id", "base_rank", "base_score"]], scale)
    if hints is not None:
        table = fusion.with_hints(table, hints, primary)
    valid = table[table["split"] == "valid-rerank"]
    valid_tuned = valid[valid["family"] == "tuned"]
    tuned, grid = tune_weights(valid_tuned, valid_truth) if len(valid_tuned) else (paper_weights, [])
    fused = {}
    for method, (family, columns) in fusion.fusion_methods(table, TASKS).items():
        weights, value = fusion.tune(valid[valid["family"] == family], columns, valid_truth)
        fused[method] = {"weights": weights, fusion.VALIDATION_NDCG: value}
    ranked = pd.concat(
        [method_rankings(table, paper_weights, tuned), *fusion_rankings(table, fused)], ignore_index=True
    )
    valid_ranked = ranked[ranked["split"] == "valid-rerank"]
    users = valid_ranked["user_id"].unique()
    base_valid = candidates[(candidates["target"] == "valid") & candidates["user_id"].isin(users)]
    base_valid = base_valid.assign(method=base_valid["model"].map(methods.base))
    accuracy = pd.concat(
        [pairwise_accuracy(base_valid, valid_truth), pairwise_accuracy(valid_ranked, valid_truth)]
    )
    ndcg = validation_ndcg(
        pd.concat([base_valid, valid_ranked]), valid_truth[valid_truth["user_id"].isin(users)]
    )
    return Reranked(table, ranked, tuned, grid, accuracy, int(len(users)), fused, ndcg, select(ndcg))


def validation_ndcg(rankings: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Mean NDCG@TUNE_K per method over the validation users in ``truth`` (a missing item scores 0)."""
    if rankings.empty or truth.empty:
        return {}
    per_user = per_user_metrics(rankings, truth, (fusion.TUNE_K,))
    means = per_user.groupby("method")[f"NDCG@{fusion.TUNE_K}"].mean()
    return {str(method): round(float(value), 6) for method, value in means.items()}


def select(ndcg: dict[str, float]) -> str | None:
    """The LLM method (tuned or zero-shot; not a base model or a control) with the best validation NDCG;
    ties go to the first by name."""
    llm = {m: v for m, v in ndcg.items() if Method.parse(m).llm}
    return max(llm, key=llm.get) if llm else None


def base_rankings(candidates: pd.DataFrame) -> pd.DataFrame:
    """The test candidate lists as rankings of the methods ``base:<model>``."""
    test = candidates[candidates["target"] == "test"]
    return pd.DataFrame(
        {
            "user_id": test["user_id"].to_numpy(),
            "method": test["model"].astype(str).map(methods.base).to_numpy(),
            "item_id": test["item_id"].to_numpy(),
            "rank": test["rank"].to_numpy(),
        }
    )
