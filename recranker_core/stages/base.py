"""What a stage is, and the one place that records a stage in its run's manifest.

A stage is a function of a run folder registered with its spec: the run files it reads, the
config sections it depends on and the files it writes. ``Stage.run`` opens the manifest (checking
that the stage it needs is done), records the stage as running with fingerprints of what it reads,
calls the function, and records it as done with fingerprints of what it wrote, or as failed with
the error, so that `run` can redo exactly the stages that are not done or whose inputs changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recranker_core import rundir
from recranker_core.config import RunConfig, as_dict
from recranker_core.errors import InputError
from recranker_core.manifest import Manifest

log = logging.getLogger("recranker")


@dataclass
class StageRun:
    """What a stage's function gets: its run folder, manifest, config and its record in the manifest."""

    run: Path
    manifest: Manifest
    record: dict[str, Any]
    """Its record; the function may add to it (a ``summary``, timings)."""
    state: Any = None
    """accelerate's processes, for the stages that `accelerate launch` may start in several."""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> RunConfig:
        return self.manifest.config


@dataclass(frozen=True)
class Stage:
    name: str
    help: str
    """One line for the CLI."""
    work: Callable[[StageRun], Any]
    reads: tuple[str, ...]
    """Files and folders of the run it reads (one that may be absent counts as such)."""
    settings: tuple[str, ...]
    """Config sections it reads ("seed", "seeds" for those settings)."""
    writes: tuple[str, ...]
    """Files and folders it writes; a done stage is redone when one of them has gone."""
    after: str | None = None
    """The stage that must be done before this one."""
    version: int = 1
    """Raised when the stage writes something else from the same inputs, so that runs made before redo it."""
    launchable: bool = False
    """`accelerate launch` may start it in several processes (the main one alone writes)."""
    requires: Callable[[RunConfig], None] | None = None
    """Checks what the settings need from this machine (an InputError), before the stage is recorded."""

    def run(self, run: Path, *, inputs: dict[str, str] | None = None, **extras: Any) -> Any:
        """Do the stage on the run folder ``run``, recorded in its manifest; returns what the function returns
        (None in the processes other than the main one of a launch)."""
        manifest = Manifest.read(run)
        if self.after and not manifest.done(self.after):
            raise InputError(
                f"{run}: run the '{self.after}' stage first "
                f"(python -m recranker_core {self.after} --run {run})"
            )
        if self.requires:
            self.requires(manifest.config)
        state = _processes(manifest.config.rerank.threads) if self.launchable else None
        writer = state is None or state.is_main_process
        record: dict[str, Any] = {
            "status": "running",
            "started": _now(),
            "inputs": self.inputs(run, manifest.config) | (inputs or {}),
        }
        manifest.stages[self.name] = record
        clock = time.perf_counter()
        log.info("stage %s ...", self.name)
        try:
            result = self.work(StageRun(run, manifest, record, state, extras))
        except BaseException as exc:
            error = _error(exc, run)
            record.update(status="failed", ended=_now(), error=error[:500])
            if writer:
                _record_failure(manifest, self.name, record)
            raise
        if not writer:
            return None
        record.update(status="done", ended=_now(), seconds=round(time.perf_counter() - clock, 3))
        record["outputs"] = {f: rundir.fingerprint(run / f) for f in self.writes}
        manifest.write()
        log.info("stage %s done in %.1fs", self.name, record["seconds"])
        return result

    def inputs(self, folder: Path, config: RunConfig) -> dict[str, Any]:
        """Fingerprints of what the stage reads: its files in ``folder``, its config sections, its code
        version."""
        return (
            {f: rundir.fingerprint(folder / f) for f in self.reads}
            | {f"config.{s}": settings_digest(config, s) for s in self.settings}
            | {"code": self.version}
        )

    def stale_reason(self, run: Path, manifest: Manifest) -> str | None:
        """Why `run` must (re)do this stage, or None when it is done and up to date (a stage recorded before
        fingerprints were, with no ``inputs``, counts as up to date)."""
        record = manifest.stage(self.name)
        if not record:
            return "not run yet"
        if record.get("status") != "done":
            return f"it is {record.get('status', 'unknown')}"
        gone = [
            f
            for f, value in record.get("outputs", {}).items()
            if value is not None and not (run / f).exists()
        ]
        if gone:
            return f"{gone[0]} is missing"
        if "inputs" in record:
            changed = [
                key
                for key, value in self.inputs(run, manifest.config).items()
                if record["inputs"].get(key) != value
            ]
            if changed:
                return f"its inputs changed ({', '.join(changed)})"
        return None


def settings_digest(config: RunConfig, name: str) -> str:
    """Fingerprint of a config section by the values that differ from its defaults, so that a field a
    later version adds (at its default) leaves the stages done before it up to date."""
    if name in ("seed", "seeds"):
        return rundir.digest(getattr(config, name))
    section = getattr(config, name)
    values, defaults = as_dict(section), as_dict(type(section)())
    return rundir.digest({key: value for key, value in values.items() if value != defaults[key]})


def _record_failure(manifest: Manifest, name: str, record: dict[str, Any]) -> None:
    """Write the failure into the manifest as it is on disk now, so that `run` and the dashboard see it."""
    if manifest.where.is_file():
        current = Manifest.read(manifest.where.parent)
        current.stages[name] = record
        current.write()


def _error(exc: BaseException, run: Path) -> str:
    """The error a stage failed with, as its record keeps it. An interruption inside a run's hidden staging
    folder is marked for the CLI: the run was not created, so nothing of it was kept."""
    if not isinstance(exc, KeyboardInterrupt):
        return f"{type(exc).__name__}: {exc}"
    if not hasattr(exc, "creating"):
        exc.creating = rundir.is_staging(run)
    return f"interrupted ({exc.args[0]})" if exc.args else "interrupted"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _processes(threads: int):
    from recranker_core.launch import processes

    return processes(threads)
