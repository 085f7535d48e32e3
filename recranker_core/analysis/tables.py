"""Run documents (manifest.json, metrics.json) -> DataFrames for display."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recranker_core.beyond import NAMES as BEYOND
from recranker_core.errors import InputError
from recranker_core.manifest import Manifest
from recranker_core.methods import Method

HEADLINE = ("HR@3", "NDCG@3", "HR@5", "NDCG@5")
DELTA_FIELDS = ("value", "ci_low", "ci_high", "p_value")
"""What a paired difference holds in metrics.json."""


def method_order(method: str) -> tuple[int, str]:
    """Base models and the no-LLM control first, then zero-shot, then the tuned tasks, hybrids and fusion."""
    family = Method.parse(method).family
    if family != "tuned":
        return ("base", "control", "zeroshot").index(family), method
    tuned = ("pointwise", "pairwise", "listwise", "hybrid", "fusion")
    return next((3 + n for n, start in enumerate(tuned) if method.startswith(start)), 99), method


def metrics_long(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per (method, metric): value, ci_low, ci_high, users."""
    rows = [
        {"method": method, "metric": name, **interval, "users": entry["users"]}
        for method, entry in metrics["methods"].items()
        for name, interval in entry["metrics"].items()
    ]
    table = pd.DataFrame(rows, columns=["method", "metric", "value", "ci_low", "ci_high", "users"])
    return table.sort_values("method", key=lambda s: s.map(method_order), kind="stable").reset_index(
        drop=True
    )


def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per method: each metric's value and its CI as text, plus coverage."""
    long = metrics_long(metrics)
    if long.empty:
        return pd.DataFrame(columns=["method"])
    names = list(dict.fromkeys(long["metric"]))
    wide = long.pivot(index="method", columns="metric", values="value")[names]
    ci = long.assign(ci=lambda t: t["ci_low"].map("{:.3f}".format) + "–" + t["ci_high"].map("{:.3f}".format))
    ci = ci.pivot(index="method", columns="metric", values="ci")[names].add_suffix(" CI")
    table = wide.join(ci)
    table = table[[c for name in names for c in (name, f"{name} CI")]]
    table.insert(0, "coverage", pd.Series({m: e["coverage"] for m, e in metrics["methods"].items()}))
    table = table.rename_axis(columns=None).reset_index()
    return table.sort_values("method", key=lambda s: s.map(method_order), kind="stable").reset_index(
        drop=True
    )


def interval_text(
    rows: pd.DataFrame, value: str = "value", low: str = "ci_low", high: str = "ci_high", signed: bool = False
) -> pd.Series:
    """Each row's ``value`` and interval as one cell: "0.055 (0.025–0.090)"; ``signed`` (a difference):
    "+0.012 (−0.030 to +0.050)"."""
    number = "{:+.3f}" if signed else "{:.3f}"
    between = " to " if signed else "–"
    return (
        rows[value].map(number.format)
        + " ("
        + rows[low].map(number.format)
        + between
        + rows[high].map(number.format)
        + ")"
    )


def metrics_compact(metrics: dict[str, Any], methods: list[str] | None = None) -> pd.DataFrame:
    """One row per method (only ``methods``, when given): coverage, then each metric as
    "value (low–high)", three decimals: one column a metric, so that the table fits the page."""
    long = metrics_long(metrics)
    if methods is not None:
        long = long[long["method"].isin(methods)]
    if long.empty:
        return pd.DataFrame(columns=["method"])
    names = list(dict.fromkeys(long["metric"]))
    table = long.assign(cell=interval_text(long)).pivot(index="method", columns="metric", values="cell")[
        names
    ]
    table.insert(0, "coverage", pd.Series({m: e["coverage"] for m, e in metrics["methods"].items()}))
    table = table.rename_axis(columns=None).reset_index()
    return table.sort_values("method", key=lambda s: s.map(method_order), kind="stable").reset_index(
        drop=True
    )


def seed_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per method: each headline metric's mean and standard deviation across the run's seeds."""
    seeds = metrics.get("seeds") or {"methods": {}}
    rows = []
    for method, entry in seeds["methods"].items():
        row = {"method": method, "seeds": max(len(v["values"]) for v in entry.values())}
        for name in HEADLINE:
            if name in entry:
                std = entry[name]["std"]
                row[name] = (
                    f"{entry[name]['mean']:.4f} ± {std:.4f}"
                    if std is not None
                    else f"{entry[name]['mean']:.4f}"
                )
        rows.append(row)
    table = pd.DataFrame(rows, columns=["method", "seeds", *HEADLINE])
    return table.sort_values("method", key=lambda s: s.map(method_order), kind="stable").reset_index(
        drop=True
    )


def stage_table(manifest: Manifest) -> pd.DataFrame:
    rows = [
        {
            "stage": name,
            "status": s.get("status", "?"),
            "seconds": s.get("seconds"),
            "started": s.get("started"),
            "error": s.get("error", ""),
        }
        for name, s in manifest.stages.items()
    ]
    return pd.DataFrame(rows, columns=["stage", "status", "seconds", "started", "error"])


def baseline_timing_table(manifest: Manifest) -> pd.DataFrame:
    models = manifest.stage("baselines").get("models", {})
    rows = [{"model": name, **timing} for name, timing in models.items()]
    return pd.DataFrame(rows, columns=["model", "fit_seconds", "candidate_seconds"])


LLM_COST = [
    "stage",
    "family",
    "tokens_per_second",
    "seconds",
    "device",
    "dtype",
    "items",
    "tokens",
    "computed_tokens",
]
"""The speed first: on a phone the table scrolls sideways after three or four columns."""


def llm_cost_table(manifest: Manifest) -> pd.DataFrame:
    """What the LLM stages ran on and how fast: training (examples) and each family's rerank (prompts) with
    device, dtype, real and computed (padded) tokens, seconds and tokens/s; rerank blocks scored on several
    machines (a stage resumed elsewhere) give one row per device."""
    rows = []
    train = manifest.stage("train").get("summary", {})
    if "dtype" in train:
        rows.append(
            {"stage": "train", "family": "", "items": train["examples"], "tokens": train["train_tokens"]}
            | {k: train[k] for k in ("device", "dtype", "computed_tokens", "seconds", "tokens_per_second")}
        )
    blocks = pd.DataFrame(manifest.stage("rerank").get("blocks", []))
    if not blocks.empty:
        summed = blocks.groupby(["family", "device", "dtype"], sort=False)[
            ["prompts", "tokens", "computed_tokens", "seconds"]
        ].sum()
        for (family, device, dtype), row in summed.iterrows():
            rate = row["tokens"] / row["seconds"] if row["seconds"] else 0.0
            rows.append(
                {
                    "stage": "rerank",
                    "family": family,
                    "device": device,
                    "dtype": dtype,
                    "items": row["prompts"],
                }
                | {"tokens": row["tokens"], "computed_tokens": row["computed_tokens"]}
                | {"seconds": round(row["seconds"], 1), "tokens_per_second": round(rate, 1)}
            )
    return pd.DataFrame(rows, columns=LLM_COST)


def run_label(name: str, manifest: Manifest | None) -> str:
    if manifest is None:
        return f"{name} (unreadable)"
    try:
        sequential = manifest.config.prompts.sequential
    except InputError:  # the run's page says what is wrong with it
        sequential = False
    return f"{name} · {manifest.dataset.get('name', '?')} · {manifest.get('profile', '?')}" + (
        " · sequential" if sequential else ""
    )


def deltas(metrics: dict[str, Any]) -> pd.DataFrame:
    """Each method's paired difference from metrics.json's reference method: method, metric, value,
    ci_low, ci_high, p_value and ``verdict`` ("better" / "worse" when the interval excludes 0, else "")."""
    rows = [
        {"method": method, "metric": name, **interval}
        for method, entry in metrics["methods"].items()
        for name, interval in entry.get("delta", {}).items()
    ]
    return _deltas(rows)


def beyond_deltas(metrics: dict[str, Any]) -> pd.DataFrame:
    """:func:`deltas` of the beyond-accuracy metrics (``higher``/``lower`` in place of better and worse:
    more popular items are not better or worse in themselves); empty for runs evaluated before them."""
    rows = [
        {"method": method, "metric": name, **{k: cell["delta"][k] for k in DELTA_FIELDS}}
        for method, entry in metrics.get("beyond", {}).items()
        for name, cell in entry.items()
        if "delta" in cell
    ]
    table = _deltas(rows)
    return table.assign(verdict=table["verdict"].map({"better": "higher", "worse": "lower", "": ""}))


def _deltas(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["method", "metric", *DELTA_FIELDS])
    table["verdict"] = verdicts(table)
    return table.sort_values("method", key=lambda s: s.map(method_order), kind="stable").reset_index(
        drop=True
    )


def beyond_table(metrics: dict[str, Any], k: int = 5) -> pd.DataFrame:
    """method, users, then each beyond-accuracy metric at ``k`` and its difference from the reference
    (``Δ name``, over the users both have; 0 for the reference); empty for runs evaluated before these
    metrics."""
    rows = []
    for method, entry in metrics.get("beyond", {}).items():
        row = {"method": method, "users": entry[f"coverage@{k}"]["users"]}
        for name in BEYOND:
            cell = entry[f"{name}@{k}"]
            row[name] = cell["value"]
            row[f"Δ {name}"] = cell["delta"]["value"] if "delta" in cell else 0.0  # the reference itself
        rows.append(row)
    table = pd.DataFrame(rows, columns=["method", "users", *[c for n in BEYOND for c in (n, f"Δ {n}")]])
    return table.sort_values("method", key=lambda s: s.map(method_order), kind="stable").reset_index(
        drop=True
    )


def verdict(metrics: dict[str, Any], metric: str = "NDCG@3") -> pd.DataFrame:
    """The judged method (metrics.json's ``selected``, chosen on validation users) against its base model
    and the hint control: against, value, ci_low, ci_high, p_value and ``verdict`` as in :func:`deltas`;
    empty for runs without a judged method."""
    against = metrics.get("selected", {}).get("against", {})
    rows = [{"against": rival, **deltas[metric]} for rival, deltas in against.items()]
    table = pd.DataFrame(rows, columns=["against", "value", "ci_low", "ci_high", "p_value"])
    return table.assign(verdict=verdicts(table))


def verdicts(table: pd.DataFrame) -> np.ndarray:
    """Per row of paired differences: "better" / "worse" when the interval excludes 0, else ""."""
    return np.select([table["ci_low"] > 0, table["ci_high"] < 0], ["better", "worse"], "")


def compare_runs(documents: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Long table of the methods every run has: method, metric, run (a key of ``documents``: run name ->
    metrics.json), value, ci_low, ci_high."""
    frames = [metrics_long(doc).assign(run=name) for name, doc in documents.items()]
    shared = set.intersection(*(set(frame["method"]) for frame in frames))
    both = pd.concat(frames, ignore_index=True)
    both = both[both["method"].isin(shared)]
    return both.sort_values("method", key=lambda s: s.map(method_order), kind="stable").reset_index(drop=True)


def compare_wide(long: pd.DataFrame, metric: str, names: tuple[str, ...]) -> pd.DataFrame:
    """method, the metric in each run, and each later run's difference from the first (``NAME − FIRST``)."""
    wide = long[long["metric"] == metric].pivot(index="method", columns="run", values="value")[list(names)]
    for name in names[1:]:
        wide[f"{name} − {names[0]}"] = wide[name] - wide[names[0]]
    wide = wide.rename_axis(columns=None).reset_index()
    return wide.sort_values("method", key=lambda s: s.map(method_order), kind="stable").reset_index(drop=True)


def settings_diff(configs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """The settings on which the runs differ: setting (section.field), then one column per run (a key of
    ``configs``: run name -> ``RunConfig.to_dict()``); a setting a run lacks shows as "–"."""
    flat = {name: _flatten(config) for name, config in configs.items()}
    keys = sorted(set().union(*flat.values()))
    rows = [
        {"setting": key, **{name: values.get(key, "–") for name, values in flat.items()}}
        for key in keys
        if len({repr(values.get(key, "–")) for values in flat.values()}) > 1
    ]
    return pd.DataFrame(rows, columns=["setting", *configs])


def settings_table(config: dict[str, Any]) -> pd.DataFrame:
    """setting (section.field), value: a run's ``RunConfig.to_dict()`` one row per field."""
    return pd.DataFrame(list(_flatten(config).items()), columns=["setting", "value"])


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    return out


def rankings_with_titles(rankings: pd.DataFrame, items: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The rankings with each item's title and whether it is the user's test item, for download."""
    table = rankings.merge(items[["item_id", "title"]], on="item_id", how="left")
    test = truth.rename(columns={"item_id": "test_item"})
    table = table.merge(test, on="user_id", how="left")
    table["is_test_item"] = table["item_id"] == table["test_item"]
    table = table.drop(columns="test_item")
    return table.sort_values(
        ["method", "user_id", "rank"],
        key=lambda s: s.map(method_order) if s.name == "method" else s,
        kind="stable",
    ).reset_index(drop=True)
