"""The bigger-model path at its real size: a randomly initialised Llama of an 8B configuration (no weights
needed to measure speed), LoRA-trained and scored as the LLM stages do, on one GPU.

    python bench/gpu_scale.py [--size 8b|tiny] [--steps 10] [--out DIR]

Training: ``--steps`` optimizer steps of batches of 8 examples of 512 tokens (answers the last 8), LoRA
r = 16 on every projection, bf16 weights, gradient checkpointing when ``llm.checks`` says a batch would
not fit. Scoring: 64 users of 13 prompts (a 400-token shared prefix, continuations of 50-200 tokens)
through the scheduler. Reports tokens/s and peak memory; ``tiny`` checks the script on a CPU in seconds.
Writes gpu-scale-SIZE.json into ``--out`` (default bench/results).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from recranker_core.llm import checks
from recranker_core.llm.device import default_device, dtype_name, resolve_dtype
from recranker_core.llm.scoring import LabelScorer, TokenCount
from recranker_core.llm.train_rows import IGNORE
from recranker_core.llm.training import answer_loss

SIZES = {
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1000),
}  # fmt: skip


def build(size: str, device, dtype):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(**SIZES[size], max_position_embeddings=8192)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    return get_peft_model(
        model, LoraConfig(r=16, lora_alpha=32, target_modules=targets, task_type="CAUSAL_LM")
    )


def peak_gib(device) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train(model, device, steps: int, batch: int = 8, length: int = 512) -> dict:
    parameters, config = sum(p.numel() for p in model.parameters()), model.config
    facts = checks.ModelFacts("llama", parameters, config.num_hidden_layers, config.hidden_size, frozenset())
    memory = checks.device_memory(device)
    checkpointing = checks.gradient_checkpointing(facts, memory, 2, False, batch * length)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (batch, length), device=device)
    labels = torch.full_like(ids, IGNORE)
    labels[:, -8:] = ids[:, -8:]
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    for step in range(steps + 1):
        if step == 1:  # the first step warms up kernels and the allocator
            sync(device)
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss, _ = answer_loss(model, inputs)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    sync(device)
    seconds = time.perf_counter() - start
    return {
        "steps": steps,
        "tokens_per_step": batch * length,
        "gradient_checkpointing": checkpointing,
        "seconds": round(seconds, 2),
        "tokens_per_second": round(steps * batch * length / seconds, 1),
        "peak_memory_gib": peak_gib(device),
    }


def score(model, device, users: int = 64) -> dict:
    model.eval()
    generator = torch.Generator().manual_seed(0)
    sequences, groups = [], []
    for user in range(users):
        prefix = torch.randint(0, model.config.vocab_size, (400,), generator=generator).tolist()
        for k in range(13):
            tail = 200 if k < 2 else 50
            sequences.append(
                prefix + torch.randint(0, model.config.vocab_size, (tail,), generator=generator).tolist()
            )
            groups.append(user)
    labels = [(1, 2, 3, 4, 5)] * len(sequences)
    model.merge_adapter()
    scorer = LabelScorer(model, batch_size=256, batch_tokens=65536)
    scorer.score(sequences[:13], labels[:13], groups[:13])  # warm-up
    sync(device)
    scorer.counter = TokenCount()
    start = time.perf_counter()
    scorer.score(sequences, labels, groups)
    sync(device)
    seconds = time.perf_counter() - start
    tokens = sum(map(len, sequences))
    return {
        "prompts": len(sequences),
        "tokens": tokens,
        "computed_tokens": scorer.counter.computed_tokens,
        "seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1),
        "prompts_per_second": round(len(sequences) / seconds, 1),
        "peak_memory_gib": peak_gib(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="8b")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    device = default_device()
    dtype = resolve_dtype("auto", device)
    model = build(args.size, device, dtype)
    document = {
        "size": args.size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "dtype": dtype_name(dtype),
        "training": train(model, device, args.steps),
        "scoring": score(model, device, users=64 if args.size == "8b" else 4),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"gpu-scale-{args.size}.json").write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
