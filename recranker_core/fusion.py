"""Score fusion with weights chosen on validation users: ``fusion`` and the ``control:hints`` it must beat.

``fusion`` ranks a user's candidates by the base model's standardised score plus lambda_t times each
LLM task's standardised score. ``control:hints`` does the same with the scores of the hint models the
prompts showed, and no LLM: an LLM method that beats the base but not this control has only passed
on what its hints said. Scores are standardised within each user's list (z-scores), so one lambda
suits every user; a missing score counts as the user's mean. Every lambda = 0 gives back the base
ranking. The weights maximise mean NDCG@3 over the validation rerank users whose validation item is
listed; ties go to the earlier grid point, so to the smaller weights.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from recranker_core.evaluation import ndcg_at
from recranker_core.methods import Method, scored

GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
"""The lambdas tried for each fused score."""
TUNE_K = 3
"""NDCG@k that the weights (and the selected method) are chosen by: the deciding metric's k."""
KEYS = ["split", "family", "user_id"]
VALIDATION_NDCG = f"validation_ndcg@{TUNE_K}"
CONTROL = str(Method("control", "hints"))
BASE = "base_score"
HINT = "hint:"
"""Prefix of the task-score table's columns that hold a hint model's score."""


def shown_hints(prompts: list[dict]) -> pd.DataFrame:
    """split, user_id, item_id, model, score: what each hint model scored each candidate, as the rerank
    prompts showed it (pointwise: the rating hint; pairwise: the pair's scores)."""
    rows = [
        (meta["split"], meta["user_id"], item, model, value)
        for meta in (p["meta"] for p in prompts)
        if meta["task"] in ("pointwise", "pairwise")
        for model, values in meta.get("hint", {}).items()
        for item, value in zip(meta["items"], values)
        if value is not None
    ]
    table = pd.DataFrame(rows, columns=["split", "user_id", "item_id", "model", "score"])
    return table.drop_duplicates(["split", "user_id", "item_id", "model"])


def with_hints(table: pd.DataFrame, hints: pd.DataFrame, primary: str) -> pd.DataFrame:
    """The task-score table with a ``hint:<model>`` column per hint model other than the base model."""
    hints = hints[hints["model"] != primary]
    if hints.empty:
        return table
    wide = hints.pivot_table(index=["split", "user_id", "item_id"], columns="model", values="score")
    wide = wide.add_prefix(HINT).reset_index().rename_axis(columns=None)
    return table.merge(wide, on=["split", "user_id", "item_id"], how="left")


def hint_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith(HINT)]


def standardised(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Each column as z-scores within each user's list; missing (or constant) scores give 0."""
    groups = table.groupby(KEYS)[columns]
    z = (table[columns] - groups.transform("mean")) / groups.transform("std", ddof=0)
    return z.fillna(0.0)


def fused(z: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    return z[BASE] + sum((w * z[c] for c, w in weights.items()), start=0.0)


def tune(table: pd.DataFrame, columns: list[str], truth: pd.DataFrame) -> tuple[dict[str, float], float]:
    """The grid point of lambdas (one per column) with the best mean NDCG@TUNE_K over the users in
    ``table`` (validation rows) whose item in ``truth`` (user_id, item_id) is listed; and that NDCG."""
    table = table.reset_index(drop=True)
    z = standardised(table, [BASE, *columns]).to_numpy()
    marked = table.merge(truth.assign(_target=1), on=["user_id", "item_id"], how="left")
    target = marked["_target"].notna().to_numpy()
    groups = table.groupby(KEYS, sort=False).ngroup().to_numpy()
    base_rank = table["base_rank"].to_numpy()
    best, best_ndcg = (0.0,) * len(columns), -1.0
    for weights in itertools.product(GRID, repeat=len(columns)):
        score = z[:, 0] + z[:, 1:] @ np.asarray(weights)
        ranks = target_ranks(groups, score, base_rank, target)
        value = float(ndcg_at(ranks, TUNE_K).mean()) if len(ranks) else 0.0
        if value > best_ndcg + 1e-12:
            best, best_ndcg = weights, value
    return dict(zip(columns, best)), round(float(best_ndcg), 6)


def target_ranks(
    groups: np.ndarray, score: np.ndarray, base_rank: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """The 1-based rank of each group's target row by descending score, ties by base rank (groups
    without a target are left out)."""
    rows = np.flatnonzero(target)
    if not len(rows):
        return np.array([])
    at = np.full(groups.max() + 1, -1)
    at[groups[rows]] = rows
    inside = at[groups] >= 0
    mine = at[groups[inside]]
    s, b = score[inside], base_rank[inside]
    ahead = (s > score[mine]) | ((s == score[mine]) & (b < base_rank[mine]))
    return 1 + np.bincount(groups[inside], weights=ahead, minlength=len(at))[groups[rows]]


def fusion_methods(table: pd.DataFrame, tasks: tuple[str, ...]) -> dict[str, tuple[str, list[str]]]:
    """method -> (family, the columns it fuses with the base score): ``fusion`` (and
    ``zeroshot:fusion``) over the LLM tasks the family scored; ``control:hints`` over the hint columns."""
    methods = {}
    for family, rows in table.groupby("family", sort=False):
        columns = [t for t in tasks if t in rows and rows[t].notna().any()]
        if columns:
            methods[scored(family, "fusion")] = (family, columns)
    if hint_columns(table) and "tuned" in set(table["family"]):
        methods[CONTROL] = ("tuned", hint_columns(table))
    return methods


def fusion_score(rows: pd.DataFrame, weights: dict[str, float]) -> pd.Series:
    """The fused score of one family's rows with the given lambdas."""
    z = standardised(rows, [BASE, *weights])
    return fused(z, weights).set_axis(rows.index)
