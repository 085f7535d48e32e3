"""The bad-input suite: data files, configs, run directories, model folders and the dashboard's URL.

Each case: exit code 2 and one line naming the file, field and value (or a clear message in the
app), no traceback, nothing half-written, earlier results intact. Model answers that fit no label
are counted, not fatal (tests/test_pipeline_smoke.py::test_generate_mode_parses_and_counts_failures)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recranker_core.cli import main
from tests.app.conftest import app, runs  # noqa: F401  (runs: a fixture)

GOOD_HEADER = "user,item,rating,timestamp\n"


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err
    return code, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


CASES = {
    "empty file": ("", "file is empty"),
    "header only": (GOOD_HEADER, "no data rows"),
    "missing column": ("user,item,rating\n1,2,4\n", "missing column 'timestamp'"),
    "non-numeric rating": (GOOD_HEADER + "1,2,4,100\n1,3,five,200\n", "column 'rating', line 3: 'five' is not a number"),
    "non-numeric timestamp": (GOOD_HEADER + "1,2,4,yesterday\n", "column 'timestamp', line 2: 'yesterday'"),
    "negative rating": (GOOD_HEADER + "1,2,-3,100\n", "column 'rating', line 2: '-3' is below 0"),
    "fractional timestamp": (GOOD_HEADER + "1,2,4,10.5\n", "column 'timestamp', line 2: '10.5' is not a whole number"),
    "empty user": (GOOD_HEADER + "1,2,4,100\n,3,4,100\n", "column 'user_id', line 3: empty value"),
    "duplicate rows": (
        GOOD_HEADER + "1,2,4,100\n1,3,4,100\n1,2,5,100\n",
        "duplicate (user, item, timestamp) (1, 2, 100) at lines 2 and 4",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_ratings_csv(tmp_path, capsys, case):
    text, expected = CASES[case]
    path = tmp_path / "ratings.csv"
    path.write_text(text)
    out = tmp_path / "runs" / "x"
    code, err = run_cli(capsys, "baselines", "--dataset", str(path), "--out", str(out), "--profile", "smoke")
    assert code == 2
    line = error_line(err)
    assert str(path) in line and expected in line
    assert not (tmp_path / "runs").exists()


def test_not_utf8(tmp_path, capsys):
    path = tmp_path / "ratings.csv"
    path.write_bytes(GOOD_HEADER.encode() + b"1,2,4,100\n\xff\xfe,3,4,100\n")
    code, err = run_cli(capsys, "data", "--dataset", str(path))
    assert code == 2 and "not utf-8 text" in error_line(err)


def test_missing_file_and_unknown_name(tmp_path, capsys):
    code, err = run_cli(capsys, "data", "--dataset", str(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv': not a known dataset" in error_line(err)
    code, err = run_cli(capsys, "data", "--dataset", "ml-5m")
    assert code == 2 and "dataset 'ml-5m'" in error_line(err)


def test_missing_items_file(tmp_path, capsys):
    (tmp_path / "r.csv").write_text(GOOD_HEADER + "1,2,4,100\n")
    code, err = run_cli(capsys, "data", "--dataset", str(tmp_path / "r.csv"), "--items", str(tmp_path / "i.csv"))
    assert code == 2 and f"{tmp_path / 'i.csv'}: file not found" in error_line(err)


def test_items_file_without_title_column(tmp_path, capsys):
    (tmp_path / "r.csv").write_text(GOOD_HEADER + "1,2,4,100\n")
    (tmp_path / "i.csv").write_text("item,name_of_thing\n2,x\n")
    code, err = run_cli(capsys, "data", "--dataset", str(tmp_path / "r.csv"), "--items", str(tmp_path / "i.csv"))
    assert code == 2 and "missing column 'title'" in error_line(err)


def test_folder_that_is_not_movielens(tmp_path, capsys):
    (tmp_path / "stuff").mkdir()
    code, err = run_cli(capsys, "data", "--dataset", str(tmp_path / "stuff"))
    assert code == 2 and "not a MovieLens folder or zip" in error_line(err)


def test_too_few_likes_for_any_user(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text(GOOD_HEADER + "1,2,4,100\n1,3,5,200\n2,2,1,100\n")
    code, err = run_cli(capsys, "data", "--dataset", str(path))
    assert code == 2 and "no user has 3 or more likes" in error_line(err)


def test_unknown_profile_and_bad_profile_fields(tmp_path, capsys):
    code, err = run_cli(capsys, "data", "--profile", "huge")
    assert code == 2 and "profile 'huge'" in error_line(err)
    bad = tmp_path / "p.toml"
    bad.write_text("[baselines]\nepochs_of_fun = 3\n")
    code, err = run_cli(capsys, "data", "--profile", str(bad))
    assert code == 2 and "unknown field 'baselines.epochs_of_fun'" in error_line(err)


def test_subprocess_exit_code_and_no_traceback(tmp_path):
    """The real entry point, as a user runs it."""
    path = tmp_path / "ratings.csv"
    path.write_text(GOOD_HEADER + "1,2,abc,100\n")
    result = subprocess.run(
        [sys.executable, "-m", "recranker_core", "data", "--dataset", str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {path}: column 'rating', line 2: 'abc' is not a number"]


PROFILES = {
    "value out of range": ("[evaluation]\nci_level = 2\n", "evaluation.ci_level = 2"),
    "too few resamples": ("[evaluation]\nbootstrap_samples = 3\n", "evaluation.bootstrap_samples = 3"),
    "no checkpoints in rerank": ("[rerank]\ncheckpoint_users = 0\n", "rerank.checkpoint_users = 0"),
    "empty SASRec window": ("[baselines]\nsasrec_max_len = 0\n", "baselines.sasrec_max_len = 0 must be positive"),
    "wrong type": ("seed = \"forty-two\"\n", "seed"),
    "vLLM in logits mode": ("[rerank]\nbackend = \"vllm\"\n", "rerank.backend = 'vllm' needs rerank.mode = 'generate'"),
}


@pytest.mark.parametrize("case", PROFILES)
def test_bad_profile_values(tmp_path, capsys, case):
    text, expected = PROFILES[case]
    profile = tmp_path / "p.toml"
    profile.write_text(text)
    code, err = run_cli(capsys, "run", "--profile", str(profile), "--dataset", "ml-100k", "--out", str(tmp_path / "runs" / "x"))
    line = error_line(err)
    assert code == 2 and str(profile) in line and expected in line
    assert not (tmp_path / "runs").exists()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def break_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])


RUN_DIRECTORY = {
    "truncated rankings": ("evaluate", "rankings.parquet", break_truncate, "not a readable Parquet file"),
    "truncated split": ("instructions", "split.parquet", break_truncate, "not a readable Parquet file"),
    "broken manifest": ("sample", "manifest.json", lambda p: p.write_text("{ broken"), "not valid JSON"),
    "missing adapter": ("rerank", "adapter", shutil.rmtree, "no adapter_model.safetensors"),
    "truncated test prompts": ("rerank", "instructions/test.jsonl", break_truncate, "test.jsonl"),
}


@pytest.mark.parametrize("case", RUN_DIRECTORY)
def test_broken_run_directories(tmp_path, capsys, smoke_run, case):
    command, name, damage, expected = RUN_DIRECTORY[case]
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    damage(run / name)
    before = snapshot(run)
    code, err = run_cli(capsys, command, "--run", str(run))
    line = error_line(err)
    assert code == 2 and name.split("/")[-1] in line and expected in line
    after = snapshot(run)
    if name != "manifest.json" and after["manifest.json"] != before["manifest.json"]:
        # A stage that started records its failure, and nothing else changes in the manifest.
        manifest, earlier = json.loads(after.pop("manifest.json")), json.loads(before.pop("manifest.json"))
        record = manifest["stages"].pop(command)
        assert record["status"] == "failed" and expected in record["error"]
        earlier["stages"].pop(command, None)
        assert manifest == earlier
    assert after == before  # nothing half-written, every earlier result intact


def test_model_folder_without_a_tokenizer(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (model / "model.safetensors").write_bytes(b"")
    out = tmp_path / "runs" / "x"
    code, err = run_cli(capsys, "run", "--profile", "smoke", "--model", str(model), "--dataset", "ml-100k", "--out", str(out))
    line = error_line(err)
    assert code == 2 and f"{model}: no tokenizer" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["../../etc", "a/b", ".hidden", "x" * 200])
def test_run_names_in_the_dashboard_url(runs, name):
    at = app(run=name)
    assert not at.exception
    assert f"No run called {name!r}" in at.warning[0].value
    assert at.selectbox(key="run").value == "alpha"
