"""What-if attribution of one prompt: its leave-one-out variants scored each alone against reusing the
prompt's encoding up to where each variant departs from it.

    .venv/bin/python bench/attribution.py --run runs/ml-100k-quick [--users 2]

For each task, the first prompt of each user and its variants (without each history item, without the
hints), written as the What-if page writes them; both ways in one process on the same prompts. Writes
bench/results/attribution.json and .md with the machine.
"""

from __future__ import annotations

import argparse
import time
from functools import cache
from pathlib import Path

import numpy as np
from common import machine, publish, trained_run

from recranker_core import rundir
from recranker_core.analysis import hintmodels, whatif
from recranker_core.llm.rerank import label_inputs
from recranker_core.llm.scoring import LabelScorer, TokenCount
from recranker_core.ranking import TASKS


@cache
def refitted(run: Path, name: str):
    return hintmodels.refit(run, name)


def variants(run: Path, tables: tuple, config, user, prompts: list[dict], task: str) -> list[dict]:
    """The user's first ``task`` prompt and its attribution variants; tables: the run's split and items."""
    lookup = hintmodels.HintScores(
        whatif.known_scores(prompts), lambda name, batch: hintmodels.scores(refitted(run, name), user, batch)
    )
    writer = whatif.writer(*tables, config.prompts, user, lookup)
    prompt = next(p for p in prompts if p["meta"]["task"] == task)
    without, _ = whatif.without_each(whatif.stored(prompts))
    return [prompt] + [whatif.rewrite([prompt], s, writer)[0] for s in without]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/ml-100k-quick"), help="a trained run folder")
    parser.add_argument("--users", type=int, default=2, help="test users timed both ways")
    args = parser.parse_args()
    manifest, model, tokenizer, prompts, users, scale = trained_run(args.run, args.users)
    config = manifest.config
    tables = rundir.read_table(args.run / rundir.SPLIT), rundir.read_table(args.run / rundir.ITEMS)
    rows = {}
    for task in TASKS:
        seconds, tokens, largest = {"alone": 0.0, "variants": 0.0}, {"alone": 0, "variants": 0}, 0.0
        for user in users:
            batch = variants(
                args.run, tables, config, user, [p for p in prompts if p["meta"]["user_id"] == user], task
            )
            inputs = label_inputs(model, tokenizer, batch, scale, {})
            sequences, ids = inputs.sequences, inputs.ids
            counts = {"alone": TokenCount(), "variants": TokenCount()}
            started = time.perf_counter()
            alone = [
                LabelScorer(model, counter=counts["alone"]).score([s], [i])[0] for s, i in zip(sequences, ids)
            ]
            seconds["alone"] += time.perf_counter() - started
            started = time.perf_counter()
            fast = LabelScorer(model, counter=counts["variants"]).score_variants(sequences, ids)
            seconds["variants"] += time.perf_counter() - started
            largest = max(largest, max(float(np.abs(a - b).max()) for a, b in zip(alone, fast)))
            for way in tokens:
                tokens[way] += counts[way].prompt_tokens
        rows[task] = {
            "prompts_per_user": len(batch),
            "seconds_per_prompt_alone": round(seconds["alone"] / len(users), 3),
            "seconds_per_prompt_variants": round(seconds["variants"] / len(users), 3),
            "tokens_alone": tokens["alone"] // len(users),
            "tokens_variants": tokens["variants"] // len(users),
            "speedup": round(seconds["alone"] / seconds["variants"], 2),
            "largest_probability_difference": largest,
        }
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    document = {
        "run": args.run.name,
        "users": len(users),
        "dtype": dtype,
        "tasks": rows,
        "machine": machine(),
    }
    lines = [
        "# What-if attribution: each variant alone against reusing the prompt's encoding",
        "",
        f"Run `{document['run']}`, the first prompt of each task for {len(users)} test users with its "
        "leave-one-out variants (one per history item, one without the hints); both ways in one process. "
        "Seconds and tokens per attributed prompt (the prompt and all its variants), the weights in "
        f"{dtype} as the dashboard loads them (`llm.dtype`; in bfloat16 the two ways round differently, "
        "which the last column shows; in float32 they agreed within 3e-6).",
        "",
        "| task | prompts | s alone | s reusing | speedup | tokens alone | tokens reusing "
        "| largest Δ probability |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, r in rows.items():
        lines.append(
            f"| {task} | {r['prompts_per_user']} | {r['seconds_per_prompt_alone']} | "
            f"{r['seconds_per_prompt_variants']} | {r['speedup']}x | {r['tokens_alone']} | "
            f"{r['tokens_variants']} | {r['largest_probability_difference']:.1e} |"
        )
    publish(
        "attribution", document, lines, f".venv/bin/python bench/attribution.py --run runs/{document['run']}"
    )


if __name__ == "__main__":
    main()
