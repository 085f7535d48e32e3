"""Stages of a run and the run directory they fill.

Stages so far: ``data`` (load, validate, split), ``baselines`` (fit the
conventional recommenders, top-N candidates) and ``evaluate`` (metrics.json).
A new run is built in a hidden folder and moved into place only when every
stage has finished, so a failure leaves no half-written run and keeps the old one.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

import recranker_core
from recranker_core import rundir
from recranker_core.config import RunConfig, config_from_dict
from recranker_core.data import load_dataset
from recranker_core.data.split import split_likes
from recranker_core.errors import InputError
from recranker_core.evaluation import metrics_document

log = logging.getLogger("recranker")
VERSIONED = ("lenskit", "torch", "numpy", "pandas", "pyarrow", "scikit-learn", "transformers", "peft", "streamlit")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "recranker_core": recranker_core.__version__}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextmanager
def _stage(stages: dict[str, dict[str, Any]], name: str) -> Iterator[dict[str, Any]]:
    record: dict[str, Any] = {"status": "running", "started": _now()}
    stages[name] = record
    clock = time.perf_counter()
    log.info("stage %s ...", name)
    yield record
    record.update(status="done", ended=_now(), seconds=round(time.perf_counter() - clock, 3))
    log.info("stage %s done in %.1fs", name, record["seconds"])


def create_run(
    dataset: str, out: Path, config: RunConfig, *, items: str | None = None, overwrite: bool = False
) -> bool:
    """Run data, baselines and evaluate into ``out``. Returns False when ``out`` already holds this exact run."""
    data = load_dataset(dataset, items)
    fingerprint = data.fingerprint()
    if out.exists() and not overwrite:
        if _is_same_run(out, config, fingerprint):
            log.info("%s already holds this run (same data and config); nothing to do", out)
            return False
        if (out / rundir.MANIFEST).is_file():
            raise InputError(f"{out}: holds another run (different data or config); pass --overwrite to replace it")
        if any(out.iterdir()):
            raise InputError(f"{out}: exists and is not a run directory; choose another --out")

    stages: dict[str, dict[str, Any]] = {}
    with rundir.staged_run(out, replace=True) as staging:
        with _stage(stages, "data"):
            split = split_likes(data.ratings, config.data, name=data.name)
            rundir.write_table(staging / rundir.SPLIT, split.table)
            rundir.write_table(staging / rundir.ITEMS, data.items)
            log.info("split: %s", split.summary())

        with _stage(stages, "baselines") as record:
            from recranker_core.baselines.candidates import run_baselines

            result = run_baselines(split, config.baselines, config.seed)
            record["models"] = result.timings
            rundir.write_table(staging / rundir.CANDIDATES, result.candidates)
            rundir.write_table(staging / rundir.USER_EMBEDDINGS, result.user_embeddings)
            rundir.write_table(staging / rundir.RANKINGS, base_rankings(result.candidates))

        with _stage(stages, "evaluate"):
            rankings = rundir.read_table(staging / rundir.RANKINGS)
            metrics = metrics_document(rankings, split.targets("test"), config.evaluation, config.seed)
            rundir.write_json(staging / rundir.METRICS, metrics)

        rundir.write_json(
            staging / rundir.MANIFEST,
            {
                "format_version": rundir.FORMAT_VERSION,
                "name": out.name,
                "created": _now(),
                "command": " ".join(["python -m recranker_core", *sys.argv[1:]]),
                "profile": config.profile,
                "seed": config.seed,
                "config": config.to_dict(),
                "dataset": {
                    "name": data.name,
                    "source": data.source,
                    "fingerprint": fingerprint,
                    **data.summary(),
                    "split": split.summary(),
                },
                "versions": package_versions(),
                "stages": stages,
            },
        )
    return True


def base_rankings(candidates: pd.DataFrame) -> pd.DataFrame:
    """The test candidate lists as rankings of the methods ``base:<model>``."""
    test = candidates[candidates["target"] == "test"]
    return pd.DataFrame(
        {
            "user_id": test["user_id"].to_numpy(),
            "method": "base:" + test["model"].astype(str).to_numpy(),
            "item_id": test["item_id"].to_numpy(),
            "rank": test["rank"].to_numpy(),
        }
    )


def evaluate_run(run: Path) -> dict[str, Any]:
    """Recompute metrics.json of an existing run from its rankings and split."""
    if not (run / rundir.MANIFEST).is_file():
        raise InputError(f"{run}: not a run directory (no {rundir.MANIFEST})")
    manifest = rundir.read_json(run / rundir.MANIFEST)
    config = config_from_manifest(manifest, run / rundir.MANIFEST)
    stages = manifest.setdefault("stages", {})
    with _stage(stages, "evaluate"):
        rankings = rundir.read_table(run / rundir.RANKINGS)
        split = rundir.read_table(run / rundir.SPLIT, columns=["user_id", "item_id", "role"])
        truth = split.loc[split["role"] == "test", ["user_id", "item_id"]]
        metrics = metrics_document(rankings, truth, config.evaluation, config.seed)
        rundir.write_json(run / rundir.METRICS, metrics)
    rundir.write_json(run / rundir.MANIFEST, manifest)
    return metrics


def config_from_manifest(manifest: dict[str, Any], where: Path) -> RunConfig:
    raw = dict(manifest.get("config") or {})
    if not raw:
        raise InputError(f"{where}: no 'config' recorded")
    return config_from_dict(
        {k: v for k, v in raw.items() if k != "profile"}, where=str(where), profile=raw.get("profile", "?")
    )


def _is_same_run(out: Path, config: RunConfig, fingerprint: str) -> bool:
    try:
        manifest = rundir.read_json(out / rundir.MANIFEST)
    except InputError:
        return False
    return (
        manifest.get("config") == _jsonable(config.to_dict())
        and manifest.get("dataset", {}).get("fingerprint") == fingerprint
        and all(s.get("status") == "done" for s in manifest.get("stages", {}).values())
        and (out / rundir.METRICS).is_file()
    )


def _jsonable(value: Any) -> Any:
    """What a value looks like after a JSON round trip (tuples become lists)."""
    return json.loads(json.dumps(value))
