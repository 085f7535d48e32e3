"""The Runs page with streamlit's AppTest, on real run directories."""

from __future__ import annotations

import json
import os

import pytest

from tests.app.conftest import app, charts, metric, shown, texts


def test_renders_metrics_table_and_chart(runs):
    at = app()
    assert not at.exception
    assert at.selectbox(key="run").value == "alpha"
    assert metric(at, "Dataset") == "data-alpha"
    table = at.dataframe[0].value
    assert table["method"].tolist()[:1] == ["base:biasedmf"]
    assert len(table) == 6 and {"coverage", "HR@3", "NDCG@3", "HR@5", "NDCG@5"} <= set(table.columns)
    metrics = json.loads((runs / "alpha" / "metrics.json").read_text())
    ease = metrics["methods"]["base:ease"]["metrics"]["HR@5"]
    shown = table.set_index("method").loc["base:ease", "HR@5"]  # one column a metric, three decimals
    assert shown == f"{ease['value']:.3f} ({ease['ci_low']:.3f}–{ease['ci_high']:.3f})"
    bars = charts(at)["metric_bars"]
    assert [trace["name"] for trace in bars["data"]] == ["HR@3", "NDCG@3", "HR@5", "NDCG@5"]
    # The other base models against the primary one, paired.
    deltas = charts(at)["deltas"]
    assert set(deltas["data"][0]["y"]) == {
        f"base:{m}" for m in ("popular", "bpr", "itemknn", "ease", "biasedmf")
    }
    assert at.query_params["run"] == "alpha"
    assert "No LLM methods in this run yet" in texts(at)


def test_query_parameter_deep_links_a_run_and_picking_another_switches(runs):
    at = app(run="beta")
    assert at.selectbox(key="run").value == "beta"
    assert metric(at, "Dataset") == "data-beta"
    at.selectbox(key="run").select("alpha").run()
    assert metric(at, "Dataset") == "data-alpha"
    assert at.query_params["run"] == "alpha"


def test_unknown_run_in_the_url_falls_back_with_a_warning(runs):
    at = app(run="../../etc")
    assert not at.exception
    assert "No run called" in shown(at.warning[0].value)
    assert at.selectbox(key="run").value == "alpha"


def test_no_runs_offers_the_command_and_a_button(tmp_path, monkeypatch):
    monkeypatch.setenv("RECRANKER_RUNS", str(tmp_path / "empty"))
    at = app()
    assert not at.exception
    assert "No runs yet" in shown(at.info[0].value)
    assert "python -m recranker_core run --profile quick" in at.code[0].value
    assert {b.key for b in at.button} >= {"start_smoke", "start_quick"}


def test_a_runs_folder_that_is_a_file_is_one_line_on_every_page(tmp_path, monkeypatch):
    (tmp_path / "runs").write_text("not a folder")
    monkeypatch.setenv("RECRANKER_RUNS", str(tmp_path / "runs"))
    at = app()
    for page in (None, "views/users.py", "views/whatif.py"):
        if page:
            at.switch_page(page).run()
        assert not at.exception and len(at.error) == 1, page
        said = shown(at.error[0].value)
        assert (
            said == f"The runs folder cannot be used: {tmp_path / 'runs'}: is a file, not a folder "
            "(the runs folder, $RECRANKER_RUNS)"
        ), said


def progress_file(root, name: str, **state) -> None:
    """The progress file a `run` into root/name keeps (see runner.Progress), by this process's pid."""
    root.mkdir(parents=True, exist_ok=True)
    planned = ["data", "baselines", "evaluate", "sample", "instructions", "train", "rerank", "evaluate"]
    document = {"planned": planned, "done": [], "running": None, "failed": None, "finished": False}
    (root / f".{name}.progress.json").write_text(json.dumps(document | {"pid": os.getpid()} | state))


def test_a_run_built_outside_the_dashboard_is_followed(tmp_path, monkeypatch):
    """`make run` builds the quick run beside the dashboard: the page shows its stages as they go."""
    root = tmp_path / "runs"
    monkeypatch.setenv("RECRANKER_RUNS", str(root))
    progress_file(root, "ml-100k-quick", running="baselines", done=["data"])
    at = app()
    assert not at.exception
    assert "Building **ml-100k-quick**: baselines … (1/8)" in [
        shown(p.proto.text) for p in at.get("progress")
    ]
    assert not {"start_smoke", "start_quick"} & {b.key for b in at.button}  # one build at a time


def test_finished_failed_and_abandoned_builds_are_not_shown(tmp_path):
    from studio import jobs

    root = tmp_path / "runs"
    progress_file(root, "done", finished=True)
    progress_file(root, "failed", failed="baselines")
    progress_file(root, "killed", pid=2**22 + 12345)  # no such process
    progress_file(root, "old")
    (root / ".old.progress.json").write_text(json.dumps({"planned": [], "done": []}))  # before pids
    progress_file(root, "working", running="train", done=["data", "baselines"])
    assert [(b.name, b.running, b.done, b.planned) for b in jobs.builds(root)] == [("working", "train", 2, 8)]


def test_corrupt_manifest_and_missing_metrics_are_named(runs):
    (runs / "alpha" / "manifest.json").write_text("{ not json")
    (runs / "beta" / "metrics.json").unlink()
    at = app()
    assert not at.exception
    # Readable runs come first; this one has its manifest but lost its metrics.
    assert at.selectbox(key="run").value == "beta"
    assert "metrics.json: file not found" in shown(at.error[0].value)
    at.selectbox(key="run").select("alpha").run()
    assert "manifest.json: not valid JSON" in shown(at.error[0].value)
    assert "alpha (unreadable)" in at.selectbox(key="run").options


def test_llm_run_shows_paired_change_over_the_base_and_downloads(full):
    at = app()
    assert not at.exception
    assert "Change over the base model (base:implicitmf)" in texts(at)
    figure = charts(at)["deltas"]
    methods = figure["data"][0]["y"]
    assert {"pointwise", "pairwise", "listwise", "hybrid"} <= set(
        methods
    ) and "base:implicitmf" not in methods
    metrics = json.loads((full / "metrics.json").read_text())
    table = next(d.value for d in at.dataframe if {"method", "verdict"} <= set(d.value.columns))
    table = table.set_index("method")
    for method in methods:
        delta = metrics["methods"][method]["delta"]["NDCG@3"]
        assert table.loc[method, "value"] == pytest.approx(delta["value"])
        assert table.loc[method, "verdict"] == (
            "better" if delta["ci_low"] > 0 else "worse" if delta["ci_high"] < 0 else ""
        )
    assert {b.proto.label for b in at.get("download_button")} == {
        "Metrics (CSV)",
        "Rankings (Parquet)",
        "Rankings with titles (CSV)",
        "Report (HTML)",
    }


def test_the_judged_method_is_set_against_its_base_and_the_hint_control(full):
    at = app()
    metrics = json.loads((full / "metrics.json").read_text())
    selected = metrics["selected"]
    from recranker_core.analysis import verdict

    answer, _, rest = verdict.sentence(metrics).partition(": ")
    assert f"**{answer}**: {rest}" in texts(at) and rest.startswith(selected["method"])
    assert "The tuned listwise model puts the first-shown candidate on top in" in texts(at)
    beyond = next(d.value for d in at.dataframe if "arp" in d.value.columns).set_index("method")
    assert beyond.loc[selected["method"], "arp"] == metrics["beyond"][selected["method"]]["arp@5"]["value"]
    assert beyond.loc[metrics["reference"], "Δ arp"] == 0.0
    from recranker_core.fusion import CONTROL

    shown = next(d.value for d in at.dataframe if "HR@3" in d.value.columns)["method"].tolist()
    assert (
        set(shown)
        == set(verdict.default_methods(metrics))
        >= {metrics["reference"], selected["method"], CONTROL}
    )
    at.toggle(key="overview_every_method").set_value(True).run()
    every = next(d.value for d in at.dataframe if "HR@3" in d.value.columns)["method"]
    assert set(every) == set(metrics["methods"]) and len(every) > len(shown)
    ticks = charts(at)["metric_bars"]["layout"]["xaxis"]["ticktext"]
    assert f"<b>{selected['method']} (judged)</b>" in ticks
    glossary = next(e for e in at.expander if e.label.startswith("Glossary"))
    assert "**control:hints**: Fusion of the hint models' scores" in glossary.markdown[0].value
    delta = metrics["beyond"][selected["method"]]["arp@5"]["delta"]["value"]
    assert beyond.loc[selected["method"], "Δ arp"] == delta
    table = next(d.value for d in at.dataframe if "against" in d.value.columns).set_index("against")
    assert list(table.index) == ["base:implicitmf", "control:hints"]
    for rival, row in table.iterrows():
        delta = selected["against"][rival]["NDCG@3"]
        assert row["value"] == pytest.approx(delta["value"]) and row["ci_low"] == pytest.approx(
            delta["ci_low"]
        )


def test_compare_several_runs_side_by_side_with_the_settings_that_differ(full, runs):
    manifest = json.loads((runs / "beta" / "manifest.json").read_text())
    manifest["config"]["evaluation"]["bootstrap_samples"] = 500
    (runs / "beta" / "manifest.json").write_text(json.dumps(manifest))
    at = app(run="smoke")
    assert [o.split(" · ")[0] for o in at.multiselect(key="overview_compare").options] == ["alpha", "beta"]
    at.multiselect(key="overview_compare").select("alpha").select("beta").run()
    assert not at.exception
    wide = next(d.value for d in at.dataframe if "alpha − smoke" in d.value.columns)
    assert set(wide.columns) == {"method", "smoke", "alpha", "beta", "alpha − smoke", "beta − smoke"}
    # Only the methods every run has: the base models; same data and seed, so the baselines agree.
    assert all(m.startswith("base:") for m in wide["method"])
    assert wide["alpha − smoke"].abs().max() == 0
    assert {trace["name"] for trace in charts(at)["compare_bars"]["data"]} == {"smoke", "alpha", "beta"}
    settings = next(d.value for d in at.dataframe if "setting" in d.value.columns).set_index("setting")
    assert settings.loc["evaluation.bootstrap_samples"].to_dict() == {"smoke": 200, "alpha": 200, "beta": 500}


def test_a_run_with_several_seeds_shows_their_spread(full):
    metrics = json.loads((full / "metrics.json").read_text())
    values = {"HR@3": {"mean": 0.05, "std": 0.01, "values": [0.04, 0.06]}}
    metrics["seeds"] = {
        "seeds": [42, 43],
        "methods": {"listwise": values, "base:implicitmf": {"HR@3": {**values["HR@3"], "std": 0.0}}},
    }
    (full / "metrics.json").write_text(json.dumps(metrics))
    at = app()
    assert not at.exception
    assert "Across 2 seeds" in texts(at)
    table = next(d.value for d in at.dataframe if "seeds" in d.value.columns).set_index("method")
    assert table.loc["listwise", "HR@3"] == "0.0500 ± 0.0100" and table.loc["listwise", "seeds"] == 2


def test_run_details_are_drawn_only_when_opened(runs):
    at = app()
    assert not at.code and "**Stages**" not in texts(at)
    at.session_state["overview_details"] = True
    at.run()
    assert not at.exception
    assert at.code[0].value.startswith("python -m recranker_core") and "**Stages**" in texts(at)
    stages = next(frame.value for frame in at.dataframe if "stage" in frame.value.columns)
    assert stages["stage"].tolist() == ["data", "baselines", "evaluate"]
