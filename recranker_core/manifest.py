"""A run's manifest.json (docs/run-format.md), read through one typed object instead of chains of
``.get`` look-ups: the config it was made with, each stage's record, the base model it reranks."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

from recranker_core import methods, rundir
from recranker_core.config import RunConfig, config_from_dict
from recranker_core.errors import InputError

VERSIONED = (
    "lenskit",
    "torch",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "transformers",
    "peft",
    "accelerate",
    "streamlit",
    "vllm",
)
LEGACY = {"baselines": {"exclude": "all-rated"}}
"""What settings added later were, in effect, in runs made before them (their recorded configs lack the
field)."""
MOVED = {
    "baselines": {
        "lightgcn_layers": ("lightgcn", "layers"),
        "lightgcn_epochs": ("lightgcn", "epochs"),
        "lightgcn_learning_rate": ("lightgcn", "learning_rate"),
        "lightgcn_regularization": ("lightgcn", "regularization"),
        "sasrec_blocks": ("sasrec", "blocks"),
        "sasrec_epochs": ("sasrec", "epochs"),
        "sasrec_max_len": ("sasrec", "max_len"),
    }
}
"""Flat fields of earlier versions and where they live now (LightGCN and SASRec then shared
embedding_size)."""


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """A config recorded by an earlier version (a run's manifest), in today's shape and meaning."""
    raw = {key: dict(value) if isinstance(value, dict) else value for key, value in raw.items()}
    for section, values in LEGACY.items():
        if isinstance(raw.get(section), dict):
            raw[section] = values | raw[section]
    for section, moves in MOVED.items():
        values = raw.get(section)
        if isinstance(values, dict) and any(old in values for old in moves):
            for model in {model for model, _ in moves.values()}:
                values[model] = {"embedding_size": values.get("embedding_size", 64), **values.get(model, {})}
            for old, (model, name) in moves.items():
                if old in values:
                    values[model][name] = values.pop(old)
    return raw


class Manifest:
    """What was run into a run folder, how, and each stage's record (status, times, fingerprints, summary)."""

    def __init__(self, document: dict[str, Any], where: Path):
        self.document = document
        """The JSON object itself; stages add their records to ``stages``."""
        self.where = where

    @classmethod
    def read(cls, run: Path) -> Manifest:
        """The manifest of the run folder ``run``; an InputError names a missing or broken one."""
        if not (run / rundir.MANIFEST).is_file():
            raise InputError(f"{run}: not a run directory (no {rundir.MANIFEST})")
        path = run / rundir.MANIFEST
        document = rundir.read_json(path)
        _check_version(document.get("format_version", 1), path)
        for key in ("stages", "config", "dataset"):
            if key not in document:
                raise InputError(f"{path}: not a run's manifest (no '{key}')")
            if not isinstance(document[key], dict):
                raise InputError(f"{path}: '{key}' is a {type(document[key]).__name__}, not an object")
        for name, record in document.get("stages", {}).items():
            if not isinstance(record, dict):
                raise InputError(f"{path}: stages.{name} is a {type(record).__name__}, not an object")
        return cls(document, path)

    def write(self) -> None:
        rundir.write_json(self.where, self.document)

    @cached_property
    def config(self) -> RunConfig:
        """The run's settings, recorded by this or an earlier version (read as that version ran them)."""
        raw = upgrade(dict(self.document.get("config") or {}))
        if not raw:
            raise InputError(f"{self.where}: no 'config' recorded")
        profile = raw.pop("profile", self.document.get("profile", "?"))
        return config_from_dict(raw, where=str(self.where), profile=profile)

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        return self.document.setdefault("stages", {})

    def stage(self, name: str) -> dict[str, Any]:
        """Stage ``name``'s record ({} when it has not run)."""
        return self.stages.get(name, {})

    def done(self, name: str) -> bool:
        return self.stage(name).get("status") == "done"

    def summary(self, name: str) -> dict[str, Any]:
        return self.stage(name).get("summary", {})

    @property
    def primary_method(self) -> str:
        """The method every other is compared with: the base model whose candidates the LLM reranks."""
        return methods.base(self.config.baselines.primary)

    @property
    def replicate(self) -> int:
        """0 for a run; k for its replicate folder seeds/k (see runner.replicate_folders)."""
        return int(self.document.get("replicate", 0))

    @property
    def stream_seed(self) -> int:
        """The seed of the seed-dependent LLM stages: the run's, plus k in replicate folder k."""
        return self.config.seed + self.replicate

    @property
    def dataset(self) -> dict[str, Any]:
        return self.document.get("dataset", {})

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level field as written (name, created, command, profile, seed, versions)."""
        return self.document.get(key, default)


def _check_version(version: Any, path: Path) -> None:
    """Refuse a run this version cannot read: one written in a newer run format is never rewritten here."""
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputError(f"{path}: format_version {version!r} is not a whole number")
    if version > rundir.FORMAT_VERSION:
        raise InputError(
            f"{path}: written by a newer RecRanker Studio (run format {version}; this version reads up to "
            f"{rundir.FORMAT_VERSION}); open it with that version, or choose another folder"
        )


def package_versions() -> dict[str, str]:
    import recranker_core

    versions = {"python": platform.python_version(), "recranker_core": recranker_core.__version__}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True)
class RunInfo:
    name: str
    path: Path
    manifest: Manifest | None
    """The run's manifest, or None when it could not be read (see ``problem``)."""
    problem: str | None = None


def list_runs(root: Path) -> list[RunInfo]:
    """Every run directory under ``root``, newest first; unreadable ones carry their problem."""
    if not root.is_dir():
        return []
    runs = []
    for path in root.iterdir():
        if not path.is_dir() or not rundir.RUN_NAME.fullmatch(path.name):
            continue
        try:
            runs.append(RunInfo(path.name, path, Manifest.read(path)))
        except InputError as exc:
            runs.append(RunInfo(path.name, path, None, str(exc)))
    return sorted(
        runs, key=lambda r: (r.manifest.get("created", "") if r.manifest else "", r.name), reverse=True
    )
