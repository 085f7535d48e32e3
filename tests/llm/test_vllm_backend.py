"""The optional vLLM backend of generate mode: refused clearly without vllm, and, with a stand-in for
vllm's API (the real one needs a CUDA GPU), given the prompts, greedy settings and adapter it must get."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from recranker_core import rundir
from recranker_core.cli import main
from recranker_core.llm.models import load_tokenizer
from recranker_core.llm.scoring import prompt_ids
from recranker_core.stages import REGISTRY
from tests.conftest import copy_run

ANSWERS = {"pointwise": "4", "pairwise": "No.", "listwise": "(B) (A) (C) (D) (E)"}


@pytest.fixture
def run(tmp_path, smoke_run):
    return copy_run(smoke_run, tmp_path / "run", rerank={"mode": "generate", "backend": "vllm"})


def test_without_vllm_the_stage_says_so(run, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed, even where it is
    before = (run / rundir.MANIFEST).read_text()
    assert main(["rerank", "--run", str(run)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: rerank.backend = 'vllm': the vllm package is not installed "
        "(pip install vllm, on a CUDA machine)"
    )
    assert (run / rundir.MANIFEST).read_text() == before


def fake_vllm(monkeypatch, answers: dict[tuple[int, ...], str]) -> dict[str, list]:
    """vllm's LLM / SamplingParams / LoRARequest as plain recorders; the engine answers a prompt by
    its token ids (and so fails on any prompt it was not meant to get)."""
    seen: dict[str, list] = {"engines": [], "calls": []}

    class LLM:
        def __init__(self, **kwargs):
            seen["engines"].append(kwargs)

        def generate(self, inputs, params, lora_request=None, use_tqdm=True):
            seen["calls"].append((inputs, params, lora_request))
            texts = [answers[tuple(i["prompt_token_ids"])] for i in inputs]
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=t)]) for t in texts]

    class SamplingParams:
        def __init__(self, temperature, max_tokens):
            self.temperature, self.max_tokens = temperature, max_tokens

    class LoRARequest:
        def __init__(self, name, id, path):
            self.name, self.id, self.path = name, id, path

    vllm = types.ModuleType("vllm")
    vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    for name, module in {
        "vllm": vllm,
        "vllm.lora": types.ModuleType("vllm.lora"),
        "vllm.lora.request": request,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    return seen


def test_generate_mode_through_vllm(run, monkeypatch):
    manifest = json.loads((run / rundir.MANIFEST).read_text())
    base = Path(manifest["stages"]["train"]["model"])
    tokenizer = load_tokenizer(base)
    prompts = rundir.read_jsonl(run / "instructions/test.jsonl") + rundir.read_jsonl(
        run / "instructions/valid-rerank.jsonl"
    )
    answers = {tuple(prompt_ids(tokenizer, p["messages"])): ANSWERS[p["meta"]["task"]] for p in prompts}
    seen = fake_vllm(monkeypatch, answers)

    summary = REGISTRY["rerank"].run(run)

    # One engine on the base model serves both families: the adapter is applied per request.
    assert seen["engines"] == [
        {
            "model": str(base),
            "seed": 42,
            "gpu_memory_utilization": 0.9,
            "enable_lora": True,
            "max_lora_rank": 8,
        }
    ]
    requests = [call[2] for call in seen["calls"]]
    assert [r.path if r else None for r in requests] == [
        None,
        str(run / rundir.ADAPTER),
    ]  # zero-shot, then tuned (the rerank stage scores the untuned blocks first)
    for inputs, params, _ in seen["calls"]:
        assert len(inputs) == len(prompts) and all(p.temperature == 0.0 for p in params)
        assert sorted({p.max_tokens for p in params}) == [4, 24]
    outputs = pd.read_parquet(run / rundir.LLM_OUTPUTS)
    assert len(outputs) == 2 * len(prompts) and outputs["parsed"].all()
    assert set(outputs["raw"]) == set(ANSWERS.values())
    assert summary["mode"] == "generate" and set(summary["parse_failure_rate"].values()) == {0.0}
    pairwise = outputs[outputs["task"] == "pairwise"]
    assert all(list(p) == [0.0, 1.0] for p in pairwise["probs"])  # "No." read as no
    listwise = outputs[outputs["task"] == "listwise"]
    assert all(int(pd.Series(p).idxmax()) == 1 for p in listwise["probs"])  # "(B)" first
