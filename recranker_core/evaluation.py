"""HR@k and NDCG@k with one held-out item per user, and bootstrap confidence intervals.

Every test user counts for every method: a user whose test item is not in a
method's list (for a reranker: not among the base model's candidates) scores 0.
With one relevant item at rank r, HR@k = [r <= k] and NDCG@k = [r <= k] / log2(r + 1)
(the ideal DCG is 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recranker_core import memory
from recranker_core.config import EvaluationConfig

BLOCK_VALUES = 1 << 24
"""Values of resampled per-user metrics held at once (128 MiB of float64) while the intervals are computed."""


def metric_names(ks: tuple[int, ...]) -> list[str]:
    return [f"{name}@{k}" for k in ks for name in ("HR", "NDCG")]


def ndcg_at(ranks, k: int) -> np.ndarray:
    """NDCG@k of one relevant item at each of ``ranks`` (1 is the top; NaN, absent, or past k scores 0)."""
    ranks = np.asarray(ranks, dtype=float)
    inside = ranks <= k  # NaN compares False
    return np.where(inside, 1.0 / np.log2(np.where(inside, ranks, 1.0) + 1.0), 0.0)


def per_user_metrics(rankings: pd.DataFrame, truth: pd.DataFrame, ks: tuple[int, ...]) -> pd.DataFrame:
    """One row per (method, test user): the test item's rank (NaN if absent) and each metric.

    rankings: user_id, method, item_id, rank; truth: user_id, item_id (one row per test user).
    """
    methods = rankings["method"].unique()
    grid = pd.MultiIndex.from_product([methods, truth["user_id"]], names=["method", "user_id"]).to_frame(
        index=False
    )
    hits = rankings.merge(truth, on=["user_id", "item_id"])[["method", "user_id", "rank"]]
    table = grid.merge(hits, on=["method", "user_id"], how="left")
    rank = table["rank"].to_numpy(dtype=float)
    for k in ks:
        table[f"HR@{k}"] = (rank <= k).astype(float)  # NaN compares False: a missing test item is a miss
        table[f"NDCG@{k}"] = ndcg_at(rank, k)
    table["listed"] = ~np.isnan(rank)
    return table


def summarize(
    per_user: pd.DataFrame, config: EvaluationConfig, seed: int, reference: str | None = None
) -> dict[str, dict]:
    """method -> {users, coverage, metrics: {name: {value, ci_low, ci_high}}, delta (against ``reference``)}.

    Percentile bootstrap over test users; every method is resampled with the same draws, so that
    ``delta``, each method's difference from the reference method on the same users, is paired:
    {name: {value, ci_low, ci_high, p_value}}, with a two-sided bootstrap p-value.
    """
    names = metric_names(config.ks)
    users = np.sort(per_user["user_id"].unique())
    draws = resamples(len(users), config, seed)
    values = {
        str(method): rows.set_index("user_id").loc[users]
        for method, rows in per_user.groupby("method", sort=False)
    }
    result: dict[str, dict] = {}
    for method, rows in values.items():
        matrix = rows[names].to_numpy()
        result[method] = {
            "users": len(users),
            "coverage": round(float(rows["listed"].mean()), 6),
            "metrics": _intervals(matrix, draws, names, config.ci_level),
        }
        if reference in values and method != reference:
            difference = matrix - values[reference][names].to_numpy()
            result[method]["delta"] = _intervals(difference, draws, names, config.ci_level, p_values=True)
    return result


def _intervals(
    matrix: np.ndarray, draws: np.ndarray, names: list[str], level: float, p_values: bool = False
) -> dict:
    """Per metric (column of ``matrix``, one row per user): mean and percentile-bootstrap interval."""
    # (samples, metrics), a block of resamples at a time: matrix[draws] whole is samples x users x metrics.
    block = max(1, BLOCK_VALUES // max(1, matrix.size))
    boot = np.concatenate([matrix[draws[i : i + block]].mean(axis=1) for i in range(0, len(draws), block)])
    means = matrix.mean(axis=0)
    return {name: interval(float(means[j]), boot[:, j], level, p_values) for j, name in enumerate(names)}


def interval(value: float, boot: np.ndarray, level: float, p_value: bool = False) -> dict[str, float]:
    """{value, ci_low, ci_high} of a statistic and its bootstrap resamples ``boot``; with ``p_value`` (for a
    paired difference) also twice the smaller tail of the resamples beyond 0, (k + 1) / (B + 1) keeping it
    above 0."""
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    out = {"value": round(value, 6), "ci_low": round(float(low), 6), "ci_high": round(float(high), 6)}
    if p_value:
        tail = min((boot <= 0).sum(), (boot >= 0).sum())
        out["p_value"] = round(min(1.0, 2 * (tail + 1) / (len(boot) + 1)), 6)
    return out


def resamples(users: int, config: EvaluationConfig, seed: int) -> np.ndarray:
    """The bootstrap's draws of user positions (samples x users), the same for every method of a run."""
    memory.require(
        config.bootstrap_samples * users * 8,
        f"evaluation.bootstrap_samples = {config.bootstrap_samples} over {users:,} users",
        "use fewer resamples",
    )
    return np.random.default_rng(seed).integers(0, users, size=(config.bootstrap_samples, users))


def metrics_document(
    rankings: pd.DataFrame,
    truth: pd.DataFrame,
    config: EvaluationConfig,
    seed: int,
    reference: str | None = None,
    selected: str | None = None,
    rivals: tuple[str, ...] = (),
) -> dict:
    """The content of ``metrics.json``; ``reference`` names the method every other one is compared with,
    and ``selected`` (chosen before test was read) is also compared with each of ``rivals`` it has."""
    per_user = per_user_metrics(rankings, truth, config.ks)
    document = {
        "test_users": int(truth["user_id"].nunique()),
        "ks": list(config.ks),
        "ci_level": config.ci_level,
        "bootstrap_samples": config.bootstrap_samples,
        "reference": reference,
        "methods": summarize(per_user, config, seed, reference),
    }
    if selected in document["methods"]:
        document["selected"] = {
            "method": selected,
            "against": paired_deltas(per_user, config, seed, selected, rivals),
        }
    return document


def paired_deltas(
    per_user: pd.DataFrame, config: EvaluationConfig, seed: int, method: str, rivals: tuple[str, ...]
) -> dict[str, dict]:
    """``method`` minus each rival that ``per_user`` holds, on the same users and the same resamples as
    :func:`summarize` draws (same seed, same users)."""
    present = set(per_user["method"])
    return {
        rival: summarize(per_user[per_user["method"].isin([method, rival])], config, seed, rival)[method][
            "delta"
        ]
        for rival in rivals
        if rival in present and rival != method
    }


def across_seeds(documents: list[dict], seeds: list[int]) -> dict:
    """Each method's mean and standard deviation across the metrics.json documents of the same run made
    with different ``seeds`` (one document each), over the documents that hold the method."""
    methods: dict[str, dict] = {}
    for method in documents[0]["methods"]:
        runs = [d["methods"][method]["metrics"] for d in documents if method in d["methods"]]
        methods[method] = {
            name: {
                "mean": round(float(np.mean(values)), 6),
                "std": round(float(np.std(values, ddof=1)), 6) if len(values) > 1 else None,
                "values": values,
            }
            for name in runs[0]
            for values in [[r[name]["value"] for r in runs]]
        }
    return {"seeds": seeds, "methods": methods}
