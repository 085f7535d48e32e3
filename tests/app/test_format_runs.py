"""Smoke runs end to end on BookCrossing and Amazon fixtures, and the dashboard on them: a ten-point scale
scored through to the rankings, and ISBN- and ASIN-keyed items shown by title."""

from __future__ import annotations

import pytest

from recranker_core import rundir
from recranker_core.cli import main
from recranker_core.manifest import Manifest
from tests.app.conftest import app, lineup_table, texts
from tests.app.test_pages import BIAS, HYBRID, PROMPTS, SLICES, USERS
from tests.fixtures.formats import write_amazon, write_bookcrossing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def format_runs(tmp_path_factory):
    """A runs folder with a full smoke run on BookCrossing and one on Amazon 2023, and the conventional
    stages on Amazon 2018 (the same run past its reader)."""
    root = tmp_path_factory.mktemp("runs")
    data = tmp_path_factory.mktemp("data")
    sources = {
        "bx": ("run", write_bookcrossing(data / "bx")),
        "amazon23": ("run", write_amazon(data / "a23", "2023", gz=True)),
        "amazon18": ("baselines", write_amazon(data / "a18", "2018")),
    }
    for name, (command, path) in sources.items():
        argv = [command, "--profile", "smoke", "--dataset", str(path), "--out", str(root / name)]
        assert main([*argv, "-q"] if command == "run" else argv) == 0
    return root


def test_a_ten_point_scale_is_asked_scored_and_ranked(format_runs):
    run = format_runs / "bx"
    prompts = rundir.read_jsonl(run / rundir.INSTRUCTIONS / "test.jsonl")
    pointwise = [p for p in prompts if p["meta"]["task"] == "pointwise"]
    assert pointwise and all("from 1 to 10" in p["messages"][1]["content"] for p in pointwise)
    assert "You are a book recommender" in pointwise[0]["messages"][0]["content"]
    outputs = rundir.read_table(run / rundir.LLM_OUTPUTS)
    probs = outputs.loc[outputs["task"] == "pointwise", "probs"]
    assert (probs.map(len) == 10).all() and probs.map(sum).between(0.999, 1.001).all()
    manifest = Manifest.read(run)
    assert manifest.dataset["scale"] == "1-10" and manifest.dataset["split"]["like_threshold"] == 8.0
    assert (run / rundir.METRICS).is_file()


def test_every_format_run_is_complete(format_runs):
    for name in ("bx", "amazon23"):
        assert Manifest.read(format_runs / name).done("evaluate"), name
    manifest = Manifest.read(format_runs / "amazon18")
    assert manifest.dataset["format"] == "Amazon 2018" and manifest.done("evaluate")


@pytest.mark.parametrize("name", ["bx", "amazon23"])
def test_the_dashboard_shows_text_keyed_items_by_title(format_runs, monkeypatch, name):
    monkeypatch.setenv("RECRANKER_RUNS", str(format_runs))
    for page in (None, USERS, PROMPTS, HYBRID, BIAS, SLICES):
        at = app(page, run=name)
        assert not at.exception and not at.error, (name, page)
    if name == "bx":  # the Runs page says how the data was read
        assert "BookCrossing · ratings 1-10 · likes ≥ 8 · order: fixed hash (no timestamps)" in texts(
            app(run=name)
        )
    grid = lineup_table(app(USERS, run=name))
    cells = [str(cell).split("  ")[0] for cell in grid.to_numpy().ravel()]  # without the move arrows
    ids = set(rundir.read_table(format_runs / name / rundir.ITEMS)["item_id"].astype(str))
    assert any(cell.startswith("Book") for cell in cells) and not ids & set(cells)  # titles, not the IDs
