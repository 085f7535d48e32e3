"""The llm.dtype setting: what "auto" resolves to, refusals, and how far bfloat16 moves the scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recranker_core.errors import InputError
from recranker_core.llm import device


def cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 {flags}\n\n")
    return path


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    assert device.native_bf16_cpu(cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert device.native_bf16_cpu(cpuinfo(tmp_path, "amx_tile amx_bf16"))
    assert not device.native_bf16_cpu(cpuinfo(tmp_path, "avx512f"))
    assert not device.native_bf16_cpu(tmp_path / "absent")


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_bf16_only_where_the_cpu_runs_it_natively(monkeypatch, native):
    monkeypatch.setattr(device, "native_bf16_cpu", lambda: native)
    assert device.resolve_dtype("auto", "cpu") == (torch.bfloat16 if native else torch.float32)
    assert device.resolve_dtype("float32", "cpu") == torch.float32


def test_bf16_is_refused_where_it_would_be_emulated(monkeypatch):
    monkeypatch.setattr(device, "native_bf16_cpu", lambda: False)
    with pytest.raises(InputError, match=r"llm.dtype = 'bfloat16': this CPU .* no native bf16"):
        device.resolve_dtype("bfloat16", "cpu")


@pytest.mark.slow
def test_bf16_moves_the_embedded_models_label_probabilities_little():
    """bfloat16 rounds the weights and activations: on the embedded model, every label probability of one
    user's prompts of each task stays within 0.05 of float32's (0.015-0.03 measured here)."""
    from recranker_core.llm.models import load, resolve_model
    from recranker_core.llm.scoring import LabelScorer
    from tests.llm.test_scoring import several_users

    folder = resolve_model("embedded")
    probs = {}
    for dtype in (torch.float32, torch.bfloat16):
        model, tokenizer = load(folder, dtype=dtype)
        sequences, ids, groups = several_users(tokenizer)
        probs[dtype] = LabelScorer(model).score(sequences, ids, groups)
    for a, b in zip(probs[torch.float32], probs[torch.bfloat16], strict=True):
        assert np.abs(a - b).max() < 0.05
