"""A training process killed mid-way resumes from its last checkpoint when the stage runs again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from recranker_core import rundir
from recranker_core.stages import REGISTRY
from tests.conftest import ROOT, copy_run


@pytest.mark.slow  # its run fixture is looked up by name, which SLOW_FIXTURES cannot see
@pytest.mark.parametrize("trained", ["smoke_run", "collab_run"])
def test_a_killed_training_resumes_from_its_checkpoint(tmp_path, trained, request):
    """Also with collaborative tokens, whose projector the checkpoint holds beside the adapter."""
    source = request.getfixturevalue(trained)
    run = copy_run(source, tmp_path / "run", llm={"checkpoint_steps": 3})  # of the smoke profile's 15
    manifest = json.loads((run / rundir.MANIFEST).read_text())

    checkpoint = run / rundir.TRAIN_PARTIAL / "checkpoint-6" / "trainer_state.json"
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "recranker_core", "train", "--run", str(run), "-q"], cwd=ROOT, env=env
    )
    deadline = time.monotonic() + 240
    while not checkpoint.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert checkpoint.is_file(), "training ended or stalled before its second checkpoint"
    assert json.loads((run / rundir.MANIFEST).read_text())["stages"]["train"] == manifest["stages"]["train"]

    cut_short = run / rundir.TRAIN_PARTIAL / "checkpoint-9"  # a stop while the Trainer saved its next one
    cut_short.mkdir(exist_ok=True)
    (cut_short / "adapter_model.safetensors").write_bytes(b"\0" * 10)

    summary = REGISTRY["train"].run(run)
    assert summary["steps"] == 15  # the same number of optimizer steps as an uninterrupted run
    trained = [entry["step"] for entry in summary["log"] if "loss" in entry]
    assert min(trained) > 6 and max(trained) == 15  # it went on from the checkpoint, not from step 1
    assert not (run / rundir.TRAIN_PARTIAL).exists()
    assert not list(run.glob(".adapter.partial-*"))  # the killed process's staging folder is gone too
    assert (run / rundir.ADAPTER / "adapter_model.safetensors").is_file()
    uninterrupted = manifest["stages"]["train"]["summary"]["valid_loss_after"]
    assert abs(summary["valid_loss_after"] - uninterrupted) < 1e-3


def test_the_latest_whole_checkpoint_is_resumed_and_those_cut_short_removed(tmp_path):
    from recranker_core.llm.training import last_checkpoint

    # 14 and 15 were killed while the Trainer wrote their state: empty, or cut mid-way.
    states = {3: "{}", 10: '{"global_step": 10}', 12: None, 4: None, 14: "", 15: '{"global_st'}
    for step, state in states.items():
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-10"  # by step, not by name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10", "checkpoint-3"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert last_checkpoint(empty) is None
