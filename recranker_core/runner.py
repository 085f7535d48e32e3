"""Runs: create one, then do each stage that is not done or whose inputs changed.

A new run is built in a hidden folder and moved into place only when its creation stages (data,
baselines, evaluate) have finished; later stages (sample, instructions, train, rerank, then evaluate
again) write each output to a temporary name and rename it, and record themselves in the manifest
with fingerprints of what they read and wrote (``stages.REGISTRY``), so that `run` redoes exactly
the stages that are not done or whose inputs changed. ``run`` also writes how far it got to a small
JSON file beside the run folder (``rundir.progress_path``), which the dashboard follows.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recranker_core import rundir
from recranker_core.config import RunConfig, with_domain
from recranker_core.data import load_dataset
from recranker_core.errors import InputError
from recranker_core.manifest import Manifest, package_versions
from recranker_core.ranking import base_rankings
from recranker_core.runlock import writing
from recranker_core.stages import CREATION, LATER, REGISTRY, foreign_entries

log = logging.getLogger("recranker")
CREATION_SETTINGS = ("seed", "data", "baselines", "evaluation")
"""Settings a run is created with; a different value makes it another run (the others re-run stages)."""


class Progress:
    """The stages `run` will go through and how far it got, as JSON beside the run folder: planned, done,
    running, failed, finished, and the pid of the process (a file whose process has gone is stale)."""

    def __init__(self, out: Path, planned: list[str]):
        self.path = rundir.progress_path(out)
        self.state: dict[str, Any] = {
            "planned": planned,
            "done": [],
            "running": None,
            "failed": None,
            "finished": False,
            "pid": os.getpid(),
        }
        self._write()

    def complete(self) -> None:
        self.state["finished"] = True
        self._write()

    def start(self, label: str) -> None:
        self.state["running"] = label
        self._write()

    def finish(self, label: str) -> None:
        self.state.update(running=None, done=[*self.state["done"], label])
        self._write()

    def fail(self, label: str) -> None:
        self.state.update(running=None, failed=label)
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rundir.write_json(self.path, self.state)


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot become a run folder, before any work: a file, a symbolic link, a folder
    inside a file, a folder of other things (``--overwrite`` replaces only a run), or one in a folder we
    cannot write in."""
    if out.name in ("", ".", ".."):
        raise InputError(f"--out {out}: name the run folder to create, e.g. runs/NAME")
    if out.is_symlink():  # renaming the finished run into place would replace the link, not fill its target
        raise InputError(f"{out}: is a symbolic link; give the folder itself (or a new name) as --out")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file, not a run folder; choose another --out")
    if out.is_dir() and any(out.iterdir()):
        try:
            Manifest.read(out)  # a folder is a run only if its manifest reads as one of this version's
        except InputError as exc:
            raise InputError(f"{exc}; choose another --out (--overwrite replaces only a run)") from None
    folder = out.parent  # the run is built beside it and renamed into place
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{out}: {folder} is a file, not a folder; choose another --out")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{out}: cannot write in {folder} (permission denied); choose another --out")


def create_run(
    dataset: str,
    out: Path,
    config: RunConfig,
    *,
    items: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> bool:
    """Run data, baselines and evaluate into ``out``. Returns False when ``out`` already holds this run
    (same data and creation settings); ``overwrite`` replaces a different run there, once the new one is
    made."""
    check_out(out)
    data = load_dataset(dataset, items)
    config = with_domain(config, data.domain)
    check_fits(data, config)
    fingerprint = data.fingerprint()
    if out.exists() and (out / rundir.MANIFEST).is_file():
        try:
            _reuse(out, config, fingerprint)
            return False
        except InputError:
            if not overwrite:
                raise
            _only_run_files(out)

    with rundir.staged_folder(out) as staging:
        Manifest(_new_manifest(out, config, data, fingerprint), staging / rundir.MANIFEST).write()
        for name in CREATION:
            _step(
                progress,
                name,
                lambda name=name: REGISTRY[name].run(
                    staging, data=data, inputs={"dataset": fingerprint} if name == "data" else None
                ),
            )
    return True


def _only_run_files(out: Path) -> None:
    """Refuse to replace a run folder that also holds something of the user's (--overwrite deletes the
    whole folder), naming the first such file."""
    strangers = foreign_entries(out)
    if strangers:
        raise InputError(
            f"{out}: holds {strangers[0].name!r}, which is not a file of a run; --overwrite replaces only a "
            "run's own files: move it out, or choose another --out"
        )


def check_fits(data, config: RunConfig) -> None:
    """Refuse, before any stage runs, a sequential scenario on data without times (the data stage refuses
    data too small and a rating scale the model cannot score)."""
    if config.prompts.sequential and not data.timed:
        raise InputError(
            f"{data.source}: {data.layout} has no timestamps; --scenario sequential (prompts.sequential) "
            "needs each user's ratings in time order"
        )


def _new_manifest(out: Path, config: RunConfig, data, fingerprint: str) -> dict[str, Any]:
    return {
        "format_version": rundir.FORMAT_VERSION,
        "name": out.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m recranker_core", *sys.argv[1:]]),
        "profile": config.profile,
        "seed": config.seed,
        "config": config.to_dict(),
        "dataset": {"name": data.name, "source": data.source, "fingerprint": fingerprint, **data.summary()},
        "versions": package_versions(),
        "stages": {},
    }


def _reuse(out: Path, config: RunConfig, fingerprint: str) -> None:
    """Refuse ``out`` unless it holds this run (same data and creation settings, created in full); record
    changed settings of the later stages there, so that `run` redoes the stages that read them."""
    wanted = config.to_dict()
    try:
        manifest = Manifest.read(out)
        # Fields added since read as their defaults, or as what they were then
        recorded = manifest.config.to_dict()
    except InputError:
        differences = ["an unreadable manifest or config"]
    else:
        differences = [] if manifest.dataset.get("fingerprint") == fingerprint else ["data"]
        differences += [key for key in CREATION_SETTINGS if recorded[key] != wanted[key]]
        if not all(manifest.done(name) for name in CREATION):
            differences.append("an unfinished creation")
    if differences:
        raise InputError(
            f"{out}: holds another run (different {', '.join(differences)}); pass --overwrite to replace it"
        )
    changed = [key for key, value in wanted.items() if key != "profile" and recorded[key] != value]
    if not changed:
        log.info("%s already holds this run (same data and config); nothing to do", out)
        return
    log.info("%s: new settings for %s; the stages that read them will run again", out, ", ".join(changed))
    manifest.document.update(profile=config.profile, config=wanted)
    manifest.write()


def run_all(
    dataset: str,
    out: Path,
    config: RunConfig,
    *,
    items: str | None = None,
    overwrite: bool = False,
    until: str | None = None,
    force: str | None = None,
) -> None:
    """Every stage (or those up to ``until``): create the run (or find it up to date), then each later
    stage that is not done or whose inputs changed (see ``Stage.stale_reason``); ``force`` redoes that
    stage even if it is up to date. With ``seeds`` > 1 the later stages run again in each replicate
    folder, and the run's metrics then gather them."""
    check_out(out)  # before the progress file beside it
    later = [*(LATER[: LATER.index(until) + 1] if until else LATER), "evaluate"]
    for name in later:  # what the settings need from this machine, before any stage runs
        if REGISTRY[name].requires:
            REGISTRY[name].requires(config)
    with writing(out):
        _run_stages(dataset, out, config, later, items=items, overwrite=overwrite, force=force)


def _run_stages(
    dataset: str, out: Path, config: RunConfig, later: list[str], *, items, overwrite: bool, force
) -> None:
    """run_all's stages, with the run's lock held."""
    replicas = [f"seeds/{k}" for k in range(1, config.seeds)]
    progress = Progress(out, [*CREATION, *later, *(f"{r}:{name}" for r in replicas for name in later)])
    if not create_run(dataset, out, config, items=items, overwrite=overwrite, progress=progress):
        for name in CREATION:
            progress.finish(name)
    replicated = False
    for folder in (out, *replicate_folders(out)):
        prefix = "" if folder == out else f"{folder.relative_to(out).as_posix()}:"
        for name in later:
            reason = (
                "--force" if name == force else REGISTRY[name].stale_reason(folder, Manifest.read(folder))
            )
            if reason:
                log.info("stage %s%s: running (%s)", prefix, name, reason)
                _step(progress, prefix + name, lambda name=name, folder=folder: REGISTRY[name].run(folder))
                replicated |= folder != out
            else:
                progress.finish(prefix + name)
    if replicated:
        REGISTRY["evaluate"].run(out)
    progress.complete()


def _step(progress: Progress | None, label: str, work) -> None:
    """Do one stage, telling ``progress`` (when there is one) that it started and how it ended."""
    if progress is None:
        return work()
    progress.start(label)
    try:
        work()
    except BaseException:
        progress.fail(label)
        raise
    progress.finish(label)


def replicate_folders(run: Path) -> list[Path]:
    """The folders seeds/1 .. seeds/N-1 of a run with ``seeds`` = N: its creation outputs (linked) with the
    run's config and ``replicate`` = k, in which the later stages run with seed + k. Made where missing;
    each time given the run's current config, so that changed settings redo their stages there too."""
    manifest = Manifest.read(run)
    folders = []
    for k in range(1, manifest.config.seeds):
        folder = run / rundir.REPLICATES / str(k)
        if not (folder / rundir.MANIFEST).is_file():
            with rundir.staged_folder(folder) as staging:
                for name in (
                    rundir.SPLIT,
                    rundir.ITEMS,
                    rundir.CANDIDATES,
                    rundir.USER_EMBEDDINGS,
                    rundir.METRICS,
                ):
                    rundir.link_or_copy(run / name, staging / name)
                rundir.write_table(
                    staging / rundir.RANKINGS, base_rankings(rundir.read_table(staging / rundir.CANDIDATES))
                )
                stages = {name: manifest.stage(name) for name in CREATION}
                rundir.write_json(
                    staging / rundir.MANIFEST, {**manifest.document, "stages": stages, "replicate": k}
                )
        child = Manifest.read(folder)
        child.document.update(profile=manifest.get("profile"), config=manifest.get("config"))
        child.write()
        folders.append(folder)
    return folders
