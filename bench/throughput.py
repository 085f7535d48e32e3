"""LLM throughput, before and after the scheduler and the trainer's changes, in one process on the same
prompts and examples.

Scoring a run's rerank prompts (``--users`` test users, every task): (a) as before, one user's prompt
group at a time with the scorer of commit BEFORE (read from git), float32, the adapter unmerged; (b) the
scheduler, every user at once, the adapter merged, float32; (c) as (b) in the dtype ``llm.dtype = "auto"``
resolves to here (bfloat16 on a CPU with AMX or AVX512-BF16). Training ``--steps`` optimizer steps on the
run's first training examples: (a) as before, random batches padded to their longest, the Trainer's loss
over the full vocabulary at every position, float32; (b) batches grouped by length, logits only where
answers are, float32; (c) as (b) in the ``auto`` dtype.

    .venv/bin/python bench/throughput.py --run runs/ml-100k-quick [--users 20] [--steps 6]

Tokens/s count the prompts' (examples') real tokens, the same for every path: ratios are ratios of time.
Writes bench/results/throughput.json and throughput.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import subprocess
import sys
import tempfile
import time
from itertools import groupby
from pathlib import Path

import numpy as np
import torch
from common import machine, publish

from recranker_core import rundir
from recranker_core.llm import training as tuning
from recranker_core.llm.device import default_device, dtype_name, resolve_dtype
from recranker_core.llm.models import load, merged, resolve_model
from recranker_core.llm.rerank import label_inputs, score_prompts
from recranker_core.manifest import Manifest
from recranker_core.prompt_record import prefix_key
from recranker_core.runfiles import load_tuned

BEFORE = "8745160"
"""The last commit with the per-user scorer and the Trainer's own loss."""


def legacy_scoring(saved: Path | None = None):
    """recranker_core/llm/scoring.py as it was at BEFORE (from git, or ``saved``: a copy of it, for a
    machine without the repository's history), as a module."""
    if saved is not None:
        source = saved.read_text()
    else:
        command = ["git", "show", f"{BEFORE}:recranker_core/llm/scoring.py"]
        source = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "legacy_scoring.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("legacy_scoring", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def dtypes() -> list:
    """float32, then the dtype "auto" resolves to on this machine (its GPU, else its CPU) if another."""
    return sorted({torch.float32, resolve_dtype("auto")}, key=str, reverse=True)


def model_of(run: Path, manifest: Manifest, dtype=None):
    """The run's tuned model on this machine's device, or its base model before it is trained (the cost
    barely depends on it)."""
    if manifest.done("train"):
        model, tokenizer = load_tuned(run, manifest, dtype)
    else:
        model, tokenizer = load(resolve_model(manifest.config.llm.model), dtype=dtype)
    return model.to(default_device()), tokenizer


def score_before(legacy, model, tokenizer, prompts, scale) -> list[np.ndarray]:
    """The loop before the scheduler: one LabelScorer call per user's prompt group, batch_size 64."""
    out = []
    for _, group in groupby(prompts, key=prefix_key):
        inputs = label_inputs(model, tokenizer, list(group), scale, {})
        out += inputs.fold(legacy.LabelScorer(model, batch_size=64).score(inputs.sequences, inputs.ids))
    return out


def timed(work) -> tuple:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def scoring(run: Path, manifest: Manifest, users: int, rounds: int, legacy_file: Path | None = None) -> dict:
    """Each path's best of ``rounds`` rounds, the paths interleaved within a round: another job on the
    cores then slows every path alike instead of one."""
    prompts = rundir.read_prompts(run / rundir.TEST_PROMPTS)
    chosen = list(dict.fromkeys(p["meta"]["user_id"] for p in prompts))[:users]
    mine = [p for p in prompts if p["meta"]["user_id"] in chosen]
    scale = (int(manifest.dataset["rating_min"]), int(manifest.dataset["rating_max"]))
    rerank = manifest.config.rerank
    options = {"mode": "logits", "scale": scale, "batch_size": rerank.batch_size}
    options["batch_tokens"] = rerank.batch_tokens
    legacy = legacy_scoring(legacy_file)
    model, tokenizer = model_of(run, manifest)
    tokens = sum(map(len, label_inputs(model, tokenizer, mine, scale, {}).sequences))
    paths = {
        "before (per user, float32, unmerged)": lambda: score_before(legacy, model, tokenizer, mine, scale)
    }
    for dtype in dtypes():
        own, _ = model_of(run, manifest, dtype)
        merged(own)
        paths[f"scheduler ({dtype_name(dtype)}, merged)"] = lambda own=own: list(
            score_prompts(own, tokenizer, mine, **options)["probs"]
        )
    found, seconds = {}, {name: [] for name in paths}
    for work in paths.values():
        work()  # warm-up
    for _ in range(rounds):
        for name, work in paths.items():
            found[name], spent = timed(work)
            seconds[name].append(spent)
    flat = {n: np.concatenate([np.asarray(p, dtype=float) for p in f]) for n, f in found.items()}
    first = next(iter(paths))
    return {
        "users": len(chosen),
        "prompts": len(mine),
        "tokens": tokens,
        "rounds": rounds,
        "paths": {
            name: {
                "seconds": round(min(seconds[name]), 2),
                "all_seconds": [round(x, 2) for x in seconds[name]],
                "prompts_per_second": round(len(mine) / min(seconds[name]), 1),
                "tokens_per_second": round(tokens / min(seconds[name]), 1),
                "speedup": round(min(seconds[first]) / min(seconds[name]), 2),
                "max_abs_difference_from_before": float(np.abs(flat[name] - flat[first]).max()),
            }
            for name in paths
        },
    }


def train_steps(model, tokenizer, rows, config, steps: int, before: bool) -> float:
    """Seconds of ``steps`` optimizer steps: the Trainer as before (random batches, its own loss over the
    full vocabulary, float32 weights with bf16 autocast on a GPU only, as BEFORE's code had it) or as now
    (``build_trainer``)."""
    from transformers import DataCollatorForSeq2Seq, Trainer

    with tempfile.TemporaryDirectory() as scratch:
        if before:
            gpu = torch.cuda.is_available()
            args = tuning._arguments(config, scratch, steps, config.batch_size, 0, bf16=gpu)
            args = dataclasses.replace(args, train_sampling_strategy="random")
            collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=tuning.IGNORE)
            dataset = tuning._ListDataset(rows)
            trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
        else:
            trainer, _ = tuning.build_trainer(model, tokenizer, (rows, []), config, scratch, 0)
        return float(trainer.train().metrics["train_runtime"])


def training(run: Path, manifest: Manifest, steps: int) -> dict:
    config = dataclasses.replace(manifest.config.llm, epochs=1.0, checkpoint_steps=0, rank_loss=0.0)
    folder = resolve_model(config.model)
    examples = rundir.read_prompts(run / rundir.TRAIN_EXAMPLES)
    subset = tuning.mixed_subset(examples, steps * config.batch_size, np.random.default_rng(0))
    autocast = ", bf16 autocast" if torch.cuda.is_available() else ""
    runs = [(f"before (random batches, full logits, float32{autocast})", torch.float32, True)]
    runs += [(f"grouped by length, answer logits ({dtype_name(d)})", d, False) for d in dtypes()]
    paths = {}
    for name, dtype, before in runs:
        own = dataclasses.replace(config, dtype=dtype_name(dtype))
        model, tokenizer = tuning._trainable(folder, own, dtype)
        rows, _ = tuning.tokenize_examples(tokenizer, subset, 8192)
        paths[name] = train_steps(model, tokenizer, rows, own, steps, before)
    tokens = sum(len(r["input_ids"]) for r in rows)
    first = next(iter(paths.values()))
    return {
        "steps": steps,
        "examples": len(subset),
        "tokens": tokens,
        "paths": {
            name: {
                "seconds": round(seconds, 2),
                "tokens_per_second": round(tokens / seconds, 1),
                "speedup": round(first / seconds, 2),
            }
            for name, seconds in paths.items()
        },
    }


def table(section: dict, columns: list[str]) -> list[str]:
    lines = ["| path | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in section["paths"].items():
        cells = [" / ".join(map(str, row[c])) if isinstance(row[c], list) else f"{row[c]:,}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def page(document: dict) -> list[str]:
    """The results page of a throughput document."""
    s, t = document["scoring"], document["training"]
    differences = ", ".join(f"{n}: {r['max_abs_difference_from_before']:.2g}" for n, r in s["paths"].items())
    return [
        "# LLM throughput: before and after the scheduler and the trainer's changes",
        "",
        f"Model `{document['model']}`, {document['threads']} threads, one process, `{document['run']}`.",
        "",
        f"## Scoring {s['prompts']} rerank prompts of {s['users']} test users "
        f"({s['tokens']:,} prompt tokens)",
        "",
        *table(s, ["seconds", "all_seconds", "prompts_per_second", "tokens_per_second", "speedup"]),
        "",
        f"Seconds: each path's best of {s['rounds']} interleaved rounds (all_seconds). Largest "
        f"label-probability difference from before: {differences}. On a CPU one user's prompts already fill "
        "a forward pass, so packing users together gains little there; it is for a GPU, where one user's "
        "prompts used a few percent of the chip. Where the CPU has native bf16, bfloat16 is the gain.",
        "",
        f"## Training: {t['steps']} optimizer steps on {t['examples']} examples ({t['tokens']:,} tokens)",
        "",
        *table(t, ["seconds", "tokens_per_second", "speedup"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/ml-100k-quick"))
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2, help="scoring rounds; each path's best is kept")
    parser.add_argument("--legacy", type=Path, help="a copy of BEFORE's scoring.py (no git history here)")
    parser.add_argument("--out", type=str, default="throughput", help="results name (bench/results/NAME.*)")
    args = parser.parse_args()

    from recranker_core.launch import set_threads

    manifest = Manifest.read(args.run)
    set_threads(manifest.config.rerank.threads)
    document = {
        "run": args.run.name,
        "model": manifest.config.llm.model,
        "threads": torch.get_num_threads(),
        "scoring": scoring(args.run, manifest, args.users, args.rounds, args.legacy),
        "training": training(args.run, manifest, args.steps),
        "machine": machine(),
    }
    publish(
        args.out,
        document,
        page(document),
        " ".join([".venv/bin/python", "bench/throughput.py", *sys.argv[1:]]),
    )


if __name__ == "__main__":
    main()
