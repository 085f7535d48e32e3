"""Any local Llama, Qwen2, Mistral or Gemma 3 folder: checked before any stage, scored by the scheduler
as each prompt alone (sliding windows included), and LoRA-trained, on tiny random models of each."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recranker_core.errors import InputError
from recranker_core.llm import checks
from recranker_core.llm.models import load
from recranker_core.llm.scoring import LabelScorer
from recranker_core.llm.training import train
from recranker_core.llm_settings import LLMConfig
from tests.llm.architectures import tiny_model
from tests.llm.test_models_and_training import example
from tests.llm.test_scoring import several_users

KINDS = ("llama", "qwen2", "mistral", "gemma3_text")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("architectures")
    return {kind: tiny_model(root / kind, kind, window=24) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_each_architecture_is_read_from_its_folder_without_loading_it(folders, kind):
    facts = checks.read_facts(folders[kind])
    assert facts.model_type == kind and facts.layers == 2 and facts.hidden == 32
    assert 30_000 < facts.parameters < 40_000
    checks.check_targets(facts, ("q_proj", "v_proj"), folders[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_the_scheduler_scores_as_each_prompt_alone(folders, kind):
    """Several users packed together; in Mistral and Gemma 3 the prompts are longer than their sliding
    window of 24 tokens, so their prefixes are encoded alone (padding would move what the window sees)."""
    model, tokenizer = load(folders[kind])
    sequences, ids, groups = several_users(tokenizer)
    assert min(map(len, sequences)) > 24
    together = LabelScorer(model).score(sequences, ids, groups)
    variants = LabelScorer(model).score_variants(sequences[:5], ids[:5])
    alone = [LabelScorer(model, prefix_cache=False).score([s], [i])[0] for s, i in zip(sequences, ids)]
    for a, b in zip(together, alone, strict=True):
        assert np.abs(a - b).max() < 1e-4
    for a, b in zip(variants, alone[:5]):
        assert np.abs(a - b).max() < 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_lora_training_runs_on_each_architecture(folders, kind, tmp_path):
    data = [example("pairwise", f"Does the user prefer the movie number {i}?", "Yes.") for i in range(12)]
    config = LLMConfig(model=str(folders[kind]), learning_rate=5e-3, batch_size=4, valid_loss_before=False)
    summary = train(folders[kind], data, data[:4], config, tmp_path / "adapter", seed=0)
    assert summary["steps"] == 3 and np.isfinite(summary["valid_loss_after"])
    assert np.isnan(summary["valid_loss_before"])  # not measured: llm.valid_loss_before = false
    assert summary["skipped_too_long"] == 0 and summary["max_length"] == 2048  # the model's context
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()


def test_a_config_that_is_not_json_is_refused(folders, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{model_type: llama")
    with pytest.raises(InputError, match=r"broken/config.json: not a readable JSON file"):
        checks.read_facts(broken)


def test_an_unsupported_architecture_is_refused(folders, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(InputError, match=r"model_type 'gpt2' is not supported; supported: Llama \(llama\)"):
        checks.read_facts(other)


def test_weights_that_are_not_safetensors_are_refused(folders, tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "config.json").write_text((folders["llama"] / "config.json").read_text())
    (fake / "model.safetensors").write_bytes(b"\x80\x04not a safetensors file at all")
    with pytest.raises(InputError, match=r"model.safetensors: not a safetensors file"):
        checks.read_facts(fake)


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            {"hidden_size": 48},
            r"(embed_tokens|lm_head).weight of shape \[\d+, 32\]; config.json says \[\d+, 48\]",
        ),
        ({"num_hidden_layers": 3}, "hold 2 layers; config.json says 3"),
    ],
)
def test_weights_that_do_not_fit_the_config_are_refused(folders, tmp_path, change, expected):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(folders["llama"], other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(config | change))
    with pytest.raises(InputError, match=expected):
        checks.read_facts(other)


def test_a_weights_file_that_is_a_folder_is_refused(folders, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(folders["llama"], other)
    (other / "model.safetensors").unlink()
    (other / "model.safetensors").mkdir()
    with pytest.raises(InputError, match=r"model.safetensors: not a safetensors file"):
        checks.read_facts(other)


def test_the_embedded_models_folder_passes_the_checks():
    """Its tied embeddings are saved as lm_head only."""
    from recranker_core.llm.models import resolve_model

    facts = checks.read_facts(resolve_model("embedded"))
    assert facts.model_type == "llama" and facts.layers == 30 and 130e6 < facts.parameters < 140e6


def test_lora_targets_the_model_lacks_are_refused(folders):
    facts = checks.read_facts(folders["llama"])
    with pytest.raises(InputError, match=r"target_modules = \['c_attn'\]: the model has none of them"):
        checks.check_targets(facts, ("c_attn",), folders["llama"])


@pytest.mark.parametrize("layers", [0, 1])
def test_the_adapter_size_the_memory_check_counts_is_what_peft_trains(folders, layers):
    from recranker_core.llm.training import _trainable

    config = LLMConfig(lora_r=4, lora_layers=layers, target_modules=("q_proj", "v_proj", "down_proj"))
    model, _ = _trainable(folders["qwen2"], config)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    facts = checks.read_facts(folders["qwen2"])
    assert checks.lora_parameters(facts, config.target_modules, 4, layers) == trained


def test_a_model_too_big_for_the_device_is_refused_and_a_tight_one_checkpoints():
    """An 8B Llama in bfloat16 trains with LoRA on an 80 GiB GPU as it is; on 24 GiB only with gradient
    checkpointing; a full fine-tune (float32 weights, gradients, AdamW) fits neither."""
    facts = checks.ModelFacts("llama", 8_030_000_000, 32, 4096, frozenset({"q_proj"}))
    gib = 2**30
    assert not checks.gradient_checkpointing(facts, 80 * gib, 2, False, 8 * 512)
    assert checks.gradient_checkpointing(facts, 24 * gib, 2, False, 8 * 512)
    too_big = r"8.0B parameters\) needs about [\d.]+ GiB .* the device's 80.0 GiB"
    with pytest.raises(InputError, match=too_big):
        checks.gradient_checkpointing(facts, 80 * gib, 4, True, 8 * 512)
