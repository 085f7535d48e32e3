"""A run with collaborative tokens: the projector is trained, saved beside the adapter and read back, and
zero-shot scoring reads the untuned model (zero vectors at the markers)."""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import load_file

from recranker_core import rundir
from recranker_core.llm import collab, device
from recranker_core.llm.models import load, resolve_model
from recranker_core.llm.rerank import score_prompts
from recranker_core.manifest import Manifest
from recranker_core.runfiles import collab_vectors, load_tuned, load_tuned_on_cpu
from tests.conftest import copy_run


def test_the_projector_is_trained_saved_and_read_back(collab_run):
    saved = load_file(str(collab_run / rundir.ADAPTER / collab.FILE))
    assert saved["2.weight"].abs().max() > 0  # it left its zero start
    model, _ = load_tuned(collab_run, Manifest.read(collab_run))
    for name, value in collab.of(model).projector.state_dict().items():
        assert (value == saved[name]).all()


def test_tuned_scores_read_the_projector_and_zero_shot_ones_the_untuned_model(collab_run):
    prompts = rundir.read_jsonl(collab_run / rundir.INSTRUCTIONS / "test.jsonl")
    user = prompts[0]["meta"]["user_id"]
    mine = [p for p in prompts if p["meta"]["user_id"] == user]
    stored = rundir.read_table(collab_run / rundir.LLM_OUTPUTS)
    stored = stored[(stored["user_id"] == user) & (stored["split"] == "test")]

    fresh, tokenizer = load(resolve_model("tiny"))
    collab.attach(fresh, collab_vectors(collab_run), tokenizer)  # a projector at its zero start
    untuned = score_prompts(fresh, tokenizer, mine, mode="logits", scale=(1, 5))
    tuned, _ = load_tuned(collab_run, Manifest.read(collab_run))
    again = score_prompts(tuned, tokenizer, mine, mode="logits", scale=(1, 5))
    for family, scored in (("zeroshot", untuned), ("tuned", again)):
        rows = stored[stored["family"] == family]
        assert len(rows) == len(mine)
        for a, b in zip(rows["probs"], scored["probs"]):
            assert np.abs(np.asarray(a) - np.asarray(b)).max() < 1e-5
    assert (
        max(np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in zip(untuned["probs"], again["probs"]))
        > 1e-4
    )


def test_the_dashboard_loads_the_tuned_model_in_the_runs_threads_and_dtype(collab_run, tmp_path, monkeypatch):
    before = torch.get_num_threads()
    run = copy_run(collab_run, tmp_path / "run", rerank={"threads": before + 1}, llm={"dtype": "bfloat16"})
    monkeypatch.setattr(device, "native_bf16_cpu", lambda: True)  # bf16 is refused where it is emulated
    try:
        model, _ = load_tuned_on_cpu(run, Manifest.read(run))
        assert torch.get_num_threads() == before + 1
    finally:
        torch.set_num_threads(before)
    assert model.get_input_embeddings().weight.dtype == torch.bfloat16  # (peft keeps LoRA's in float32)
    assert collab.of(model) is not None  # with the run's projector, as the stage loads it
