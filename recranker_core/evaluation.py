"""HR@k and NDCG@k with one held-out item per user, and bootstrap confidence intervals.

Every test user counts for every method: a user whose test item is not in a
method's list (for a reranker: not among the base model's candidates) scores 0.
With one relevant item at rank r, HR@k = [r <= k] and NDCG@k = [r <= k] / log2(r + 1)
(the ideal DCG is 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recranker_core.config import EvaluationConfig


def metric_names(ks: tuple[int, ...]) -> list[str]:
    return [f"{name}@{k}" for k in ks for name in ("HR", "NDCG")]


def per_user_metrics(rankings: pd.DataFrame, truth: pd.DataFrame, ks: tuple[int, ...]) -> pd.DataFrame:
    """One row per (method, test user): the test item's rank (NaN if absent) and each metric.

    rankings: user_id, method, item_id, rank; truth: user_id, item_id (one row per test user).
    """
    methods = rankings["method"].unique()
    grid = pd.MultiIndex.from_product([methods, truth["user_id"]], names=["method", "user_id"]).to_frame(index=False)
    hits = rankings.merge(truth, on=["user_id", "item_id"])[["method", "user_id", "rank"]]
    table = grid.merge(hits, on=["method", "user_id"], how="left")
    rank = table["rank"].to_numpy(dtype=float)
    for k in ks:
        inside = rank <= k  # NaN compares False: a missing test item is a miss
        table[f"HR@{k}"] = inside.astype(float)
        table[f"NDCG@{k}"] = np.where(inside, 1.0 / np.log2(np.where(inside, rank, 1.0) + 1.0), 0.0)
    table["listed"] = ~np.isnan(rank)
    return table


def summarize(per_user: pd.DataFrame, config: EvaluationConfig, seed: int) -> dict[str, dict]:
    """method -> {users, coverage, metrics: {name: {value, ci_low, ci_high}}}.

    Percentile bootstrap over test users; every method is resampled with the
    same draws, so differences between methods are paired.
    """
    names = metric_names(config.ks)
    users = np.sort(per_user["user_id"].unique())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(users), size=(config.bootstrap_samples, len(users)))
    alpha = (1.0 - config.ci_level) / 2.0
    result: dict[str, dict] = {}
    for method, rows in per_user.groupby("method", sort=False):
        rows = rows.set_index("user_id").loc[users]
        values = rows[names].to_numpy()
        boot = values[draws].mean(axis=1)  # (samples, metrics)
        low, high = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
        result[str(method)] = {
            "users": len(users),
            "coverage": round(float(rows["listed"].mean()), 6),
            "metrics": {
                name: {
                    "value": round(float(values[:, j].mean()), 6),
                    "ci_low": round(float(low[j]), 6),
                    "ci_high": round(float(high[j]), 6),
                }
                for j, name in enumerate(names)
            },
        }
    return result


def metrics_document(rankings: pd.DataFrame, truth: pd.DataFrame, config: EvaluationConfig, seed: int) -> dict:
    """The content of ``metrics.json``."""
    per_user = per_user_metrics(rankings, truth, config.ks)
    return {
        "test_users": int(truth["user_id"].nunique()),
        "ks": list(config.ks),
        "ci_level": config.ci_level,
        "bootstrap_samples": config.bootstrap_samples,
        "methods": summarize(per_user, config, seed),
    }
