"""The run directory: its files, safe writing, and reading it back (for the CLI and the app).

Only json and Parquet are read from a run directory; nothing is unpickled.
docs/run-format.md describes every file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recranker_core.errors import InputError
from recranker_core.prompt_record import REQUIRED, Prompt

log = logging.getLogger("recranker")

MANIFEST = "manifest.json"
METRICS = "metrics.json"
RANKINGS = "rankings.parquet"
SPLIT = "split.parquet"
ITEMS = "items.parquet"
CANDIDATES = "candidates.parquet"
USER_EMBEDDINGS = "user_embeddings.parquet"
SAMPLED_USERS = "sampled_users.parquet"
USER_SAMPLING = "user_sampling.parquet"
INSTRUCTIONS = "instructions"
ADAPTER = "adapter"
TRAIN_LOG = "train_log.json"
LLM_OUTPUTS = "llm_outputs.parquet"
TASK_SCORES = "task_scores.parquet"
HYBRID = "hybrid.json"
EVALUATION_USERS = "evaluation_users.parquet"
TRAIN_PARTIAL = ".train-checkpoints"
"""The Trainer's checkpoints while the train stage runs, so that it resumes after a stop."""
RERANK_PARTIAL = ".rerank-partial"
"""Blocks of scored users kept while the rerank stage runs, so that it resumes after a stop."""
REPLICATES = "seeds"
"""Replicate folders seeds/1, seeds/2, ... of a run with several seeds (see runner.replicate_folders)."""
TRAIN_EXAMPLES = f"{INSTRUCTIONS}/train.jsonl"
"""The instructions the LLM is tuned on (prompts with their answers)."""
VALID_EXAMPLES = f"{INSTRUCTIONS}/valid.jsonl"
"""The instructions whose loss the train stage reports before and after tuning."""
TEST_PROMPTS = f"{INSTRUCTIONS}/test.jsonl"
"""The test users' rerank prompts."""
VALID_RERANK_PROMPTS = f"{INSTRUCTIONS}/valid-rerank.jsonl"
"""The validation users' rerank prompts, which tune the hybrid and choose the judged method."""
INSTRUCTION_FILES = tuple(
    Path(path).name for path in (TRAIN_EXAMPLES, VALID_EXAMPLES, TEST_PROMPTS, VALID_RERANK_PROMPTS)
)
COLLAB_VECTORS = f"{INSTRUCTIONS}/collab_vectors.parquet"
"""The user and item vectors that collaborative tokens carry (only with prompts.collab_tokens)."""
FORMAT_VERSION = 1
RUNS_ENV = "RECRANKER_RUNS"
# A run name a user may type or put in a URL: one path component, no dot-files.
RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


COLUMNS: dict[str, tuple[str, ...]] = {
    RANKINGS: ("user_id", "method", "item_id", "rank"),
    SPLIT: ("user_id", "item_id", "rating", "timestamp", "feedback", "seq", "role"),
    ITEMS: ("item_id", "title", "genres"),
    CANDIDATES: ("target", "model", "user_id", "item_id", "rank", "score"),
    USER_EMBEDDINGS: ("user_id", "embedding"),
    SAMPLED_USERS: ("draw", "user_id", "source", "cluster", "pool_count"),
    USER_SAMPLING: ("user_id", "train_likes", "cluster", "pool_count", "times_sampled"),
    LLM_OUTPUTS: ("split", "family", "user_id", "task", "variant", "items", "probs", "raw", "parsed"),
    TASK_SCORES: ("split", "family", "user_id", "item_id", "base_rank", "base_score"),
    EVALUATION_USERS: ("user_id",),
    Path(COLLAB_VECTORS).name: ("phase", "kind", "id", "vector"),
}
"""The columns each Parquet file of a run has (others may follow), checked whenever one is read."""
NUMERIC = frozenset(
    (
        "rank",
        "score",
        "rating",
        "timestamp",
        "seq",
        "base_rank",
        "base_score",
        "draw",
        "cluster",
        "pool_count",
    )
    + ("train_likes", "times_sampled")
)
"""Columns that hold numbers in whichever run file has them, checked with the columns."""
KEYS: dict[str, dict[str, type]] = {
    METRICS: {"test_users": int, "ks": list, "reference": str, "methods": dict},
    HYBRID: {"paper_weights": list, "tuned_weights": list, "grid": list, "fusion": dict},
}
"""The keys (and their JSON types) each JSON file of a run has, checked whenever one is read."""
"""What every prompt's meta holds for the stages that read it."""


def runs_root(*, write: bool = False) -> Path:
    """The runs folder, ``$RECRANKER_RUNS`` or ./runs, as an absolute path (the same wherever the dashboard
    or a command is started from), made where missing; an InputError when it cannot be one (see
    :func:`usable_folder`), or cannot be written in when ``write``."""
    named = os.environ.get(RUNS_ENV)
    what = f"the runs folder, ${RUNS_ENV}" if named else "the runs folder"
    return usable_folder(Path(named or "runs"), what, write=write)


def usable_folder(path: Path, what: str, *, write: bool = False) -> Path:
    """``path`` from the environment or a default, checked once where it is resolved: absolute (symbolic
    links resolved), made where missing, a folder, readable, and writable when ``write``. Otherwise an
    InputError naming the path and ``what`` it is for, instead of an OSError from whichever file is
    opened in it first."""
    try:
        folder = path.expanduser().resolve()
    except RuntimeError:  # how pathlib reports a loop
        raise InputError(f"{path}: a loop of symbolic links ({what})") from None
    except OSError as exc:
        raise InputError(f"{path}: {os_reason(exc)} ({what})") from None
    steps = (
        ("", lambda: _refuse_file(folder)),
        ("cannot make it: ", lambda: folder.mkdir(parents=True, exist_ok=True)),
        ("cannot read it: ", lambda: os.scandir(folder).close()),
        # A file made and removed: access() tells root yes even where nothing can be made (/proc).
        ("cannot write in it: ", lambda: tempfile.TemporaryFile(dir=folder).close() if write else None),
    )
    for doing, step in steps:
        try:
            step()
        except OSError as exc:
            raise InputError(f"{folder}: {doing}{os_reason(exc)} ({what})") from None
    return folder


def _refuse_file(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "is a file, not a folder")


def os_reason(exc: OSError) -> str:
    """Why a path could not be used, for one line: the folder above it that is a file, or the system's
    reason."""
    if isinstance(exc, NotADirectoryError) and exc.filename:
        blocking = next((p for p in Path(exc.filename).parents if p.is_file()), None)
        if blocking is not None:
            return f"{blocking} is a file, not a folder"
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]


PROGRESS = ".progress.json"
"""The end of a progress file's name: .NAME.progress.json beside run folder NAME."""


def progress_path(run: Path) -> Path:
    """Where `run` says how far it got: a hidden file beside the run folder (which may not exist yet)."""
    return run.with_name(f".{run.name}{PROGRESS}")


def run_path(root: Path, name: str) -> Path:
    """The run called ``name`` under ``root``; names that could leave ``root`` are refused."""
    if not RUN_NAME.fullmatch(name) or ".." in name:
        raise InputError(f"run name {name!r}: use letters, digits, '.', '_' or '-' (no slashes or '..')")
    return root / name


def fingerprint(path: Path) -> str | None:
    """A content hash of a file, or of a folder's file names and contents; None when it does not exist."""
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path).as_posix()}\0{fingerprint(file)}\n".encode())
        return digest.hexdigest()[:16]
    if not path.is_file():
        return None
    with open(path, "rb") as content:
        return hashlib.file_digest(content, "sha256").hexdigest()[:16]


def digest(value: Any) -> str:
    """A short hash of anything JSON can hold (settings, inputs), the same on every machine."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resume_folder(folder: Path, *inputs) -> None:
    """A folder of partial work that lets a stopped stage resume; emptied when the inputs it was made
    from (anything JSON can hold) have changed."""
    key = digest(inputs)
    stamp = folder / "key.txt"
    if folder.is_dir() and (not stamp.is_file() or stamp.read_text() != key):
        shutil.rmtree(folder)
    if folder.is_dir():
        log.info("resuming from the partial work in %s", folder)
    else:
        folder.mkdir()
        stamp.write_text(key)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object; for the run files in :data:`KEYS`, one with those keys (and metrics.json's methods
    each with their metrics)."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected a JSON object")
    for key, kind in KEYS.get(path.name, {}).items():
        if not isinstance(document.get(key), kind):
            raise InputError(f"{path}: {key!r} should be a JSON {_JSON_TYPES[kind]}")
    if path.name == METRICS:
        for method, entry in document["methods"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
                raise InputError(f"{path}: methods.{method} has no 'metrics' object")
    return document


_JSON_TYPES = {int: "integer", str: "string", list: "array", dict: "object"}


def read_table(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A run's Parquet table (only ``columns``, when given); an InputError for a damaged file or one without
    the columns it should have (:data:`COLUMNS`)."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several unrelated types for damaged files
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    missing = [c for c in columns or COLUMNS.get(path.name, ()) if c not in schema.names]
    if missing:
        raise InputError(f"{path}: no column {', '.join(missing)} (it has {', '.join(schema.names)})")
    for field in schema:
        if field.name in NUMERIC and not (
            pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
        ):
            raise InputError(f"{path}: column {field.name} holds {field.type}, not numbers")
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    write_text(path, json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write atomically (see :func:`write_json`)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_table(path: Path, table: pd.DataFrame) -> None:
    partial = path.with_name(f".{path.name}.partial")
    table.to_parquet(partial, index=False)
    os.replace(partial, path)


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link to ``source`` (no copy of the bytes), or a copy where the file system has none."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def write_jsonl_folder(
    folder: Path, files: dict[str, list[Prompt]], tables: dict[str, pd.DataFrame] | None = None
) -> None:
    """Write a folder of prompt files, the one writer of what :func:`read_prompts` reads, and parquet
    ``tables``, replacing the old folder only once the new one is whole."""
    with staged_folder(folder) as partial:
        for name, rows in files.items():
            with open(partial / name, "w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
        for name, table in (tables or {}).items():
            write_table(partial / name, table)


def read_prompts(path: Path) -> list[Prompt]:
    """A JSONL file of prompts or instructions (chat ``messages`` and their ``meta``), each line checked for
    the keys the stages read (``record.REQUIRED``)."""
    rows = read_jsonl(path)
    for number, row in enumerate(rows, start=1):
        meta = row.get("meta") if isinstance(row, dict) else None
        messages = row.get("messages") if isinstance(row, dict) else None
        if not isinstance(messages, list) or len(messages) < 2 or not isinstance(meta, dict):
            raise InputError(f"{path}: line {number} is not a prompt (it needs 'messages' and 'meta')")
        missing = [key for key in REQUIRED if key not in meta]
        if missing:
            raise InputError(f"{path}: line {number}: meta has no {', '.join(missing)}")
    return rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    rows = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
    return rows


STAGING = ".partial-"
"""What the name of staged_folder's hidden folder holds between the target's name and the process id."""


def is_staging(folder: Path) -> bool:
    """Whether ``folder`` is staged_folder's hidden folder, not yet moved into place."""
    return folder.name.startswith(".") and STAGING in folder.name


@contextmanager
def staged_folder(target: Path, *, replace: bool = True) -> Iterator[Path]:
    """Fill a hidden sibling folder and move it to ``target`` only when the body has finished.

    If the body fails, the partial folder is removed and ``target`` is untouched; an
    existing ``target`` is replaced (when ``replace``) only after the new one is whole.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}{STAGING}*"):  # left by a killed process
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    staging = target.with_name(f".{target.name}{STAGING}{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        if not replace:
            shutil.rmtree(staging, ignore_errors=True)
            raise InputError(f"{target}: appeared while this was being written; nothing was replaced")
        retired = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, target)


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
