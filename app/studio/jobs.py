"""Runs being built: one started from the dashboard (a background `python -m recranker_core run`, its
log in the runs folder), and any other `run` working in the runs folder (`make run` builds the quick
run beside the dashboard); both are followed through the JSON file `run` keeps beside the run folder."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from recranker_core import rundir
from recranker_core.errors import InputError

_lock = threading.Lock()
_job: Job | None = None


def command(profile: str, out: Path, dataset: str = "ml-100k", until: str | None = None) -> str:
    return " ".join(["python", *_argv(profile, out, dataset, until)[1:]])


def _argv(profile: str, out: Path, dataset: str, until: str | None) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "recranker_core",
        "run",
        "--profile",
        profile,
        "--dataset",
        dataset,
        "--out",
        str(out),
    ]
    return argv + (["--until", until] if until else [])


@dataclass(frozen=True)
class JobState:
    finished: bool
    returncode: int | None
    fraction: float
    """Share of the stages done, 0..1."""
    last_line: str


@dataclass
class Job:
    name: str
    profile: str
    log: Path
    process: subprocess.Popen
    out: Path

    def state(self) -> JobState:
        lines = [line.strip() for line in _tail(self.log).splitlines() if line.strip()]
        returncode = self.process.poll()
        last = lines[-1] if lines else "starting"
        return JobState(
            returncode is not None, returncode, _fraction(rundir.progress_path(self.out)), last[-160:]
        )


@dataclass(frozen=True)
class Build:
    """A `run` at work in the runs folder, as its progress file tells."""

    name: str
    done: int
    planned: int
    running: str | None

    @property
    def fraction(self) -> float:
        return self.done / max(self.planned, 1)


def builds(root: Path) -> list[Build]:
    """The runs being built under ``root`` now: progress files not finished, not failed, whose process
    is alive."""
    found = []
    for path in sorted(root.glob(f".*{rundir.PROGRESS}")) if root.is_dir() else []:
        state = _progress(path)
        pid = state.get("pid")
        if state.get("finished") or state.get("failed") or not pid or not rundir.alive(pid):
            continue
        name = path.name.removeprefix(".").removesuffix(rundir.PROGRESS)
        found.append(Build(name, len(state["done"]), len(state["planned"]), state.get("running")))
    return found


def _fraction(path: Path) -> float:
    """Share of the planned stages that are done, from the progress file (0 until it is written)."""
    state = _progress(path)
    return len(state.get("done", [])) / max(len(state.get("planned", [])), 1)


def _progress(path: Path) -> dict:
    """A progress file as `run` writes it (see runner.Progress); {} while absent or being replaced."""
    try:
        return rundir.read_json(path)
    except InputError:
        return {}


def _tail(path: Path, size: int = 64_000) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        # tqdm redraws with carriage returns; keep the last state of each line.
        text = handle.read().decode("utf-8", "replace")
    return "\n".join(part.split("\r")[-1] for part in text.split("\n"))


def start(root: Path, profile: str, dataset: str = "ml-100k", until: str | None = None) -> Job:
    """Start ``run --profile PROFILE`` into ``root/<dataset>-<profile>`` unless a job is already running."""
    global _job
    with _lock:
        if _job is not None and _job.process.poll() is None:
            return _job
        root.mkdir(parents=True, exist_ok=True)
        name = f"{Path(dataset).name}-{profile}"
        log = root / f".{name}.log"
        rundir.progress_path(root / name).unlink(missing_ok=True)  # an earlier job's
        with log.open("w") as handle:
            process = subprocess.Popen(
                _argv(profile, root / name, dataset, until),
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _job = Job(name, profile, log, process, root / name)
        return _job


def current() -> Job | None:
    return _job


def forget() -> None:
    global _job
    with _lock:
        _job = None
