"""The sequential scenario: SASRec feeds candidates, hints and user embeddings, and prompts show the
history in time order, never shuffled, while pairs and candidates are still shifted."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recranker_core import rundir
from recranker_core.cli import main
from recranker_core.config import load_profile, with_scenario
from recranker_core.errors import InputError
from tests.conftest import smoke_argv


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario") / "seq"
    assert main(smoke_argv(out, "--scenario", "sequential", "--until", "instructions", "-q")) == 0
    return out


def test_the_scenario_switches_the_base_model_and_the_history_order():
    direct = load_profile("smoke")
    assert with_scenario(direct, "direct") == direct
    sequential = with_scenario(direct, "sequential")
    assert sequential.baselines.primary == sequential.baselines.embedding_model == "sasrec"
    assert "sasrec" in sequential.baselines.models and sequential.prompts.hint_models == ("sasrec",)
    assert sequential.prompts.sequential and not direct.prompts.sequential
    with pytest.raises(InputError, match="--scenario"):
        with_scenario(direct, "session")


def test_sasrec_feeds_candidates_hints_and_embeddings(sequential):
    manifest = json.loads((sequential / rundir.MANIFEST).read_text())
    assert (
        manifest["config"]["baselines"]["primary"] == "sasrec" and manifest["config"]["prompts"]["sequential"]
    )
    candidates = rundir.read_table(sequential / rundir.CANDIDATES)
    assert (candidates["model"] == "sasrec").any()
    embeddings = rundir.read_table(sequential / rundir.USER_EMBEDDINGS)
    assert len(embeddings["embedding"].iloc[0]) == 64
    prompts = rundir.read_jsonl(sequential / "instructions" / "test.jsonl")
    listwise = next(p for p in prompts if p["meta"]["task"] == "listwise")
    assert "Hint: SASRec ranks" in listwise["messages"][1]["content"]  # ratings still come from BiasedMF


def test_history_in_time_order_never_shuffled_while_candidates_are(sequential):
    split = rundir.read_table(sequential / rundir.SPLIT).set_index(["user_id", "item_id"])["seq"]
    examples = [
        e
        for name in ("train", "valid", "test")
        for e in rundir.read_jsonl(sequential / "instructions" / f"{name}.jsonl")
    ]
    for example in examples:
        meta = example["meta"]
        order = [split[(meta["user_id"], item)] for item in meta["history"]["liked"]]
        assert order == sorted(order), meta["variant"]  # most recent last
        if meta["task"] == "pointwise":
            assert meta["permutation"] == sorted(meta["permutation"])
        assert "(in the order rated, most recent last)" in example["messages"][1]["content"]
    listwise = [
        e["meta"]["permutation"]
        for e in examples
        if e["meta"]["task"] == "listwise" and e["meta"]["split"] == "train"
    ]
    assert any(p != sorted(p) for p in listwise)


def test_the_dashboard_labels_the_scenario(sequential, monkeypatch):
    from tests.app.conftest import app

    monkeypatch.setenv("RECRANKER_RUNS", str(sequential.parent))
    at = app()
    assert not at.exception
    assert at.selectbox(key="run").options == ["seq · ml-100k-mini · smoke · sequential"]
    table = at.dataframe[0].value
    assert "base:sasrec" in table["method"].tolist()
    assert pd.notna(table.set_index("method").loc["base:sasrec", "HR@10"])
