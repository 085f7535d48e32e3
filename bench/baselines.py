"""Every baseline on the embedded ML-100K: HR/NDCG@3/5/10 with 95% CIs, fit and candidate seconds.

    make bench            # or: .venv/bin/python bench/baselines.py [--profile quick]

Writes bench/results/baselines.json and bench/results/baselines.md, with the machine described.
The numbers come from a real run directory built by the same code as `python -m recranker_core run`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from recranker_core.baselines.models import MODELS
from recranker_core.config import load_profile
from recranker_core.runner import create_run

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, object]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args()

    config = load_profile(args.profile)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench"
        started = time.perf_counter()
        create_run("ml-100k", out, config)
        total = time.perf_counter() - started
        manifest = json.loads((out / "manifest.json").read_text())
        metrics = json.loads((out / "metrics.json").read_text())

    timings = manifest["stages"]["baselines"]["models"]
    rows = []
    for name in config.baselines.models:
        entry = metrics["methods"][f"base:{name}"]
        rows.append(
            {
                "model": name,
                "label": MODELS[name].label,
                **{metric: interval for metric, interval in entry["metrics"].items()},
                **timings[name],
            }
        )
    document = {
        "dataset": manifest["dataset"],
        "profile": config.profile,
        "config": manifest["config"]["baselines"],
        "test_users": metrics["test_users"],
        "ci_level": metrics["ci_level"],
        "run_seconds": round(total, 1),
        "machine": machine(),
        "versions": manifest["versions"],
        "models": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "baselines.json").write_text(json.dumps(document, indent=2) + "\n")
    (RESULTS / "baselines.md").write_text(markdown(document))
    print(markdown(document))


def markdown(doc: dict) -> str:
    names = ["HR@3", "NDCG@3", "HR@5", "NDCG@5", "HR@10", "NDCG@10"]
    m = doc["machine"]
    lines = [
        "# Baselines on ML-100K",
        "",
        f"RecRanker split (last like = test), {doc['test_users']} test users, top-10 unseen items per user; "
        f"mean with {doc['ci_level']:.0%} bootstrap interval. Profile `{doc['profile']}`; "
        f"whole run (load, split, six fits, candidates, evaluation) {doc['run_seconds']} s.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, Python {m['python']}, "
        f"lenskit {doc['versions']['lenskit']}, torch {doc['versions']['torch']}.",
        "",
        "| model | " + " | ".join(names) + " | fit s | candidates s |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for row in doc["models"]:
        cells = [f"{row[n]['value']:.4f} ({row[n]['ci_low']:.3f}–{row[n]['ci_high']:.3f})" for n in names]
        lines.append(
            f"| {row['label']} | " + " | ".join(cells) + f" | {row['fit_seconds']:.1f} | {row['candidate_seconds']:.1f} |"
        )
    lines += [
        "",
        "Reproduce: `make bench` (writes this file and baselines.json).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
