"""The CPU stages at the paper's ML-1M size, measured; the LLM stages' time there, expected.

    .venv/bin/python bench/paper_sizes.py [--users 6040 --items 3706 --ratings 1000209]

A synthetic ratings CSV of ML-1M's shape (users, items, ratings; Zipf-skewed item popularity, 1-5 ratings,
increasing timestamps) goes through `baselines`, `sample` and `instructions` with the `paper` profile and
`[sampling] n_users = 10000` (the paper's ML-1M draws), each command in its own process: wall seconds and
peak resident memory. The LLM stages are not run here (a CPU would take days): their expected seconds
are the H200 paper run on ML-100K (bench/results/paper-ml100k-h200-manifest.json) scaled by the examples
and prompts this run wrote. Writes bench/results/paper-sizes.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recranker_core import rundir

RESULTS = Path(__file__).parent / "results"
H200 = RESULTS / "paper-ml100k-h200-manifest.json"
THROUGHPUT = RESULTS / "throughput.json"
ML1M_DRAWS = 10_000
"""The paper's sampled users for ML-1M (5,000 for ML-100K and BookCrossing)."""


def synthetic(users: int, items: int, ratings: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per_user = rng.multinomial(ratings - 20 * users, np.full(users, 1 / users)) + 20  # ML-1M: 20 or more
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    popularity /= popularity.sum()
    rows = []
    for user, count in enumerate(per_user):
        chosen = rng.choice(items, size=min(count, items), replace=False, p=popularity)
        rows.append(pd.DataFrame({"user_id": user + 1, "item_id": chosen + 1}))
    table = pd.concat(rows, ignore_index=True)
    table["rating"] = rng.choice([1, 2, 3, 4, 5], size=len(table), p=[0.06, 0.11, 0.26, 0.35, 0.22])
    table["timestamp"] = 956_703_932 + np.arange(len(table))
    return table


def measured(argv: list[str]) -> dict:
    """Wall seconds and peak resident memory (GiB) of one command in a process of its own."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "recranker_core", *argv, "-q"])
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(argv)}: failed")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_gib": round(usage.ru_maxrss / 2**20, 2)}


def expected_llm(run: Path) -> dict:
    """The H200 ML-100K paper run's train and rerank seconds, scaled by this run's examples and prompts."""
    h200 = json.loads(H200.read_text())["stages"]
    mine = rundir.read_json(run / rundir.MANIFEST)["stages"]["instructions"]["summary"]
    theirs = h200["instructions"]["summary"]
    examples = sum(mine["train_examples"].values()) / sum(theirs["train_examples"].values())
    prompts = sum(mine["test_prompts"].values()) + sum(mine["valid_rerank_prompts"].values())
    prompts /= sum(theirs["test_prompts"].values()) + sum(theirs["valid_rerank_prompts"].values())
    counts = {
        "train_examples": sum(mine["train_examples"].values()),
        "rerank_prompts": sum(mine["test_prompts"].values()) + sum(mine["valid_rerank_prompts"].values()),
        "train_seconds_h200": round(h200["train"]["seconds"] * examples),
        "rerank_seconds_h200": round(h200["rerank"]["seconds"] * prompts),
    }
    return counts | on_this_cpu(counts)


def on_this_cpu(counts: dict) -> dict:
    """The same work at the throughput bench's best CPU rates (bench/results/throughput.json: the embedded
    model, 2 threads), its training examples' mean length taken for these."""
    bench = json.loads(THROUGHPUT.read_text())
    scoring = max(p["prompts_per_second"] for p in bench["scoring"]["paths"].values())
    training = max(p["tokens_per_second"] for p in bench["training"]["paths"].values())
    tokens = counts["train_examples"] * bench["training"]["tokens"] / bench["training"]["examples"]
    return {
        "train_seconds_cpu": round(tokens / training),
        "rerank_seconds_cpu": round(counts["rerank_prompts"] / scoring),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--items", type=int, default=3706)
    parser.add_argument("--ratings", type=int, default=1_000_209)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from common import machine

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        data = folder / "ml-1m-shaped.csv"
        synthetic(args.users, args.items, args.ratings).to_csv(data, index=False)
        profile = folder / "paper-ml1m.toml"
        base = (Path(__file__).parents[1] / "recranker_core" / "profiles" / "paper.toml").read_text()
        profile.write_text(base.replace("n_users = 5000", f"n_users = {ML1M_DRAWS}"))
        run = folder / "run"
        stages = {
            "baselines": measured(
                ["baselines", "--profile", str(profile), "--dataset", str(data), "--out", str(run)]
            )
        }
        stages |= {name: measured([name, "--run", str(run)]) for name in ("sample", "instructions")}
        result = {
            "data": {"users": args.users, "items": args.items, "ratings": args.ratings},
            "profile": f"paper, [sampling] n_users = {ML1M_DRAWS}",
            "cpu_stages": stages,
            "llm_expected": expected_llm(run),
            "machine": machine(),
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "paper-sizes.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "paper-sizes.md").write_text(report(result))
    print(report(result))


def report(result: dict) -> str:
    data, llm = result["data"], result["llm_expected"]
    lines = [
        "# The paper's ML-1M size: CPU stages measured, LLM stages expected",
        "",
        f"Synthetic ratings of ML-1M's shape: {data['users']:,} users, {data['items']:,} items, "
        f"{data['ratings']:,} ratings; profile {result['profile']}.",
        "",
        "| command | seconds | peak memory (GiB) |",
        "|---|---|---|",
        *(f"| {name} | {s['seconds']} | {s['peak_gib']} |" for name, s in result["cpu_stages"].items()),
        "",
        f"LLM stages, expected on one H200 (the ML-100K paper run's seconds scaled by examples and prompts): "
        f"train {llm['train_examples']:,} examples in about {llm['train_seconds_h200'] / 60:.0f} min, rerank "
        f"{llm['rerank_prompts']:,} prompts in about {llm['rerank_seconds_h200'] / 60:.0f} min. "
        "On the CPU of bench/results/throughput.md (best path, 2 threads): "
        f"train about {llm['train_seconds_cpu'] / 3600:.0f} h, "
        f"rerank about {llm['rerank_seconds_cpu'] / 3600:.1f} h.",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in result["machine"].items()) + ".",
        "",
        "Reproduce: `.venv/bin/python bench/paper_sizes.py`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
