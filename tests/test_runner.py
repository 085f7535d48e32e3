"""The run directory: its files, skipping an identical run, refusing to clobber, and failing cleanly."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd
import pytest

from recranker_core import rundir
from recranker_core.cli import main
from recranker_core.config import load_profile
from recranker_core.errors import InputError
from recranker_core.manifest import Manifest
from recranker_core.runner import create_run, run_all
from recranker_core.stages import REGISTRY
from tests.conftest import MINI, copy_run, smoke_argv

STAGE_ORDER = ["data", "baselines", "evaluate", "sample", "instructions", "train", "rerank"]  # as they run


def test_run_directory_contents(mini_run):
    manifest = json.loads((mini_run / "manifest.json").read_text())
    assert manifest["profile"] == "smoke" and manifest["seed"] == 42
    assert manifest["dataset"]["name"] == "ml-100k-mini" and len(manifest["dataset"]["fingerprint"]) == 16
    assert [s for s in manifest["stages"]] == ["data", "baselines", "evaluate"]
    assert all(s["status"] == "done" and s["seconds"] >= 0 for s in manifest["stages"].values())
    assert manifest["versions"]["lenskit"] == "2025.8.1"
    split = pd.read_parquet(mini_run / "split.parquet")
    assert {"user_id", "item_id", "rating", "timestamp", "role"} <= set(split.columns)
    rankings = pd.read_parquet(mini_run / "rankings.parquet")
    assert list(rankings.columns) == ["user_id", "method", "item_id", "rank"]
    assert rankings["method"].str.startswith("base:").all()
    metrics = json.loads((mini_run / "metrics.json").read_text())
    assert set(metrics["methods"]) == set(rankings["method"])
    assert not list(mini_run.parent.glob(".*"))  # no staging folders left behind


def test_identical_run_is_skipped_and_a_different_one_refused(mini_run, capsys):
    assert main(["baselines", "--dataset", str(MINI), "--profile", "smoke", "--out", str(mini_run)]) == 0
    assert "up to date" in capsys.readouterr().out
    before = (mini_run / "manifest.json").read_text()
    assert main(["baselines", "--dataset", str(MINI), "--profile", "quick", "--out", str(mini_run)]) == 2
    assert "holds another run" in capsys.readouterr().err
    assert (mini_run / "manifest.json").read_text() == before


def test_overwrite_replaces_a_different_run_and_keeps_this_one(mini_run, tmp_path, capsys):
    out = tmp_path / "kept"
    shutil.copytree(mini_run, out)
    before = (out / "manifest.json").read_text()
    args = ["baselines", "--dataset", str(MINI), "--out", str(out), "--overwrite"]
    assert main([*args, "--profile", "smoke"]) == 0 and "up to date" in capsys.readouterr().out
    assert (out / "manifest.json").read_text() == before  # the same run is not made again
    assert main([*args, "--profile", "quick"]) == 0 and "wrote" in capsys.readouterr().out
    assert json.loads((out / "manifest.json").read_text())["profile"] == "quick"


def test_runs_made_before_a_setting_existed_keep_what_it_was_then(mini_run, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(mini_run, out)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["config"]["baselines"]["exclude"]  # made when candidates left out every rated item
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="holds another run \\(different baselines\\)"):
        create_run(str(MINI), out, load_profile("smoke"))


def test_out_folder_with_other_files_is_refused(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    code = main(["baselines", "--dataset", str(MINI), "--profile", "smoke", "--out", str(tmp_path / "notes")])
    assert code == 2 and "not a run directory (no manifest.json)" in capsys.readouterr().err
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_failure_mid_run_keeps_the_old_run_and_leaves_nothing_half_written(mini_run, tmp_path, monkeypatch):
    out = tmp_path / "kept"
    shutil.copytree(mini_run, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("recranker_core.baselines.candidates.run_baselines", broken)
    with pytest.raises(RuntimeError):
        create_run(str(MINI), out, load_profile("quick"), overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["kept"]


def test_evaluate_recomputes_the_same_metrics(mini_run, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(mini_run, out)
    original = json.loads((out / "metrics.json").read_text())
    (out / "metrics.json").unlink()
    assert REGISTRY["evaluate"].run(out) == original


def test_evaluate_names_the_broken_file(mini_run, tmp_path):
    out = tmp_path / "broken"
    shutil.copytree(mini_run, out)
    (out / "rankings.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(InputError, match="rankings.parquet: not a readable Parquet file"):
        REGISTRY["evaluate"].run(out)
    with pytest.raises(InputError, match="not a run directory"):
        REGISTRY["evaluate"].run(tmp_path)


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "..", ""])
def test_run_names_cannot_leave_the_runs_folder(tmp_path, name):
    with pytest.raises(InputError, match="run name"):
        rundir.run_path(tmp_path, name)


def test_run_does_every_stage_once_and_resumes_the_missing_ones(tmp_path, smoke_run):
    out = tmp_path / "full"
    shutil.copytree(smoke_run, out)  # made by the same command, into another folder
    args = ["run", "--dataset", str(MINI), "--profile", "smoke", "--out", str(out)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["stages"]) == STAGE_ORDER
    assert sorted(p.name for p in (out / "instructions").iterdir()) == [
        "test.jsonl",
        "train.jsonl",
        "valid-rerank.jsonl",
        "valid.jsonl",
    ]
    assert main(args) == 0  # nothing left to do
    assert json.loads((out / "manifest.json").read_text()) == manifest
    # A run stopped after `instructions` gets its later stages from `run`.
    for stage in ("train", "rerank"):
        del manifest["stages"][stage]
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main([*args, "--until", "train"]) == 0
    assert "rerank" not in json.loads((out / "manifest.json").read_text())["stages"]
    assert main(args) == 0
    assert "rerank" in json.loads((out / "manifest.json").read_text())["stages"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A smoke run made up to its instructions (no training): the stages whose reuse is tested here."""
    out = tmp_path_factory.mktemp("prepared") / "r"
    run_all(str(MINI), out, load_profile("smoke"), until="instructions")
    return out


@pytest.fixture
def run_copy(prepared, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(prepared, out)
    return out


def written(out) -> dict[str, int]:
    """When the sample and the test prompts were last written."""
    return {
        name: (out / name).stat().st_mtime_ns for name in ("sampled_users.parquet", "instructions/test.jsonl")
    }


def prepare(out, config=None, **options) -> dict[str, int]:
    run_all(str(MINI), out, config or load_profile("smoke"), until="instructions", **options)
    return written(out)


def fewer_pairs():
    config = load_profile("smoke")
    return dataclasses.replace(config, prompts=dataclasses.replace(config.prompts, test_pairs=2))


def test_stages_record_what_they_read_and_wrote(run_copy):
    stages = Manifest.read(run_copy).stages
    assert set(stages["instructions"]["inputs"]) == {
        "split.parquet",
        "items.parquet",
        "candidates.parquet",
        "sampled_users.parquet",
        "config.seed",
        "config.baselines",
        "config.prompts",
        "code",
    }
    sampled = rundir.fingerprint(run_copy / "sampled_users.parquet")
    assert stages["sample"]["outputs"]["sampled_users.parquet"] == sampled
    assert stages["instructions"]["inputs"]["sampled_users.parquet"] == sampled


def test_an_up_to_date_run_is_left_alone(run_copy):
    before = written(run_copy)
    assert prepare(run_copy) == before


def test_a_run_made_before_some_fields_existed_is_up_to_date(run_copy):
    before = written(run_copy)
    manifest = json.loads((run_copy / "manifest.json").read_text())
    del manifest["config"]["prompts"]["popularity"], manifest["config"]["baselines"]["sasrec"]["blocks"]
    (run_copy / "manifest.json").write_text(json.dumps(manifest))
    assert prepare(run_copy) == before  # the missing fields read as their defaults


def test_a_changed_prompt_setting_redoes_the_instructions_not_the_sample(run_copy):
    before = written(run_copy)
    after = prepare(run_copy, fewer_pairs())
    assert after["sampled_users.parquet"] == before["sampled_users.parquet"]
    assert after["instructions/test.jsonl"] != before["instructions/test.jsonl"]
    assert Manifest.read(run_copy).config.prompts.test_pairs == 2


def test_a_lost_output_is_redone_and_an_identical_one_spares_its_successor(run_copy):
    before = written(run_copy)
    (run_copy / "sampled_users.parquet").unlink()
    after = prepare(run_copy)
    assert (run_copy / "sampled_users.parquet").is_file()  # the same seed draws the same sample
    assert after["instructions/test.jsonl"] == before["instructions/test.jsonl"]


def test_an_input_changed_by_hand_redoes_the_stages_that_read_it(run_copy):
    before = written(run_copy)
    sampled = pd.read_parquet(run_copy / "sampled_users.parquet")
    rundir.write_table(run_copy / "sampled_users.parquet", sampled.iloc[: len(sampled) // 2])
    assert prepare(run_copy)["instructions/test.jsonl"] != before["instructions/test.jsonl"]


def test_force_redoes_an_up_to_date_stage(run_copy):
    before = written(run_copy)
    after = prepare(run_copy, force="instructions")
    assert after["sampled_users.parquet"] == before["sampled_users.parquet"]
    assert after["instructions/test.jsonl"] != before["instructions/test.jsonl"]


def test_a_creation_setting_still_makes_another_run(run_copy):
    config = load_profile("smoke")
    other = dataclasses.replace(config, baselines=dataclasses.replace(config.baselines, n_candidates=20))
    with pytest.raises(InputError, match="holds another run \\(different baselines\\)"):
        run_all(str(MINI), run_copy, other)


def test_stage_commands_on_bad_run_directories(tmp_path, mini_run, capsys):
    assert main(["sample", "--run", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    copy = tmp_path / "copy"
    shutil.copytree(mini_run, copy)
    assert main(["instructions", "--run", str(copy)]) == 2
    assert "run the 'sample' stage first" in capsys.readouterr().err
    assert not (copy / "instructions").exists()


def test_show_prints_one_users_prompts(tmp_path, mini_run, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(mini_run, copy)
    assert main(["sample", "--run", str(copy), "-q"]) == 0
    user = str(pd.read_parquet(copy / "sampled_users.parquet")["user_id"].iloc[0])
    assert main(["instructions", "--run", str(copy), "--show", user, "-q"]) == 0
    out = capsys.readouterr().out
    assert "── train · listwise" in out and ">>> answer: (" in out and "The user liked these movies" in out
    assert main(["instructions", "--run", str(copy), "--show", "no-such-user"]) == 2
    assert "no prompts for user 'no-such-user'" in capsys.readouterr().err
    valid = copy / "instructions" / "valid.jsonl"
    valid.write_text('{"messages": [], "meta": {}}\n' + valid.read_text())
    assert main(["instructions", "--run", str(copy), "--show", user]) == 2
    assert f"{valid}: line 1 is not a prompt" in capsys.readouterr().err


def test_a_failed_stage_is_recorded_and_run_resumes_it_and_force_redoes_one(tmp_path, monkeypatch):
    out = tmp_path / "r"
    argv = smoke_argv(out, "--until", "instructions", "-q")

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("recranker_core.instructions.build_instructions", disk_full)
    with pytest.raises(OSError):
        main(argv)
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    assert stages["sample"]["status"] == "done"
    assert stages["instructions"]["status"] == "failed" and "disk full" in stages["instructions"]["error"]
    assert not (out / "instructions").exists()

    monkeypatch.undo()
    sampled = (out / "sampled_users.parquet").stat().st_mtime_ns
    assert main(argv) == 0
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    assert stages["instructions"]["status"] == "done" and "error" not in stages["instructions"]
    assert (out / "sampled_users.parquet").stat().st_mtime_ns == sampled  # the done stage was not redone

    assert main([*argv, "--force", "sample"]) == 0
    assert (out / "sampled_users.parquet").stat().st_mtime_ns != sampled


def test_a_stage_done_by_an_earlier_version_of_its_code_is_redone(tmp_path):
    out, config = tmp_path / "r", load_profile("smoke")
    run_all(str(MINI), out, config, until="sample")
    manifest = Manifest.read(out)
    assert REGISTRY["sample"].stale_reason(out, manifest) is None
    manifest.stage("sample")["inputs"]["code"] -= 1
    assert REGISTRY["sample"].stale_reason(out, manifest) == "its inputs changed (code)"


def test_seeds_repeat_the_llm_stages_and_metrics_report_their_spread(tmp_path, smoke_run, capsys):
    out = tmp_path / "seeds"
    shutil.copytree(smoke_run, out)
    args = ["run", "--dataset", str(MINI), "--profile", "smoke", "--out", str(out), "--seeds", "2", "-q"]
    assert main(args) == 0
    replica = out / "seeds" / "1"
    parent, child = (json.loads((f / "manifest.json").read_text()) for f in (out, replica))
    assert child["replicate"] == 1 and parent["config"]["seeds"] == child["config"]["seeds"] == 2
    assert list(child["stages"]) == STAGE_ORDER
    assert (
        "sample" in parent["stages"]
        and parent["stages"]["sample"]["ended"] < child["stages"]["sample"]["ended"]
    )
    # Another seed draws other users and trains another adapter, on the same candidates and test users.
    assert not pd.read_parquet(out / "sampled_users.parquet").equals(
        pd.read_parquet(replica / "sampled_users.parquet")
    )
    assert (out / "candidates.parquet").read_bytes() == (replica / "candidates.parquet").read_bytes()
    first, second = (json.loads((f / "metrics.json").read_text()) for f in (out, replica))
    assert first["test_users"] == second["test_users"]
    seeds = first["seeds"]
    assert seeds["seeds"] == [42, 43]
    for method, entry in seeds["methods"].items():
        values = [
            first["methods"][method]["metrics"]["NDCG@3"]["value"],
            second["methods"][method]["metrics"]["NDCG@3"]["value"],
        ]
        assert entry["NDCG@3"]["values"] == values
        assert entry["NDCG@3"]["mean"] == pytest.approx(sum(values) / 2, abs=1e-6)
        if method.startswith("base:"):
            assert entry["NDCG@3"]["std"] == 0
    assert {"pointwise", "hybrid"} <= set(seeds["methods"])
    before = {p: p.stat().st_mtime_ns for p in (out / "metrics.json", replica / "adapter")}
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in before} == before  # up to date: nothing redone


def test_a_run_whose_rerank_results_lived_in_its_manifest_evaluates_the_same(tmp_path, smoke_run):
    """Runs made before hybrid.json held every rerank result kept the judged method, its validation NDCG
    and the pairwise accuracies in the manifest's rerank summary: they are read from there."""
    from recranker_core.runfiles import RESULTS_BEFORE, rerank_results

    old = copy_run(smoke_run, tmp_path / "old")
    today = rundir.read_json(old / rundir.HYBRID)
    manifest = json.loads((old / rundir.MANIFEST).read_text())
    manifest["stages"]["rerank"]["summary"] |= {k: today[k] for k in RESULTS_BEFORE}
    (old / rundir.MANIFEST).write_text(json.dumps(manifest))
    rundir.write_json(old / rundir.HYBRID, {k: v for k, v in today.items() if k not in RESULTS_BEFORE})
    assert rerank_results(old, Manifest.read(old)) == today
    before = rundir.read_json(old / rundir.METRICS)
    assert main(["evaluate", "--run", str(old), "-q"]) == 0
    assert rundir.read_json(old / rundir.METRICS)["selected"] == before["selected"]
