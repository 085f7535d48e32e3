"""Tiny randomly initialised causal LMs of each supported architecture, saved as safetensors folders with
the tiny model's tokenizer: the bigger-model path (any local Llama, Qwen2, Mistral or Gemma 3 folder)
exercised on the CPU in seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

from recranker_core.llm.models import resolve_model

SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
HEADS = {"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8}


def config_of(kind: str, vocab: int, window: int):
    """A transformers config of architecture ``kind`` with ``window`` as its sliding window where it has
    one (Mistral, Gemma 3)."""
    from transformers import Gemma3TextConfig, LlamaConfig, MistralConfig, Qwen2Config

    common = SMALL | HEADS | {"vocab_size": vocab, "max_position_embeddings": 2048}
    common["tie_word_embeddings"] = True
    if kind == "llama":
        return LlamaConfig(**common)
    if kind == "qwen2":
        return Qwen2Config(**common)
    if kind == "mistral":
        return MistralConfig(**common, sliding_window=window)
    if kind == "gemma3_text":
        layers = ["sliding_attention", "full_attention"]
        return Gemma3TextConfig(**common, sliding_window=window, layer_types=layers, query_pre_attn_scalar=8)
    raise ValueError(kind)


def tiny_model(folder: Path, kind: str, window: int = 4096) -> Path:
    """Build and save a random ``kind`` model into ``folder`` (seeded), with the tiny model's tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer_dir = resolve_model("tiny")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = config_of(kind, len(tokenizer), window)
    config.pad_token_id, config.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, folder / name)
    return folder
