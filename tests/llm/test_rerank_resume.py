"""A stopped rerank resumes from its last saved block of users and ends with the same outputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import recranker_core.llm.rerank as rerank_module
from recranker_core import rundir
from recranker_core.stages import REGISTRY
from tests.conftest import copy_run


@pytest.fixture
def run(tmp_path, smoke_run):
    # Several blocks on the small fixture.
    return copy_run(smoke_run, tmp_path / "run", rerank={"checkpoint_users": 2})


SCORE_PROMPTS = rerank_module.score_prompts


def counting(monkeypatch, fail_at: int | None = None) -> list[int]:
    """Count the blocks scored (and fail at block ``fail_at``, as a kill would)."""
    calls: list[int] = []
    real = SCORE_PROMPTS

    def score_prompts(*args, **kwargs):
        if fail_at is not None and len(calls) == fail_at:
            raise RuntimeError("stopped mid-rerank")
        calls.append(len(args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(rerank_module, "score_prompts", score_prompts)
    return calls


def test_a_stopped_rerank_resumes_where_it_stopped(run, smoke_run, monkeypatch):
    with pytest.raises(RuntimeError, match="stopped mid-rerank"):
        counting(monkeypatch, fail_at=3)
        REGISTRY["rerank"].run(run)
    saved = sorted(p.name for p in (run / rundir.RERANK_PARTIAL).glob("*.parquet"))
    # The untuned blocks first: the tuned model's adapter is merged into its weights afterwards.
    assert saved == ["zeroshot-00000.parquet", "zeroshot-00001.parquet", "zeroshot-00002.parquet"]

    calls = counting(monkeypatch)
    REGISTRY["rerank"].run(run)
    blocks = len(calls) + len(saved)
    assert blocks == 2 * 4  # tuned and zero-shot, 8 users (5 test + 3 validation) in blocks of 2
    assert not (run / rundir.RERANK_PARTIAL).exists()  # removed once the stage is done
    fresh = pd.read_parquet(run / rundir.LLM_OUTPUTS)
    stored = pd.read_parquet(smoke_run / rundir.LLM_OUTPUTS)
    pd.testing.assert_frame_equal(fresh.drop(columns="probs"), stored.drop(columns="probs"))
    for mine, theirs in zip(fresh["probs"], stored["probs"]):
        assert list(mine) == pytest.approx(list(theirs), abs=1e-5)


def test_blocks_from_other_settings_are_not_reused(run, monkeypatch):
    with pytest.raises(RuntimeError):
        counting(monkeypatch, fail_at=2)
        REGISTRY["rerank"].run(run)
    manifest = json.loads((run / rundir.MANIFEST).read_text())
    manifest["config"]["rerank"]["zeroshot"] = False
    (run / rundir.MANIFEST).write_text(json.dumps(manifest))
    calls = counting(monkeypatch)
    REGISTRY["rerank"].run(run)
    assert len(calls) == 4  # every tuned block scored afresh
