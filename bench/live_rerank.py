"""Live rerank of one user: scoring the user's prompts task by task against all at once.

    .venv/bin/python bench/live_rerank.py --run runs/quick [--users 4]

The dashboard's Live rerank used to score each task separately, which encodes the user's shared
prompt prefix (system prompt and history) three times; one call encodes it once. Both ways run on
the same users in one process; writes bench/results/live_rerank.json and .md with the machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import machine, publish, trained_run

from recranker_core.llm.rerank import score_prompts
from recranker_core.ranking import TASKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/quick"), help="a trained run folder")
    parser.add_argument("--users", type=int, default=4, help="test users timed both ways")
    args = parser.parse_args()
    manifest, model, tokenizer, prompts, users, scale = trained_run(args.run, args.users)
    config = manifest.config
    options = {"mode": config.rerank.mode, "scale": scale, "batch_size": config.rerank.batch_size}
    per_task = at_once = 0.0
    for user in users:
        mine = [p for p in prompts if p["meta"]["user_id"] == user]
        started = time.perf_counter()
        for task in TASKS:
            score_prompts(model, tokenizer, [p for p in mine if p["meta"]["task"] == task], **options)
        per_task += time.perf_counter() - started
        started = time.perf_counter()
        score_prompts(model, tokenizer, mine, **options)
        at_once += time.perf_counter() - started
    document = {
        "run": args.run.name,
        "users": len(users),
        "seconds_per_user": {
            "task_by_task": round(per_task / len(users), 3),
            "at_once": round(at_once / len(users), 3),
        },
        "speedup": round(per_task / at_once, 2),
        "machine": machine(),
    }
    publish(
        "live_rerank",
        document,
        [
            "# Live rerank: one user's prompts task by task vs at once",
            "",
            f"Run `{document['run']}`, {document['users']} test users, both ways in one process: "
            f"{document['seconds_per_user']['task_by_task']} s/user task by task, "
            f"{document['seconds_per_user']['at_once']} s/user at once ({document['speedup']}x).",
        ],
        f".venv/bin/python bench/live_rerank.py --run runs/{document['run']}",
    )


if __name__ == "__main__":
    main()
