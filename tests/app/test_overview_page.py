"""The Runs page with streamlit's AppTest, on real run directories."""

from __future__ import annotations

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

ENTRY = str(ROOT / "app" / "streamlit_app.py")


@pytest.fixture
def runs(tmp_path, mini_run, monkeypatch):
    """Two readable runs, 'alpha' (newer) and 'beta', under a fresh runs folder."""
    root = tmp_path / "runs"
    for name, created in (("alpha", "2026-01-02T00:00:00+00:00"), ("beta", "2026-01-01T00:00:00+00:00")):
        shutil.copytree(mini_run, root / name)
        manifest = json.loads((root / name / "manifest.json").read_text())
        manifest.update(created=created, name=name)
        manifest["dataset"]["name"] = f"data-{name}"
        (root / name / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("RECRANKER_RUNS", str(root))
    return root


def app() -> AppTest:
    return AppTest.from_file(ENTRY, default_timeout=30)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_renders_metrics_table_and_chart(runs):
    at = app().run()
    assert not at.exception
    assert at.selectbox(key="overview_run").value == "alpha"
    assert metric(at, "Dataset") == "data-alpha"
    table = at.dataframe[0].value
    assert table["method"].tolist()[:1] == ["base:biasedmf"]
    assert len(table) == 6 and {"HR@3", "NDCG@3", "HR@5", "NDCG@5", "HR@3 CI"} <= set(table.columns)
    metrics = json.loads((runs / "alpha" / "metrics.json").read_text())
    ease = table.set_index("method").loc["base:ease", "HR@5"]
    assert ease == pytest.approx(metrics["methods"]["base:ease"]["metrics"]["HR@5"]["value"])
    assert len(at.get("plotly_chart")) == 1
    assert at.query_params["run"] == "alpha"


def test_query_parameter_deep_links_a_run_and_picking_another_switches(runs):
    at = app()
    at.query_params["run"] = "beta"
    at.run()
    assert at.selectbox(key="overview_run").value == "beta"
    assert metric(at, "Dataset") == "data-beta"
    at.selectbox(key="overview_run").select("alpha").run()
    assert metric(at, "Dataset") == "data-alpha"
    assert at.query_params["run"] == "alpha"


def test_unknown_run_in_the_url_falls_back_with_a_warning(runs):
    at = app()
    at.query_params["run"] = "../../etc"
    at.run()
    assert not at.exception
    assert "No run called" in at.warning[0].value
    assert at.selectbox(key="overview_run").value == "alpha"


def test_no_runs_offers_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RECRANKER_RUNS", str(tmp_path / "empty"))
    at = app().run()
    assert not at.exception
    assert "No runs yet" in at.info[0].value
    assert "python -m recranker_core run" in at.code[0].value


def test_corrupt_manifest_and_missing_metrics_are_named(runs):
    (runs / "alpha" / "manifest.json").write_text("{ not json")
    (runs / "beta" / "metrics.json").unlink()
    at = app().run()
    assert not at.exception
    # Readable runs come first; this one has its manifest but lost its metrics.
    assert at.selectbox(key="overview_run").value == "beta"
    assert "metrics.json: file not found" in at.error[0].value
    at.selectbox(key="overview_run").select("alpha").run()
    assert "manifest.json: not valid JSON" in at.error[0].value
    assert "alpha (unreadable)" in at.selectbox(key="overview_run").options
