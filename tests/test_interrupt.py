"""Ctrl-C (SIGINT) and SIGTERM stop every stage at once, keep what finished, say so in one line and exit
130/143; the same command then resumes and ends with the files an uninterrupted run writes.

The commands run in real processes started as a shell starts one in the background (``make run``'s build,
``cmd &`` in a script): with SIGINT ignored, which Python honours by never raising KeyboardInterrupt, so
that a Ctrl-C went unnoticed and the run went on to the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recranker_core import rundir, terminal
from recranker_core.cli import main
from tests.conftest import MINI, ROOT

ENV = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
RESUMES = "the stages that had finished are kept; the same command resumes"
NOT_CREATED = "the run was not created yet, so nothing of it is kept; the same command starts again"
UNSTABLE = {rundir.MANIFEST, rundir.TRAIN_LOG, f"{rundir.ADAPTER}/adapter_config.json"}
"""Files whose bytes differ between any two runs: timestamps and timings, and peft's target modules (a set,
written in the order of the process's string hashing)."""


def test_the_handlers_replace_an_inherited_ignore_and_are_given_back():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(terminal.Interrupted) as stopped, terminal.stoppable():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises before this ends
        assert stopped.value.signum == signal.SIGINT
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    "signum, line", [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "stopped by SIGTERM")]
)
def test_each_signal_has_its_code_and_line(capsys, monkeypatch, signum, line):
    from recranker_core import cli

    def stopped(args):
        os.kill(os.getpid(), signum)
        time.sleep(5)

    monkeypatch.setitem(cli.COMMANDS, "rerank", stopped)
    assert main(["rerank", "--run", "runs/x"]) == 128 + signum
    assert capsys.readouterr().err == f"{line}: {RESUMES}\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def start(*argv: str) -> subprocess.Popen:
    """``python -m recranker_core ARGV`` with SIGINT ignored, as a shell starts a background command."""
    return subprocess.Popen(
        [sys.executable, "-m", "recranker_core", *argv],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )


def stop_during(process: subprocess.Popen, out: Path, stage: str, signum: int, ready=lambda: True) -> str:
    """Send ``signum`` once the progress file shows ``stage`` running and ``ready()``; its stderr, once it
    has exited with 128 + signum within a step (or block) and the interpreter's exit."""
    progress, deadline = rundir.progress_path(out), time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        state = json.loads(progress.read_text()) if progress.is_file() else {}
        if state.get("pid") == process.pid and state.get("running") == stage and ready():
            break
        time.sleep(0.05)
    assert process.poll() is None, f"the command ended before {stage} ran: {process.communicate()[1]}"
    sent = time.monotonic()
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    assert time.monotonic() - sent < 60  # the uninterrupted rest takes minutes
    return err


def same_files(run: Path, reference: Path, names: list[str] | None = None) -> None:
    names = names or [
        p.relative_to(reference).as_posix() for p in sorted(reference.rglob("*")) if p.is_file()
    ]
    different = [
        n for n in names if n not in UNSTABLE and (run / n).read_bytes() != (reference / n).read_bytes()
    ]
    assert not different


@pytest.mark.slow
def test_an_interrupted_creation_leaves_nothing_and_starts_again(tmp_path, smoke_run):
    out = tmp_path / "runs" / "run"
    argv = ("run", "--profile", "smoke", "--dataset", str(MINI), "--out", str(out), "--until", "sample", "-q")
    err = stop_during(start(*argv), out, "baselines", signal.SIGINT)
    assert err == f"interrupted: {NOT_CREATED}\n"
    assert [p.name for p in out.parent.iterdir()] == [rundir.progress_path(out).name]  # no hidden folder
    assert json.loads(rundir.progress_path(out).read_text())["failed"] == "baselines"

    again = start(*argv)
    assert again.wait(timeout=300) == 0, again.communicate()[1]
    created = (rundir.SPLIT, rundir.ITEMS, rundir.CANDIDATES, rundir.USER_EMBEDDINGS, rundir.SAMPLED_USERS)
    same_files(out, smoke_run, list(created))


@pytest.mark.slow
def test_interrupted_training_and_reranking_resume_to_the_same_files(tmp_path, smoke_run):
    """SIGTERM during training (after its first checkpoint), then Ctrl-C during reranking (after its first
    block): each time the same command goes on from what was kept."""
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    profile = tmp_path / "smoke-checkpoints.toml"  # the smoke run, a checkpoint every 5 of its 15 steps
    smoke = (ROOT / "recranker_core" / "profiles" / "smoke.toml").read_text()
    profile.write_text(smoke.replace("[llm]", "[llm]\ncheckpoint_steps = 5"))
    argv = ("run", "--profile", str(profile), "--dataset", str(MINI), "--out", str(run))

    whole = run / rundir.TRAIN_PARTIAL / "checkpoint-5" / "trainer_state.json"
    err = stop_during(start(*argv, "-q"), run, "train", signal.SIGTERM, whole.is_file)
    assert err == f"stopped by SIGTERM: {RESUMES}\n"
    record = json.loads((run / rundir.MANIFEST).read_text())["stages"]["train"]
    assert (record["status"], record["error"]) == ("failed", "interrupted (SIGTERM)")
    assert whole.is_file()

    block = run / rundir.RERANK_PARTIAL / "zeroshot-00000.parquet"
    err = stop_during(start(*argv, "-q"), run, "rerank", signal.SIGINT, block.is_file)
    assert err == f"interrupted: {RESUMES}\n"
    trained = [e["step"] for e in rundir.read_json(run / rundir.TRAIN_LOG)["log"] if "loss" in e]
    assert min(trained) == 6 and max(trained) == 15  # from the checkpoint, not from step 1

    last = start(*argv)
    _, err = last.communicate(timeout=300)
    assert last.returncode == 0, err
    assert f"resuming from the partial work in {run / rundir.RERANK_PARTIAL}" in err
    assert not (run / rundir.RERANK_PARTIAL).exists() and not (run / rundir.TRAIN_PARTIAL).exists()
    same_files(run, smoke_run)
