"""`accelerate launch` in two CPU processes (gloo): training shares each batch, reranking shares the users,
and the results are those of one process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from recranker_core import rundir
from recranker_core.cli import main
from recranker_core.stages import REGISTRY
from tests.conftest import copy_run


def launch(*command: str) -> subprocess.CompletedProcess:
    """``accelerate launch`` two processes of ``python -m recranker_core COMMAND`` (the command in
    docs/operations.md)."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    accelerate = Path(sys.executable).with_name("accelerate")
    return subprocess.run(
        [
            str(accelerate),
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "--main_process_port",
            str(port),
            "-m",
            "recranker_core",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_rerank_shared_out_among_two_processes_equals_one_process(smoke_run, tmp_path):
    # One thread per process in both, so each prompt is computed the same way; blocks of 2 users.
    one = copy_run(smoke_run, tmp_path / "one", rerank={"threads": 1, "checkpoint_users": 2})
    two = copy_run(smoke_run, tmp_path / "two", rerank={"threads": 1, "checkpoint_users": 2})
    threads = torch.get_num_threads()
    try:
        REGISTRY["rerank"].run(one)
        REGISTRY["evaluate"].run(one)
    finally:
        torch.set_num_threads(threads)

    done = launch("rerank", "--run", str(two))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("reranked 5 test users") == 1  # the main process alone reports and writes
    summary = json.loads((two / rundir.MANIFEST).read_text())["stages"]["rerank"]["summary"]
    assert summary["blocks_per_process"] == [4, 4]  # 8 users in 4 blocks, tuned and zero-shot, shared out
    for name in (rundir.LLM_OUTPUTS, rundir.TASK_SCORES, rundir.RANKINGS):
        pd.testing.assert_frame_equal(pd.read_parquet(two / name), pd.read_parquet(one / name))
    metrics = [json.loads((run / rundir.METRICS).read_text())["methods"] for run in (one, two)]
    assert metrics[0] == metrics[1]
    assert not (two / rundir.RERANK_PARTIAL).exists()


def test_training_launched_in_two_processes(smoke_run, tmp_path):
    run = copy_run(smoke_run, tmp_path / "run")
    (run / rundir.ADAPTER).rename(tmp_path / "old-adapter")
    done = launch("train", "--run", str(run))
    assert done.returncode == 0, done.stderr[-2000:]
    trained = json.loads((run / rundir.MANIFEST).read_text())["stages"]["train"]
    alone = json.loads((smoke_run / rundir.MANIFEST).read_text())["stages"]["train"]["summary"]
    assert trained["status"] == "done" and trained["summary"]["processes"] == 2
    # Each process takes half of every batch: the same examples and optimizer steps as one process.
    assert (trained["summary"]["examples"], trained["summary"]["steps"]) == (
        alone["examples"],
        alone["steps"],
    )
    assert trained["summary"]["valid_loss_after"] < trained["summary"]["valid_loss_before"]
    assert trained["summary"]["valid_loss_after"] == pytest.approx(alone["valid_loss_after"], abs=0.05)
    assert (run / rundir.ADAPTER / "adapter_model.safetensors").is_file()
    # No checkpoints or staging left
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


def test_only_train_and_rerank_may_be_launched_in_several_processes(mini_run, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["sample", "--run", str(mini_run)]) == 2
    assert "'sample' runs in one process; launch only train and rerank in several" in capsys.readouterr().err
