"""Shared fixtures: real data loaded once per session, and one small run directory."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
MINI = FIXTURES / "ml-100k-mini"
# The dashboard's helper package lives in app/, as Streamlit puts app/ on sys.path.
sys.path.insert(0, str(ROOT / "app"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


SLOW_FIXTURES = {"smoke_run", "collab_run", "embedded_run", "ml100k", "sequential"}
"""Fixtures that train an LLM, load the full ML-100K or fit SASRec: the tests needing them are left out of
`make test-fast`."""


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def ml100k():
    from recranker_core.data import load_dataset

    return load_dataset("ml-100k")


@pytest.fixture(scope="session")
def ml100k_split(ml100k):
    from recranker_core.config import DataConfig
    from recranker_core.data.split import split_likes

    return split_likes(ml100k.ratings, DataConfig())


@pytest.fixture(scope="session")
def mini_run(tmp_path_factory) -> Path:
    """A complete run (smoke profile) on the committed ML-100K-format fixture folder."""
    from recranker_core.config import load_profile
    from recranker_core.runner import create_run

    out = tmp_path_factory.mktemp("runs") / "mini"
    assert create_run(str(MINI), out, load_profile("smoke"))
    return out


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """Every stage (smoke profile, tiny model) on the fixture folder, through the CLI; read-only for tests.

    It is the only run in its runs folder (its parent), for the dashboard tests."""
    from recranker_core.cli import main

    out = tmp_path_factory.mktemp("smoke-runs") / "smoke"
    assert main(smoke_argv(out, "-q")) == 0
    return out


@pytest.fixture(scope="session")
def collab_run(tmp_path_factory) -> Path:
    """Every stage of the smoke profile with collaborative tokens (a profile file), through the CLI."""
    from recranker_core.cli import main

    folder = tmp_path_factory.mktemp("collab-runs")
    profile = folder / "smoke-collab.toml"
    smoke = (ROOT / "recranker_core" / "profiles" / "smoke.toml").read_text()
    profile.write_text(smoke.replace("[prompts]", "[prompts]\ncollab_tokens = true"))
    out = folder / "collab"
    assert main(["run", "--profile", str(profile), "--dataset", str(MINI), "--out", str(out), "-q"]) == 0
    return out


def smoke_argv(out: Path, *options: str) -> list[str]:
    """The CLI's `run` of the smoke profile on the fixture folder into ``out``, with further options."""
    return ["run", "--profile", "smoke", "--dataset", str(MINI), "--out", str(out), *options]


def copy_run(source: Path, to: Path, **settings: dict) -> Path:
    """A copy of the run at ``source`` whose recorded config has ``settings`` (section: {field: value})
    changed."""
    shutil.copytree(source, to)
    manifest = json.loads((to / "manifest.json").read_text())
    for section, values in settings.items():
        manifest["config"][section].update(values)
    (to / "manifest.json").write_text(json.dumps(manifest))
    return to
