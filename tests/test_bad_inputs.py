"""The bad-input suite: data files, configs, run directories, model folders and the dashboard's URL.

Each case: exit code 2 and one line naming the file, field and value (or a clear message in the
app), no traceback, nothing half-written, earlier results intact. Model answers that fit no label
are counted, not fatal (tests/test_pipeline_smoke.py::test_generate_mode_parses_and_counts_failures)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from recranker_core.cli import main
from recranker_core.data import load_dataset
from tests.app.conftest import app, runs, shown  # noqa: F401  (runs: a fixture)
from tests.conftest import MINI

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
    "non-numeric rating": (
        GOOD_HEADER + "1,2,4,100\n1,3,five,200\n",
        "column 'rating', line 3: 'five' is not a number",
    ),
    "non-numeric timestamp": (GOOD_HEADER + "1,2,4,yesterday\n", "column 'timestamp', line 2: 'yesterday'"),
    "negative rating": (GOOD_HEADER + "1,2,-3,100\n", "column 'rating', line 2: '-3' is below 0"),
    "fractional timestamp": (
        GOOD_HEADER + "1,2,4,10.5\n",
        "column 'timestamp', line 2: '10.5' is not a whole number",
    ),
    "rating past any scale": (GOOD_HEADER + "1,2,4,100\n1,3,1e9,200\n", "line 3: '1e9' is beyond 100"),
    "timestamp past exact integers": (
        GOOD_HEADER + "1,2,4,100\n1,3,4,1e30\n",
        "column 'timestamp', line 3: '1e30' is beyond 9,007,199,254,740,992",
    ),
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
    assert code == 2 and "not utf-8 text: line 3, byte 0xff (save the file as UTF-8)" in error_line(err)


def test_latin1_names_the_line_of_its_first_accent(tmp_path, capsys):
    """pandas names an offset inside the chunk it was decoding (it said 0); the line is what a user needs."""
    path = tmp_path / "ratings.csv"
    rows = "".join(f"{u},{i},4,{100 + i}\n" for u in range(1, 40) for i in range(1, 20))
    path.write_bytes((GOOD_HEADER + rows).encode() + "99,caf\u00e9,4,100\n".encode("latin-1"))
    code, err = run_cli(capsys, "data", "--dataset", str(path))
    assert code == 2 and f"not utf-8 text: line {39 * 19 + 2}, byte 0xe9" in error_line(err)


def test_a_separator_at_the_end_of_lines_is_dropped_and_an_extra_field_refused(tmp_path, capsys):
    from recranker_core.data.validate import read_text_table

    trailing = tmp_path / "trailing.csv"
    trailing.write_text(GOOD_HEADER + "1,2,4,100,\n1,3,5,200,\n")
    table = read_text_table(trailing, sep=",")
    assert table.to_dict("list") == {
        "user": ["1", "1"], "item": ["2", "3"], "rating": ["4", "5"], "timestamp": ["100", "200"]
    }  # fmt: skip
    extra = tmp_path / "extra.csv"
    extra.write_text(GOOD_HEADER + "1,2,4,100,7\n1,3,5,200,8\n")  # once taken as an index column
    code, err = run_cli(capsys, "data", "--dataset", str(extra))
    assert code == 2 and f"{extra}: line 2 has 5 fields, the header 4" in error_line(err)


def test_missing_file_and_unknown_name(tmp_path, capsys):
    code, err = run_cli(capsys, "data", "--dataset", str(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv': not a known dataset" in error_line(err)
    code, err = run_cli(capsys, "data", "--dataset", "ml-5m")
    assert code == 2 and "dataset 'ml-5m'" in error_line(err)


def test_missing_items_file(tmp_path, capsys):
    (tmp_path / "r.csv").write_text(GOOD_HEADER + "1,2,4,100\n")
    code, err = run_cli(
        capsys, "data", "--dataset", str(tmp_path / "r.csv"), "--items", str(tmp_path / "i.csv")
    )
    assert code == 2 and f"{tmp_path / 'i.csv'}: file not found" in error_line(err)


def test_items_file_without_title_column(tmp_path, capsys):
    (tmp_path / "r.csv").write_text(GOOD_HEADER + "1,2,4,100\n")
    (tmp_path / "i.csv").write_text("item,name_of_thing\n2,x\n")
    code, err = run_cli(
        capsys, "data", "--dataset", str(tmp_path / "r.csv"), "--items", str(tmp_path / "i.csv")
    )
    assert code == 2 and "missing column 'title'" in error_line(err)


def test_folder_that_is_not_movielens(tmp_path, capsys):
    (tmp_path / "stuff").mkdir()
    code, err = run_cli(capsys, "data", "--dataset", str(tmp_path / "stuff"))
    assert code == 2 and "not a dataset this tool reads" in error_line(err)


def test_too_few_likes_for_any_user(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text(GOOD_HEADER + "1,2,4,100\n1,3,5,200\n2,2,1,100\n")
    code, err = run_cli(capsys, "data", "--dataset", str(path))
    assert code == 2 and "no user has 3 or more likes" in error_line(err)


# Archives, folders and files given as --dataset: every mistake is one line, before anything is written.


def mini_zip(
    path: Path, folder: str = "ml-100k/", leave_out: tuple[str, ...] = (), folder_entry: bool = True
) -> Path:
    """The fixture dataset zipped as GroupLens ships it (a folder entry first), or otherwise."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if folder and folder_entry:
            archive.writestr(folder, "")
        for file in sorted(MINI.iterdir()):
            if file.name not in leave_out:
                archive.write(file, folder + file.name)
    return path


def cut_in_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damage_ratings(path: Path) -> None:
    """Flip bytes inside u.data's compressed data; the archive's directory stays whole."""
    with zipfile.ZipFile(path) as archive:
        member = archive.getinfo("ml-100k/u.data")
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra) + 100
    content = bytearray(path.read_bytes())
    content[start : start + 64] = bytes(b ^ 0xFF for b in content[start : start + 64])
    path.write_bytes(bytes(content))


def two_datasets(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for folder in ("a/", "b/"):
            for file in sorted(MINI.iterdir()):
                archive.write(file, folder + file.name)


ARCHIVES = {
    "not a zip": (
        lambda p: p.write_text("<html>404 Not Found</html>\n"),
        "not a zip archive, or a damaged or truncated one",
    ),
    "cut short": (lambda p: cut_in_half(mini_zip(p)), "not a zip archive, or a damaged or truncated one"),
    "empty": (lambda p: zipfile.ZipFile(p, "w").close(), "the zip archive is empty"),
    "no ratings file": (
        lambda p: zipfile.ZipFile(p, "w").writestr("ml-100k/README", "hello"),
        "no u.data, ratings.dat or ratings.csv in the zip archive (1 file: 'ml-100k/README')",
    ),
    "ratings without titles": (
        lambda p: mini_zip(p, leave_out=("u.item",)),
        "its folder 'ml-100k' has u.data but not u.item (an ML-100K MovieLens dataset has u.data, u.item,",
    ),
    "two datasets": (two_datasets, "the zip archive holds several datasets (a/, b/)"),
    "damaged ratings": (lambda p: damage_ratings(mini_zip(p)), "not a readable ML-100K dataset ("),
}


@pytest.mark.parametrize("case", ARCHIVES)
def test_bad_zip_archives(tmp_path, capsys, case):
    make, expected = ARCHIVES[case]
    path = tmp_path / "ml-100k.zip"
    make(path)
    out = tmp_path / "runs" / "x"
    code, err = run_cli(capsys, "baselines", "--dataset", str(path), "--out", str(out), "--profile", "smoke")
    line = error_line(err)
    assert code == 2 and line.startswith(f"error: {path}: ") and expected in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "layout", ["folder under another name", "zip without a folder entry", "zip of the bare files"]
)
def test_movielens_layouts_lenskit_cannot_detect_are_read_by_their_files(tmp_path, layout):
    """lenskit detects ML-100K from the folder's name or the zip's first entry (else a traceback);
    the files decide here, so each of these reads exactly as the fixture folder does."""
    if layout == "folder under another name":
        path = tmp_path / "my movies"
        shutil.copytree(MINI, path)
    else:
        path = mini_zip(
            tmp_path / "movies.zip",
            folder="" if layout == "zip of the bare files" else "ml-100k/",
            folder_entry=False,
        )
    assert load_dataset(str(path)).fingerprint() == load_dataset(str(MINI)).fingerprint()


def test_folder_holding_the_dataset_one_level_down(tmp_path, capsys):
    shutil.copytree(MINI, tmp_path / "downloads" / "ml-100k")
    code, err = run_cli(capsys, "data", "--dataset", str(tmp_path / "downloads"))
    line = error_line(err)
    assert code == 2 and "not a dataset this tool reads" in line
    assert line.endswith(f"did you mean --dataset {tmp_path / 'downloads' / 'ml-100k'}?")


def test_folder_with_a_ratings_csv_of_ones_own(tmp_path, capsys):
    """ratings.csv alone is no MovieLens folder; the message says to pass the file (the generic format)."""
    (tmp_path / "ratings.csv").write_text(GOOD_HEADER + "1,2,4,100\n")
    code, err = run_cli(capsys, "data", "--dataset", str(tmp_path))
    line = error_line(err)
    assert code == 2 and f"{tmp_path}: it has ratings.csv but not movies.csv, tags.csv" in line
    assert line.endswith(f"pass the file: --dataset {tmp_path / 'ratings.csv'}")


def test_items_file_that_is_a_folder(tmp_path, capsys):
    (tmp_path / "r.csv").write_text(GOOD_HEADER + "1,2,4,100\n")
    (tmp_path / "items").mkdir()
    code, err = run_cli(
        capsys, "data", "--dataset", str(tmp_path / "r.csv"), "--items", str(tmp_path / "items")
    )
    assert code == 2 and f"{tmp_path / 'items'}: a folder, not a file" in error_line(err)


def as_a_user() -> list[str]:
    """A command prefix under which file permissions hold: none for a user; for root, setpriv without the
    capabilities that override them (skipped where that is not allowed)."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    if (
        shutil.which("setpriv") is None
        or subprocess.run([*prefix, "true"], check=False, capture_output=True).returncode
    ):
        pytest.skip("cannot run without root's permission to read and write anything")
    return prefix


def cli_process(prefix: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "recranker_core", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )


def test_unreadable_dataset_and_unwritable_out(tmp_path):
    prefix = as_a_user()
    locked = tmp_path / "ratings.csv"
    locked.write_text(GOOD_HEADER + "1,2,4,100\n")
    locked.chmod(0)
    shut = tmp_path / "shut"
    shut.mkdir()
    shut.chmod(0o555)
    try:
        result = cli_process(prefix, "data", "--dataset", str(locked))
        assert result.returncode == 2
        assert result.stderr.splitlines() == [f"error: {locked}: cannot read it (permission denied)"]
        profile = tmp_path / "locked.toml"
        profile.write_text("seed = 1\n")
        profile.chmod(0)
        result = cli_process(prefix, "data", "--profile", str(profile), "--dataset", str(MINI))
        assert result.stderr.splitlines() == [f"error: {profile}: cannot read it (permission denied)"]
        result = cli_process(
            prefix, "run", "--dataset", str(MINI), "--out", str(shut / "run"), "--profile", "smoke"
        )
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"error: {shut / 'run'}: cannot write in {shut} (permission denied); choose another --out"
        ]
        assert list(shut.iterdir()) == []
    finally:
        locked.chmod(0o644)
        shut.chmod(0o755)


@pytest.mark.parametrize("command", ["evaluate", "run", "report"])
def test_a_read_only_run_or_report_folder_is_one_line_and_changes_nothing(tmp_path, mini_run, command):
    prefix = as_a_user()
    run, shut = tmp_path / "run", tmp_path / "reports"
    shutil.copytree(mini_run, run)
    shut.mkdir()
    args = {
        "evaluate": ["evaluate", "--run", str(run)],
        "run": ["run", "--profile", "smoke", "--dataset", str(MINI), "--out", str(run), "--until", "sample"],
        "report": ["report", "--run", str(run), "--out", str(shut / "report.html")],
    }[command]
    folder = shut if command == "report" else run
    before = snapshot(run)
    for path in (run, shut):
        path.chmod(0o555)
    try:
        result = cli_process(prefix, *args)
    finally:
        for path in (run, shut):
            path.chmod(0o755)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {folder}: cannot write in it (permission denied); earlier results are kept"]
    assert snapshot(run) == before and list(shut.iterdir()) == []


# Datasets too small for a run (docs/data.md, "Enough data"): refused after the split, before any fitting.


def likes_csv(path: Path, likes: dict[int, int], catalogue: int) -> Path:
    """User u likes likes[u] different items of 1..catalogue (rating 5), one after another."""
    rows = [
        f"{user},{(7 * user + k) % catalogue + 1},5,{100 * user + k}\n"
        for user, n in likes.items()
        for k in range(n)
    ]
    path.write_text(GOOD_HEADER + "".join(rows))
    return path


TOO_SMALL = {
    "one user with three likes": (
        {1: 3},
        20,
        "only 1 user has 3 or more likes (rating >= 4); a run needs at least 10",
    ),
    "nine users": ({u: 6 for u in range(1, 10)}, 50, "only 9 users have 3 or more likes (rating >= 4)"),
    "one user to sample from": (
        {**{u: 3 for u in range(1, 12)}, 12: 4},
        60,
        (
            "only 1 user has 4 or more likes (rating >= 4), two of them for training; "
            "instruction data is drawn from at least 10 such users"
        ),
    ),
    "two users to sample from": (
        {**{u: 3 for u in range(1, 11)}, 11: 4, 12: 5},
        60,
        "only 2 users have 4 or more likes",
    ),
    "catalogue no longer than a list": (
        {u: 5 for u in range(1, 13)},
        8,
        (
            "only 8 items are liked in training (of 8 rated); "
            "candidate lists of 10 ([baselines] n_candidates) need at least 11"
        ),
    ),
    "lists short for most users": (
        {u: 8 for u in range(1, 13)},
        16,
        "only 0 of 12 users have 10 items to recommend (liked in training, not rated by them before; 16 ",
    ),
}


@pytest.mark.parametrize("case", TOO_SMALL)
def test_datasets_too_small_for_a_run(tmp_path, capsys, case):
    likes, catalogue, expected = TOO_SMALL[case]
    path = likes_csv(tmp_path / "ratings.csv", likes, catalogue)
    code, err = run_cli(capsys, "data", "--profile", "smoke", "--dataset", str(path))
    line = error_line(err)
    assert code == 2 and line.startswith(f"error: {path}: {expected}")


def test_one_user_with_three_likes_creates_no_run(tmp_path, capsys):
    """Before: fitted every model and wrote a run with no metrics, exit 0."""
    path = likes_csv(tmp_path / "ratings.csv", {1: 3}, 20)
    out = tmp_path / "runs" / "x"
    code, err = run_cli(capsys, "baselines", "--profile", "smoke", "--dataset", str(path), "--out", str(out))
    assert code == 2 and f"{path}: only 1 user has 3 or more likes" in error_line(err)
    assert not (tmp_path / "runs").exists()  # no run, no staging folder, no lock: nothing at all


@pytest.mark.parametrize("bad", ["not a zip", "too small"])
def test_bad_dataset_leaves_an_existing_run_untouched(tmp_path, capsys, smoke_run, bad):
    run = tmp_path / "runs" / "run"
    shutil.copytree(smoke_run, run)
    before = snapshot(run)
    if bad == "not a zip":
        dataset = tmp_path / "ml-100k.zip"
        dataset.write_text("not a zip")
    else:
        dataset = likes_csv(tmp_path / "ratings.csv", {u: 6 for u in range(1, 10)}, 50)
    code, err = run_cli(
        capsys, "baselines", "--profile", "smoke", "--dataset", str(dataset), "--out", str(run), "--overwrite"
    )
    assert code == 2 and str(dataset) in error_line(err)
    assert snapshot(run) == before and [p.name for p in run.parent.iterdir()] == ["run"]


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
    assert result.stderr.strip().splitlines() == [
        f"error: {path}: column 'rating', line 2: 'abc' is not a number"
    ]


PROFILES = {
    "value out of range": ("[evaluation]\nci_level = 2\n", "evaluation.ci_level = 2"),
    "too few resamples": ("[evaluation]\nbootstrap_samples = 3\n", "evaluation.bootstrap_samples = 3"),
    "no checkpoints in rerank": ("[rerank]\ncheckpoint_users = 0\n", "rerank.checkpoint_users = 0"),
    "empty SASRec window": ("[baselines.sasrec]\nmax_len = 0\n", "baselines.sasrec.max_len = 0"),
    "wrong type": ('seed = "forty-two"\n', "seed"),
    "negative seed": ("seed = -1\n", "seed = -1: input should be greater than or equal to 0"),
    "seed beyond scikit-learn's": ("seed = 99999999999999999999\n", "less than or equal to 2147483647"),
    "infinite epochs": ("[llm]\nepochs = inf\n", "llm.epochs = inf: input should be a finite number"),
    "NaN hybrid weight": ("[rerank]\nhybrid_weights = [nan, 0.05, 0.025]\n", "rerank.hybrid_weights.0 = nan"),
    "NaN SASRec rate": ("[baselines.sasrec]\nlearning_rate = nan\n", "baselines.sasrec.learning_rate = nan"),
    "a model named twice": ('[baselines]\nmodels = ["implicitmf", "ease", "ease"]\n', "names 'ease' twice"),
    "a hint model named twice": ('[prompts]\nhint_models = ["ease", "ease"]\n', "names 'ease' twice"),
    "a LoRA layer named twice": ('[llm]\ntarget_modules = ["q_proj", "q_proj"]\n', "names 'q_proj' twice"),
    "terabytes of draws": ("[sampling]\nn_users = 1000000000000\n", "less than or equal to 10000000"),
    "millions of resamples": ("[evaluation]\nbootstrap_samples = 10000000\n", "less than or equal to 100000"),
    "a cut-off beyond the lists": (
        "[evaluation]\nks = [3, 20]\n",
        "evaluation.ks = [3, 20]: 20 is more than the candidate lists hold (baselines.n_candidates = 10)",
    ),
    "a listwise answer beyond the lists": (
        "[baselines]\nn_candidates = 4\n[evaluation]\nks = [3]\n",
        "prompts.listwise_answer = 5 is more than the candidate lists hold (baselines.n_candidates = 4)",
    ),
    "more pairs than the candidates have": (
        "[prompts]\ntest_pairs = 46\n",
        "prompts.test_pairs = 46 is more than the 45 pairs of 10 candidates",
    ),
    "SASRec heads that do not divide its embedding": (
        "[baselines.sasrec]\nembedding_size = 30\nheads = 4\n",
        "embedding_size should be a multiple of heads",
    ),
    "a model setting given as text": (
        '[baselines.lightgcn]\nlayers = "2"\n',
        "input should be a valid integer",
    ),
    "vLLM in logits mode": (
        '[rerank]\nbackend = "vllm"\n',
        "rerank.backend = 'vllm' needs rerank.mode = 'generate'",
    ),
}


@pytest.mark.parametrize("case", PROFILES)
def test_bad_profile_values(tmp_path, capsys, case):
    text, expected = PROFILES[case]
    profile = tmp_path / "p.toml"
    profile.write_text(text)
    code, err = run_cli(
        capsys,
        "run",
        "--profile",
        str(profile),
        "--dataset",
        "ml-100k",
        "--out",
        str(tmp_path / "runs" / "x"),
    )
    line = error_line(err)
    assert code == 2 and str(profile) in line and expected in line
    assert not (tmp_path / "runs").exists()


MEMORY = {
    "embeddings too large": (
        2**30,
        "[baselines]\nembedding_size = 1000000\n",
        "baseline implicitmf on 40 users and 150 items would need about 7453.4 GiB",
        "lower baselines.embedding_size (now 1000000)",
    ),
    "EASE on too many items": (
        250_000,  # EASE's 270 KB on 150 items; ImplicitMF's 25 KB with 8 factors fits
        '[baselines]\nembedding_size = 8\nmodels = ["implicitmf", "ease"]\n'
        '[prompts]\nhint_models = ["ease"]\nrating_hint_model = ""\n',
        "baseline ease on 40 users and 150 items would need about 0.0 GiB",
        "leave ease out of baselines.models",
    ),
    "too many draws": (
        2**30,
        "[sampling]\nn_users = 1000000\n",
        "sampling.n_users = 1,000,000 (5,000,000 instruction examples) would need about 48.7 GiB",
        "sample fewer users",
    ),
    "too many resamples": (
        40_000,  # 200 resamples of 40 users: 64 KB
        None,
        "evaluation.bootstrap_samples = 200 over 40 users would need about 0.0 GiB",
        "use fewer resamples",
    ),
}


@pytest.mark.parametrize("case", MEMORY)
def test_allocations_that_would_not_fit_in_memory_are_refused_first(
    tmp_path, capsys, monkeypatch, mini_run, case
):
    from recranker_core import memory

    free, text, what, remedy = MEMORY[case]
    monkeypatch.setattr(memory, "available", lambda: free)
    out = tmp_path / "runs" / "x"
    if text is None:
        shutil.copytree(mini_run, out)
        args = ["evaluate", "--run", str(out)]
    else:
        profile = tmp_path / "p.toml"
        profile.write_text(text)
        args = ["run", "--profile", str(profile), "--dataset", str(MINI), "--out", str(out)]
        args += ["--until", "instructions" if "n_users" in text else "sample"]
    before = snapshot(out) if out.exists() else None
    code, err = run_cli(capsys, *args)
    line = error_line(err)
    assert code == 2 and what in line and f"more than the {memory.gib(free)} free" in line and remedy in line
    if before is None:
        assert not out.exists()
    else:
        assert_kept(out, before, "evaluate", what)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_kept(run: Path, before: dict[str, bytes], stage: str, expected: str) -> None:
    """Nothing half-written and every earlier result intact; a stage that started records its failure, and
    nothing else changes in the manifest."""
    after = snapshot(run)
    if after["manifest.json"] != before["manifest.json"]:
        manifest, earlier = json.loads(after.pop("manifest.json")), json.loads(before["manifest.json"])
        record = manifest["stages"].pop(stage)
        assert record["status"] == "failed" and expected in record["error"]
        earlier["stages"].pop(stage, None)
        assert manifest == earlier
        before = {k: v for k, v in before.items() if k != "manifest.json"}
    assert after == before


def break_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])


RUN_DIRECTORY = {
    "truncated rankings": ("evaluate", "rankings.parquet", break_truncate, "not a readable Parquet file"),
    "truncated split": ("instructions", "split.parquet", break_truncate, "not a readable Parquet file"),
    "broken manifest": ("sample", "manifest.json", lambda p: p.write_text("{ broken"), "not valid JSON"),
    "missing adapter": ("rerank", "adapter", shutil.rmtree, "no adapter_model.safetensors"),
    "truncated test prompts": ("rerank", "instructions/test.jsonl", break_truncate, "test.jsonl"),
    "prompts without meta": (
        "rerank",
        "instructions/test.jsonl",
        lambda p: p.write_text("".join(json.dumps({"messages": [{}, {}]}) + "\n" for _ in range(3))),
        "line 1 is not a prompt (it needs 'messages' and 'meta')",
    ),
    "a rankings file with other columns": (
        "evaluate",
        "rankings.parquet",
        lambda p: pd.read_parquet(p).rename(columns={"rank": "position"}).to_parquet(p),
        "no column rank (it has user_id, method, item_id, position)",
    ),
    "random-byte adapter": (
        "rerank",
        "adapter/adapter_model.safetensors",
        lambda p: p.write_bytes(os.urandom(4096)),
        "not a safetensors file",
    ),
    "adapter config not JSON": (
        "rerank",
        "adapter/adapter_config.json",
        lambda p: p.write_text("r: 8"),
        "not valid JSON",
    ),
    "a train record without its model": (
        "rerank",
        "manifest.json",
        lambda p: p.write_text(
            json.dumps(
                (m := json.loads(p.read_text()))
                | {
                    "stages": m["stages"]
                    | {"train": {k: v for k, v in m["stages"]["train"].items() if k != "model"}}
                }
            )
        ),
        "stages.train has no 'model'",
    ),
    "stages a list": (
        "evaluate",
        "manifest.json",
        lambda p: p.write_text(json.dumps(json.loads(p.read_text()) | {"stages": []})),
        "'stages' is a list, not an object",
    ),
    "a stage's record a string": (
        "evaluate",
        "manifest.json",
        lambda p: p.write_text(json.dumps(json.loads(p.read_text()) | {"stages": {"data": "done"}})),
        "stages.data is a str, not an object",
    ),
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
    assert_kept(run, before, command, expected)


# --out: checked before the data is read; never replaces what is not a run.


@pytest.mark.parametrize("command", ["baselines", "run"])
def test_out_that_is_a_file_or_inside_one(tmp_path, capsys, command):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    cases = {
        notes: f"{notes}: is a file, not a run folder",
        notes / "run": f"{notes / 'run'}: {notes} is a file, not a folder",
    }
    for out, expected in cases.items():
        code, err = run_cli(capsys, command, "--profile", "smoke", "--dataset", str(MINI), "--out", str(out))
        assert code == 2 and expected in error_line(err)
    assert notes.read_text() == "mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # no staging folder, no progress file


def test_overwrite_never_replaces_a_folder_that_is_not_a_run(tmp_path, capsys):
    """Before: `--out` naming the dataset's own folder with --overwrite deleted the dataset."""
    folder = tmp_path / "ml-100k"
    shutil.copytree(MINI, folder)
    before = snapshot(folder)
    code, err = run_cli(
        capsys,
        "baselines",
        "--profile",
        "smoke",
        "--dataset",
        str(folder),
        "--out",
        str(folder),
        "--overwrite",
    )
    assert (
        code == 2
        and f"{folder}: not a run directory (no manifest.json); choose another --out" in error_line(err)
    )
    assert snapshot(folder) == before and list(tmp_path.iterdir()) == [folder]


@pytest.mark.parametrize("out", [".", ".."])
def test_out_that_names_no_folder(tmp_path, capsys, monkeypatch, out):
    """Before: `--out .` in an empty folder ended in a traceback."""
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    code, err = run_cli(capsys, "baselines", "--profile", "smoke", "--dataset", str(MINI), "--out", out)
    assert code == 2 and f"--out {out}: name the run folder to create, e.g. runs/NAME" in error_line(err)
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*")] == [Path("a"), Path("a/b")]


def test_model_folder_without_a_tokenizer(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (model / "model.safetensors").write_bytes(b"")
    out = tmp_path / "runs" / "x"
    code, err = run_cli(
        capsys, "run", "--profile", "smoke", "--model", str(model), "--dataset", "ml-100k", "--out", str(out)
    )
    line = error_line(err)
    assert code == 2 and f"{model}: no tokenizer" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.usefixtures("runs")
@pytest.mark.parametrize("name", ["../../etc", "a/b", ".hidden", "x" * 200])
def test_run_names_in_the_dashboard_url(name):
    at = app(run=name)
    assert not at.exception
    assert f"No run called {name!r}" in shown(at.warning[0].value)
    assert at.selectbox(key="run").value == "alpha"


def refused_model_run(capsys, tmp_path, model, *options: str) -> str:
    """The error line of a smoke `run` with ``model`` (nothing may be written: the check comes first)."""
    out = tmp_path / "runs" / "x"
    argv = ["run", "--profile", "smoke", "--model", str(model), "--dataset", str(MINI), "--out", str(out)]
    code, err = run_cli(capsys, *argv, *options)
    assert code == 2 and not (tmp_path / "runs").exists()
    return error_line(err)


@pytest.mark.parametrize(
    "case",
    [
        "config not json",
        "unsupported architecture",
        "weights not safetensors",
        "tokenizer not json",
        "too big",
        "no bf16",
    ],
)
def test_model_folders_the_llm_stages_cannot_use_are_refused_before_any_stage(
    tmp_path, capsys, case, monkeypatch
):
    from recranker_core.llm import checks, device
    from tests.llm.architectures import tiny_model

    model = tiny_model(tmp_path / "model", "qwen2")
    config = model / "config.json"
    if case == "config not json":
        config.write_text(config.read_text()[:-20])
        expected = f"{config}: not a readable JSON file"
    elif case == "unsupported architecture":
        config.write_text(json.dumps(json.loads(config.read_text()) | {"model_type": "gpt_neox"}))
        expected = "model_type 'gpt_neox' is not supported; supported: Llama (llama), Qwen2 (qwen2)"
    elif case == "weights not safetensors":
        (model / "model.safetensors").write_bytes(b"PK\x03\x04 a zip, not safetensors")
        expected = f"{model / 'model.safetensors'}: not a safetensors file"
    elif case == "tokenizer not json":
        (model / "tokenizer.json").write_text("{ broken")
        expected = f"{model}: the tokenizer does not load (JSONDecodeError: "
    elif case == "too big":
        monkeypatch.setattr(checks, "device_memory", lambda device: 1000)
        expected = "GiB to train with these settings, more than the device's 0.0 GiB"
    else:
        monkeypatch.setattr(device, "native_bf16_cpu", lambda: False)
        profile = tmp_path / "bf16.toml"
        smoke = (Path("recranker_core/profiles/smoke.toml")).read_text()
        profile.write_text(smoke.replace('dtype = "float32"', 'dtype = "bfloat16"'))
        line = refused_model_run(capsys, tmp_path, model, "--profile", str(profile))
        assert "llm.dtype = 'bfloat16': this CPU (no AMX or AVX512-BF16) has no native bf16" in line
        return
    assert expected in refused_model_run(capsys, tmp_path, model)


def test_lora_targets_the_model_lacks_are_refused_before_any_stage(tmp_path, capsys):
    from tests.llm.architectures import tiny_model

    model = tiny_model(tmp_path / "model", "llama")
    profile = tmp_path / "gpt2-targets.toml"
    profile.write_text(
        Path("recranker_core/profiles/smoke.toml").read_text() + 'target_modules = ["c_attn"]\n'
    )
    line = refused_model_run(capsys, tmp_path, model, "--profile", str(profile))
    assert f"{model}: llm.target_modules = ['c_attn']: the model has none of them" in line


def test_an_adapter_too_big_to_train_is_refused_before_any_stage(tmp_path, capsys):
    from tests.llm.architectures import tiny_model

    model = tiny_model(tmp_path / "model", "llama")
    profile = tmp_path / "huge-rank.toml"
    profile.write_text(Path("recranker_core/profiles/smoke.toml").read_text() + "lora_r = 100000000\n")
    line = refused_model_run(capsys, tmp_path, model, "--profile", str(profile))
    assert "needs about" in line and "or llm.lora_r" in line


def test_scoring_batches_too_big_for_the_device_are_refused_before_any_stage(tmp_path, capsys):
    from tests.llm.architectures import tiny_model

    model = tiny_model(tmp_path / "model", "llama")
    profile = tmp_path / "huge-batches.toml"
    smoke = Path("recranker_core/profiles/smoke.toml").read_text()
    profile.write_text(f"{smoke}\n[rerank]\nbatch_tokens = 100000000000\n")
    line = refused_model_run(capsys, tmp_path, model, "--profile", str(profile))
    assert "rerank.batch_tokens = 100000000000: scoring with the model" in line and "lower it" in line


@pytest.mark.parametrize(
    "argv, wrong",
    [
        (["run", "--seeds", "abc", "--out", "x"], "argument --seeds: invalid int value: 'abc'"),
        (["run", "--until", "bogus", "--out", "x"], "argument --until: invalid choice: 'bogus'"),
        (["rerank"], "the following arguments are required: --run"),
        (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
    ],
)
def test_argument_errors_are_two_lines(capsys, argv, wrong):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    lines = capsys.readouterr().err.splitlines()
    assert stopped.value.code == 2 and len(lines) == 2
    assert lines[0].startswith("error: python -m recranker_core") and wrong in lines[0]
    assert lines[1].startswith("see: python -m recranker_core") and lines[1].endswith("--help")


@pytest.mark.parametrize("seeds", ["0", "1001"])
def test_seeds_out_of_range_on_the_command_line(tmp_path, capsys, seeds):
    out = tmp_path / "runs" / "x"
    code, err = run_cli(
        capsys, "run", "--profile", "smoke", "--dataset", str(MINI), "--out", str(out), "--seeds", seeds
    )
    assert code == 2 and error_line(err) == f"error: --seeds {seeds}: give 1 to 1000"
    assert not out.parent.exists()


def test_an_interruption_says_what_was_kept(capsys, monkeypatch):
    from recranker_core import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "rerank", interrupted)
    assert main(["rerank", "--run", "runs/x"]) == 130
    assert capsys.readouterr().err.strip() == (
        "interrupted: the stages that had finished are kept; the same command resumes"
    )


@pytest.mark.slow
def test_quiet_runs_print_only_the_result(tmp_path):
    """`-q`: no progress bar, no training log, no stage chatter; the last line on stdout says where the run
    is. Through the real entry point, so a progress bar imported before `-q` is read would show here."""
    out = tmp_path / "run"
    argv = ["run", "--profile", "smoke", "--dataset", str(MINI), "--out", str(out), "-q"]
    result = subprocess.run(
        [sys.executable, "-m", "recranker_core", *argv],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == f"done: {out}\n"


HOLD_LOCK = """
import sys, time
from pathlib import Path
from recranker_core.runlock import writing
with writing(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("command", ["run", "baselines", "train"])
def test_a_second_writer_of_a_run_is_refused_naming_the_first(tmp_path, capsys, command):
    out = tmp_path / "runs" / "x"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        if command == "train":
            argv = ["train", "--run", str(out)]
        else:
            argv = [command, "--profile", "smoke", "--dataset", str(MINI), "--out", str(out)]
        code, err = run_cli(capsys, *argv)
        assert code == 2
        assert f"{out}: another process is writing this run (pid {holder.pid})" in error_line(err)
        assert not out.exists()  # the second writer wrote nothing
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_process_that_has_gone_is_taken_over(tmp_path):
    from recranker_core.runlock import lock_path, writing

    out = tmp_path / "runs" / "x"
    out.parent.mkdir(parents=True)
    lock_path(out).write_text("999999")  # a killed writer's file, no longer held by anyone
    with writing(out):
        assert lock_path(out).read_text() == str(os.getpid())
    assert not lock_path(out).exists()  # released and removed at the end of the block
    with writing(out):
        pass


@pytest.mark.parametrize("target", ["a folder", "nothing"])
def test_out_that_is_a_symbolic_link_is_refused(tmp_path, capsys, target):
    """Renaming the finished run into place replaced the link (a link to a folder) or left a hidden
    complete run and a traceback (a dangling link)."""
    real = tmp_path / "elsewhere"
    if target == "a folder":
        real.mkdir()
    link = tmp_path / "runs" / "x"
    link.parent.mkdir()
    link.symlink_to(real)
    code, err = run_cli(capsys, "baselines", "--profile", "smoke", "--dataset", str(MINI), "--out", str(link))
    assert code == 2 and f"{link}: is a symbolic link" in error_line(err)
    assert link.is_symlink() and sorted(p.name for p in link.parent.iterdir()) == ["x"]


def test_a_full_disk_is_one_line_and_keeps_earlier_results(tmp_path, capsys, monkeypatch, mini_run):
    import errno

    from recranker_core import cli

    run = tmp_path / "run"
    shutil.copytree(mini_run, run)
    before = snapshot(run)

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(run / "split.parquet"))

    monkeypatch.setitem(cli.COMMANDS, "evaluate", full)
    code, err = run_cli(capsys, "evaluate", "--run", str(run))
    assert code == 2
    assert (
        error_line(err)
        == f"error: {run / 'split.parquet'}: No space left on device; earlier results are kept"
    )
    assert snapshot(run) == before
