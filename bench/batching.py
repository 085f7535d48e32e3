"""Rerank scoring of one user's prompts: continuations cut into fixed-size batches (as before) against
batches of similar length.

    .venv/bin/python bench/batching.py --run runs/ml-100k-quick [--users 4]

After the shared prefix, a user's pairwise continuations are about 55 tokens and listwise ones about 210;
in one fixed-size batch every pairwise row was padded to the listwise length, and padding costs as much as
a real token. Both ways run on the same users in one process, in alternating order; writes
bench/results/batching.json and .md with the machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import machine, publish, trained_run

from recranker_core.llm import scoring
from recranker_core.llm.rerank import score_prompts

SIMILAR = scoring.similar_lengths


def fixed_size(lengths: list[int], size: int, **budget) -> list[tuple[int, int]]:
    """The earlier batching: consecutive chunks of ``size``, whatever their lengths (and token budget)."""
    return [(start, min(start + size, len(lengths))) for start in range(0, len(lengths), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/ml-100k-quick"), help="a trained run folder")
    parser.add_argument("--users", type=int, default=4, help="test users timed both ways")
    args = parser.parse_args()
    manifest, model, tokenizer, prompts, users, scale = trained_run(args.run, args.users)
    config = manifest.config
    options = {"mode": "logits", "scale": scale, "batch_size": config.rerank.batch_size}
    seconds, largest = {"fixed": 0.0, "similar": 0.0}, 0.0
    for index, user in enumerate(users):
        mine = [p for p in prompts if p["meta"]["user_id"] == user]
        probs = {}
        ways = ("fixed", "similar") if index % 2 == 0 else ("similar", "fixed")
        for way in ways:
            scoring.similar_lengths = fixed_size if way == "fixed" else SIMILAR
            started = time.perf_counter()
            probs[way] = score_prompts(model, tokenizer, mine, **options)["probs"]
            seconds[way] += time.perf_counter() - started
        largest = max(
            largest,
            max(float(np.abs(np.subtract(a, b)).max()) for a, b in zip(probs["fixed"], probs["similar"])),
        )
    scoring.similar_lengths = SIMILAR
    document = {
        "run": args.run.name,
        "users": len(users),
        "batch_size": config.rerank.batch_size,
        "seconds_per_user": {way: round(s / len(users), 3) for way, s in seconds.items()},
        "speedup": round(seconds["fixed"] / seconds["similar"], 2),
        "largest_probability_difference": largest,
        "machine": machine(),
    }
    per_user = document["seconds_per_user"]
    publish(
        "batching",
        document,
        [
            "# Rerank scoring: fixed-size batches against batches of similar length",
            "",
            f"Run `{document['run']}`, {document['users']} test users (all their prompts, logits mode, batch "
            f"size {document['batch_size']}), both ways in one process: {per_user['fixed']} s/user with "
            f"fixed-size batches, {per_user['similar']} s/user with similar lengths "
            f"({document['speedup']}x); "
            f"largest difference in a label probability {largest:.1e}.",
        ],
        f".venv/bin/python bench/batching.py --run runs/{document['run']}",
    )


if __name__ == "__main__":
    main()
