"""Folders from the environment and paths that cannot be opened or made: one line naming the path, exit 2,
never a traceback; and text from the data printed without the control characters it carries.

The tests run as root, which permissions do not stop, so the folders here fail for anyone: a path under a
file, under /proc, a name too long, a loop of links."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from recranker_core import rundir, terminal
from recranker_core.cli import main
from recranker_core.errors import InputError
from tests.conftest import MINI

TOO_LONG = "x" * 300


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err.strip()


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("not a folder")
    return path


def test_the_runs_folder_is_absolute_wherever_it_is_named_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(rundir.RUNS_ENV, raising=False)
    assert rundir.runs_root() == tmp_path.resolve() / "runs" and (tmp_path / "runs").is_dir()
    monkeypatch.setenv(rundir.RUNS_ENV, "shared/../elsewhere")
    assert rundir.runs_root() == tmp_path.resolve() / "elsewhere"


@pytest.mark.parametrize(
    "where, reason",
    [
        ("{file}", "is a file, not a folder"),
        ("{file}/runs", "cannot make it: {file} is a file, not a folder"),
        ("/proc/recranker-runs", "cannot make it: no such file or directory"),
        ("{tmp}/" + TOO_LONG, "file name too long"),
    ],
)
def test_a_runs_folder_that_cannot_be_one_is_one_line(tmp_path, a_file, monkeypatch, where, reason):
    path = where.format(file=a_file, tmp=tmp_path)
    monkeypatch.setenv(rundir.RUNS_ENV, path)
    with pytest.raises(InputError) as refused:
        rundir.runs_root()
    assert str(refused.value) == f"{path}: {reason.format(file=a_file)} (the runs folder, $RECRANKER_RUNS)"


def test_a_runs_folder_in_a_loop_of_links_is_named(tmp_path, monkeypatch):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    monkeypatch.setenv(rundir.RUNS_ENV, str(loop))
    with pytest.raises(InputError, match="loop: a loop of symbolic links"):
        rundir.runs_root()


def test_an_unreadable_or_unwritable_runs_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv(rundir.RUNS_ENV, "/proc/self")  # a folder that can be read, and nothing made in it
    folder = rundir.runs_root()
    with pytest.raises(InputError, match=f"^{folder}: cannot write in it: "):
        rundir.runs_root(write=True)

    monkeypatch.setenv(rundir.RUNS_ENV, str(tmp_path))

    def denied(path):  # what a folder without read permission gives anyone but root
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(rundir.os, "scandir", denied)
    with pytest.raises(InputError) as refused:
        rundir.runs_root()
    assert (
        str(refused.value)
        == f"{tmp_path}: cannot read it: permission denied (the runs folder, $RECRANKER_RUNS)"
    )


def test_a_model_cache_that_is_a_file_stops_the_run_before_any_stage(tmp_path, a_file, monkeypatch, capsys):
    from recranker_core.llm.models import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(a_file))
    out = tmp_path / "runs" / "x"
    assert main(["run", "--profile", "smoke", "--dataset", str(MINI), "--out", str(out), "-q"]) == 2
    assert error_line(capsys) == (
        f"error: {a_file}/models: cannot make it: {a_file} is a file, not a folder "
        "(the model cache, $RECRANKER_CACHE)"
    )
    assert not out.parent.exists()


@pytest.mark.parametrize(
    "argv, line",
    [
        (
            ["run", "--out", "/proc/recranker-x"],
            "error: /proc: cannot write in it (no such file or directory)",
        ),
        (["run", "--out", "/proc/recranker-x/run"], "error: /proc/recranker-x: No such file or directory"),
        (["baselines", "--out", "{tmp}/" + TOO_LONG], "error: {tmp}/" + TOO_LONG + ": File name too long"),
        (["run", "--out", "{tmp}/loop/run"], "error: {tmp}/loop: too many levels of symbolic links"),
    ],
)
def test_an_out_that_cannot_be_made_is_one_line(tmp_path, capsys, argv, line):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main([*argv, "--profile", "smoke", "--dataset", str(MINI), "-q"]) == 2
    assert error_line(capsys) == line.format(tmp=tmp_path)


def test_a_report_under_proc_is_one_line(mini_run, capsys):
    assert main(["report", "--run", str(mini_run), "--out", "/proc/self/report.html"]) == 2
    assert error_line(capsys) == "error: /proc/self: cannot write in it (no such file or directory)"


@pytest.mark.parametrize(
    "number, reason", [(errno.EISDIR, "Is a directory"), (errno.EINVAL, "Invalid argument")]
)
def test_any_error_of_a_path_is_one_line(capsys, monkeypatch, number, reason):
    from recranker_core import cli

    def fails(args):
        raise OSError(number, reason, "/proc/1/x")

    monkeypatch.setitem(cli.COMMANDS, "evaluate", fails)
    assert main(["evaluate", "--run", "runs/x"]) == 2
    assert error_line(capsys) == f"error: /proc/1/x: {reason}"


def test_an_error_of_no_path_is_not_disguised_as_one(monkeypatch):
    from recranker_core import cli

    def fails(args):
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setitem(cli.COMMANDS, "evaluate", fails)
    with pytest.raises(OSError):
        main(["evaluate", "--run", "runs/x"])


ESCAPES = "\x1b[31mRed\x1b[0m \x1b]0;pwned\x07\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x9b2J\u202eevil"


def test_plain_drops_escape_sequences_and_control_characters():
    assert terminal.plain(ESCAPES) == "Red link 2Jevil"
    assert terminal.plain("a\nb\tc\r\x00") == "ab\tc"
    assert terminal.plain("a\nb", lines=True) == "a\nb"
    assert terminal.plain("Amélie (2001) 東京") == "Amélie (2001) 東京"


def test_titles_with_escape_sequences_are_shown_without_them(tmp_path, mini_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(mini_run, run)
    items = pd.read_parquet(run / rundir.ITEMS)
    items["title"] = "\x1b[31mRed\x1b[0m\x1b]0;pwned\x07 " + items["title"]
    items.to_parquet(run / rundir.ITEMS, index=False)
    assert main(["sample", "--run", str(run), "-q"]) == 0
    assert main(["instructions", "--run", str(run), "-q"]) == 0
    first = json.loads((run / rundir.TEST_PROMPTS).read_text().splitlines()[0])
    assert "\x1b[31m" in first["messages"][1]["content"]  # the prompt keeps the title as the data has it
    capsys.readouterr()

    assert main(["instructions", "--run", str(run), "--show", str(first["meta"]["user_id"]), "-q"]) == 0
    shown = capsys.readouterr().out
    assert "Red " in shown and "\x1b" not in shown and "\x07" not in shown and "pwned" not in shown


def test_a_value_quoted_in_an_error_is_printed_without_control_characters(tmp_path, capsys):
    run = tmp_path / "\x1b]0;pwned\x07run"
    run.mkdir()
    assert main(["evaluate", "--run", str(run)]) == 2
    line = error_line(capsys)
    assert line.startswith(f"error: {tmp_path}/run") and not any(c in line for c in "\x1b\x07")
