"""The real embedded SmolLM2-135M-Instruct, end to end on a small run (converts the GGUF once, ~1 min)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from recranker_core.cli import main
from recranker_core.llm.models import load, resolve_model
from recranker_core.prompts.markers import MARKER
from recranker_core.stages import REGISTRY
from tests.conftest import smoke_argv


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("embedded") / "run"
    assert main(smoke_argv(out, "--until", "instructions", "-q")) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["config"]["llm"].update(
        model="embedded", train_examples=6, valid_examples=3, batch_size=3, max_length=1024, lora_layers=2
    )
    manifest["config"]["rerank"]["zeroshot"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_converted_model_is_safetensors_and_offline():
    folder = resolve_model("embedded")
    assert (folder / "model.safetensors").is_file() and "Q4_1" in (folder / "PROVENANCE.txt").read_text()
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    model, tokenizer = load(folder)
    assert sum(p.numel() for p in model.parameters()) > 100_000_000
    # The collaborative-token marker is one token of its own, wherever it stands.
    ids = tokenizer(f'"Heat (1995)" {MARKER}, "Fargo"{MARKER}', add_special_tokens=False)["input_ids"]
    assert ids.count(tokenizer.convert_tokens_to_ids(MARKER)) == 2


def test_train_and_rerank_with_the_embedded_model(embedded_run):
    summary = REGISTRY["train"].run(embedded_run)
    assert summary["steps"] == 2 and np.isfinite(summary["valid_loss_after"])
    result = REGISTRY["rerank"].run(embedded_run)
    REGISTRY["evaluate"].run(embedded_run)
    assert result["test_users"] > 0
    outputs = pd.read_parquet(embedded_run / "llm_outputs.parquet")
    pointwise = np.stack(outputs.loc[outputs["task"] == "pointwise", "probs"].to_numpy())
    assert np.allclose(pointwise.sum(axis=1), 1.0, atol=1e-5)
    # A real instruction model puts its mass on some ratings, unlike a uniform guess.
    assert (pointwise.max(axis=1) > 0.3).mean() > 0.5
    metrics = json.loads((embedded_run / "metrics.json").read_text())
    assert {"pointwise", "pairwise", "listwise", "hybrid", "hybrid-tuned"} <= set(metrics["methods"])
    shutil.rmtree(embedded_run / "adapter")
