"""The dashboard's pure functions: tables and charts from run documents."""

from __future__ import annotations

import pytest
from studio import charts, tables

METRICS = {
    "test_users": 3,
    "ks": [3],
    "ci_level": 0.95,
    "bootstrap_samples": 100,
    "methods": {
        "hybrid": {"users": 3, "coverage": 0.5, "metrics": {"HR@3": {"value": 0.3, "ci_low": 0.1, "ci_high": 0.5}}},
        "base:ease": {
            "users": 3, "coverage": 0.5, "metrics": {"HR@3": {"value": 0.2, "ci_low": 0.05, "ci_high": 0.4}}
        },
    },
}  # fmt: skip


def test_methods_are_ordered_base_first():
    assert tables.metrics_long(METRICS)["method"].tolist() == ["base:ease", "hybrid"]


def test_wide_table_has_values_and_interval_text():
    table = tables.metrics_table(METRICS).set_index("method")
    assert table.loc["hybrid", "HR@3"] == 0.3
    assert table.loc["hybrid", "HR@3 CI"] == "0.100–0.500"
    assert table.loc["base:ease", "coverage"] == 0.5


def test_bars_carry_asymmetric_error_bars():
    figure = charts.metric_bars(tables.metrics_long(METRICS), ("HR@3",))
    (bar,) = figure.data
    assert list(bar.x) == ["base:ease", "hybrid"]
    assert list(bar.error_y.array) == pytest.approx([0.2, 0.2])
    assert list(bar.error_y.arrayminus) == pytest.approx([0.15, 0.2])


def test_stage_and_timing_tables():
    manifest = {
        "stages": {
            "data": {"status": "done", "seconds": 1.0},
            "baselines": {"status": "done", "seconds": 3.0, "models": {"ease": {"fit_seconds": 0.2, "candidate_seconds": 2.0}}},
        }
    }  # fmt: skip
    assert tables.stage_table(manifest)["stage"].tolist() == ["data", "baselines"]
    assert tables.baseline_timing_table(manifest).to_dict("records") == [
        {"model": "ease", "fit_seconds": 0.2, "candidate_seconds": 2.0}
    ]
    assert tables.run_label("x", None) == "x (unreadable)"
