"""Dashboard fixtures: runs folders the app reads through RECRANKER_RUNS."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

ENTRY = str(ROOT / "app" / "streamlit_app.py")


def app(page: str | None = None, **params: str) -> AppTest:
    """The dashboard on ``page`` (e.g. "views/users.py"), run once, with query parameters."""
    at = AppTest.from_file(ENTRY, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


@pytest.fixture
def full(tmp_path, smoke_run, monkeypatch):
    """A runs folder holding a copy of the complete smoke run, called 'smoke'."""
    root = tmp_path / "runs"
    shutil.copytree(smoke_run, root / "smoke")
    monkeypatch.setenv("RECRANKER_RUNS", str(root))
    return root / "smoke"


@pytest.fixture
def runs(tmp_path, mini_run, monkeypatch):
    """Two readable baseline-only runs, 'alpha' (newer) and 'beta', under a fresh runs folder."""
    root = tmp_path / "runs"
    for name, created in (("alpha", "2026-01-02T00:00:00+00:00"), ("beta", "2026-01-01T00:00:00+00:00")):
        shutil.copytree(mini_run, root / name)
        manifest = json.loads((root / name / "manifest.json").read_text())
        manifest.update(created=created, name=name)
        manifest["dataset"]["name"] = f"data-{name}"
        (root / name / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("RECRANKER_RUNS", str(root))
    return root


def texts(at: AppTest) -> str:
    """Everything written as markdown, captions, info, warning and error boxes, in one string, as the viewer
    reads it."""
    parts = [
        e.value
        for kind in ("markdown", "caption", "info", "warning", "error", "success", "subheader")
        for e in getattr(at, kind)
    ]
    return "\n".join(shown(str(p)) for p in parts)


def lineup_table(at: AppTest):
    """The page's first st.table (the lineup) as the viewer reads it: its cells and headers unescaped."""
    grid = at.table[0].value
    return grid.map(lambda cell: shown(cell) if isinstance(cell, str) else cell).rename(columns=shown)


def shown(markdown: str) -> str:
    """Markdown as the viewer reads it, its backslash escapes (analysis.escaping.markdown) resolved."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def metric(at: AppTest, label: str) -> str:
    return shown(next(m.value for m in at.metric if m.label == label))


def charts(at: AppTest) -> dict[str, dict]:
    """The page's plotly figures by element key, as plotly JSON."""
    return {element.key: json.loads(element.proto.spec) for element in at.get("plotly_chart")}
