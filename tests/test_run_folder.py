"""A run folder is recognised, not guessed: --overwrite replaces only a run and nothing of the user's in it,
and a run written in a newer format is refused, never rewritten."""

from __future__ import annotations

import json
import shutil

import pytest

from recranker_core import rundir
from recranker_core.cli import main
from recranker_core.errors import InputError
from recranker_core.manifest import Manifest
from recranker_core.stages import RUN_FILES, foreign_entries
from tests.conftest import MINI

OVERWRITE = ["baselines", "--dataset", str(MINI), "--profile", "quick", "--overwrite", "--out"]
"""Another run (quick, not the mini run's smoke) into a folder, replacing what is there."""


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_overwrite_refuses_a_run_folder_holding_a_file_of_the_users(mini_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(mini_run, out)
    (out / "notes.txt").write_text("my notes on this run")
    before = _snapshot(out)
    assert main([*OVERWRITE, str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "'notes.txt', which is not a file of a run" in error
    assert _snapshot(out) == before  # nothing replaced, the notes kept


def test_a_file_called_manifest_json_does_not_make_a_folder_a_run(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / rundir.MANIFEST).write_text(json.dumps({"app": "something else", "version": 3}))
    (folder / "thesis.tex").write_text("years of work")
    before = _snapshot(folder)
    assert main([*OVERWRITE, str(folder)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {folder / rundir.MANIFEST}: not a run's manifest (no 'stages')")
    assert "--overwrite replaces only a run" in error and error.count("\n") == 1
    assert _snapshot(folder) == before


def test_a_run_of_a_newer_format_is_refused_not_rewritten(mini_run, tmp_path, capsys):
    out = tmp_path / "newer"
    shutil.copytree(mini_run, out)
    manifest = json.loads((out / rundir.MANIFEST).read_text())
    (out / rundir.MANIFEST).write_text(json.dumps({**manifest, "format_version": rundir.FORMAT_VERSION + 1}))
    before = _snapshot(out)
    with pytest.raises(InputError, match="written by a newer RecRanker Studio"):
        Manifest.read(out)
    for command in (["baselines", "--dataset", str(MINI), "--profile", "smoke", "--out"], OVERWRITE):
        assert main([*command, str(out)]) == 2
        assert "written by a newer RecRanker Studio (run format 2" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(out)]) == 2
    assert _snapshot(out) == before


def test_a_runs_own_files_and_temporaries_are_not_foreign(smoke_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(smoke_run, out)
    for name in (".rankings.parquet.partial", ".instructions.partial-123", ".adapter.old-45", "seeds"):
        (out / name).mkdir()
    (out / ".rerank-partial").mkdir()
    assert foreign_entries(out) == []
    assert {p.name for p in smoke_run.iterdir()} <= RUN_FILES  # every file a complete run writes
    (out / ".notes.partial-x").write_text("a user's hidden file")
    (out / "report.html").write_text("a report saved into the run")
    assert [p.name for p in foreign_entries(out)] == [".notes.partial-x", "report.html"]
