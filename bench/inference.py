"""Per-user reranking cost with the quick profile's model, three ways, on the same users and prompts:

  (a) generate + parse    greedy answers, parsed (the paper's mode), no prefix reuse
  (b) logits, no cache    one forward pass per prompt, label probabilities at the last position
  (c) logits, cached      the user's shared prompt prefix encoded once, continuations batched

    .venv/bin/python bench/inference.py [--run runs/ml-100k-quick] [--users 3]

Uses the run's test prompts (all three tasks) and the untuned embedded model (the cost does not
depend on the adapter). Writes bench/results/inference.json and inference.md.
"""

from __future__ import annotations

import argparse
import time
from itertools import groupby
from pathlib import Path

import numpy as np
import torch
from common import machine, publish

from recranker_core import rundir
from recranker_core.llm.models import load, resolve_model
from recranker_core.llm.rerank import score_prompts
from recranker_core.llm.scoring import TokenCount

MODES = {
    "a": ("generate + parse", {"mode": "generate", "prefix_cache": False}),
    "b": ("logits, no prefix cache", {"mode": "logits", "prefix_cache": False}),
    "c": ("logits, prefix cache + batching", {"mode": "logits", "prefix_cache": True}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/ml-100k-quick"))
    parser.add_argument("--users", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(torch.get_num_threads())
    prompts = rundir.read_prompts(args.run / rundir.TEST_PROMPTS)
    users = [list(g) for _, g in groupby(prompts, key=lambda p: p["meta"]["user_id"])][: args.users]
    chosen = [p for group in users for p in group]
    model, tokenizer = load(resolve_model("embedded"))
    score_prompts(model, tokenizer, users[0][:2], mode="logits", scale=(1, 5))  # warm-up

    results, probabilities = {}, {}
    for key, (label, options) in MODES.items():
        counter = TokenCount()
        started = time.perf_counter()
        out = score_prompts(
            model, tokenizer, chosen, scale=(1, 5), batch_size=16, counter=counter, desc=label, **options
        )
        seconds = time.perf_counter() - started
        probabilities[key] = np.concatenate([np.asarray(p) for p in out["probs"]])
        tokens = counter.prompt_tokens + counter.generated_tokens
        results[key] = {
            "mode": label,
            "seconds_per_user": round(seconds / len(users), 2),
            "tokens_per_user": round(tokens / len(users)),
            "tokens_per_second": round(tokens / seconds, 1),
            "parse_failure_rate": round(1 - float(out["parsed"].mean()), 3),
        }
    document = {
        "model": "SmolLM2-135M-Instruct (embedded), float32",
        "users": len(users),
        "prompts_per_user": round(len(chosen) / len(users), 1),
        "threads": torch.get_num_threads(),
        "speedup_c_over_a": round(results["a"]["seconds_per_user"] / results["c"]["seconds_per_user"], 2),
        "speedup_c_over_b": round(results["b"]["seconds_per_user"] / results["c"]["seconds_per_user"], 2),
        "max_abs_difference_b_c": float(np.abs(probabilities["b"] - probabilities["c"]).max()),
        "modes": results,
        "machine": machine(),
    }
    lines = [
        "# Reranking cost per user (all three tasks)",
        "",
        f"{document['model']}; {document['users']} test users of `{args.run.name}`, "
        f"{document['prompts_per_user']} prompts each "
        "(pointwise x10, pairwise pairs in both orders, listwise copies); "
        f"{document['threads']} threads.",
        "",
        "| mode | s / user | tokens / user | tokens / s | parse failures |",
        "|---|---|---|---|---|",
    ]
    for key, r in results.items():
        lines.append(
            f"| ({key}) {r['mode']} | {r['seconds_per_user']} | {r['tokens_per_user']} "
            f"| {r['tokens_per_second']} "
            f"| {r['parse_failure_rate']:.0%} |"
        )
    lines += [
        "",
        f"(c) is {document['speedup_c_over_a']}x faster than (a) and "
        f"{document['speedup_c_over_b']}x faster than (b), "
        f"measured in one run; (b) and (c) agree to {document['max_abs_difference_b_c']:.1e}. "
        "Tokens counted are "
        "those run through the model (prompt tokens, plus generated tokens in (a)).",
    ]
    publish("inference", document, lines, ".venv/bin/python bench/inference.py --run runs/ml-100k-quick")


if __name__ == "__main__":
    main()
