"""A hostile run: a copy of a real run whose every free-text field carries markup, a script, a Markdown
image and a link, each pointing at a "trap" address; a safe page shows them as text and never asks for it.

Used by the browser tests (every page, hostile links, the report and a story in Chromium) and
tests/analysis."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

TRAP = "http://127.0.0.1:9/trap"
"""Where every smuggled image and link points: a request for it means a page fetched what a file said."""
EVIL = (
    f'<img src="{TRAP}/html.png" onerror="window.pwned=1"><script>window.pwned=2</script>'
    f"![md]({TRAP}/md.png) [link](javascript:window.pwned=3) :red[red] $x$ **bold** "
    f'<a href="{TRAP}/a">a</a>'
)
"""Markup for every field: an HTML image with a script, a script, a Markdown image and link, Streamlit's
directives and maths, emphasis and an HTML link."""
WRITTEN = f"![md]({TRAP}/md.png)"
"""A piece of :data:`EVIL` that a safe page shows as text: written, not rendered."""
NAME = "evil_run_"
"""The run's folder: a run name cannot hold markup (rundir.RUN_NAME), but '_' is Markdown's emphasis."""


def hostile_run(source: Path, root: Path) -> Path:
    """A copy of the run ``source`` under ``root`` whose method names (metrics.json, hybrid.json, rankings),
    judged method, titles, genres, profile, dataset name and source carry :data:`EVIL`."""
    run = root / NAME
    shutil.copytree(source, run)
    manifest = _json(run / "manifest.json")
    manifest.update(profile=EVIL, command=f"python -m recranker_core run {EVIL}")
    manifest["dataset"].update(name=EVIL, source=EVIL)
    _write(run / "manifest.json", manifest)

    metrics = _json(run / "metrics.json")
    judged = metrics["selected"]["method"] if "selected" in metrics else metrics["reference"]
    metrics["methods"][EVIL] = metrics["methods"][judged]
    if "selected" in metrics:  # a run with its LLM stages: the hostile method is the judged one
        metrics["selected"]["method"] = EVIL
    _write(run / "metrics.json", metrics)
    if (run / "hybrid.json").is_file():  # a run with its LLM stages
        hybrid = _json(run / "hybrid.json")
        for key in ("validation_ndcg@3", "validation_pairwise_accuracy"):
            hybrid[key][EVIL] = hybrid[key][judged]
        hybrid["selected"] = EVIL
        _write(run / "hybrid.json", hybrid)

    rankings = pd.read_parquet(run / "rankings.parquet")
    copied = rankings[rankings["method"] == judged].assign(method=EVIL)
    pd.concat([rankings, copied], ignore_index=True).to_parquet(run / "rankings.parquet", index=False)
    items = pd.read_parquet(run / "items.parquet")
    items["title"] = items["title"] + " " + EVIL
    items["genres"] = [[*genres, EVIL] for genres in items["genres"]]
    items.to_parquet(run / "items.parquet", index=False)
    return run


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _write(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document))
