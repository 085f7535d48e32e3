"""Time to build the instruction data on the embedded ML-100K with the default settings (N = 1,000 draws).

    .venv/bin/python bench/instructions.py

Writes bench/results/instructions.json and instructions.md: seconds of the sample and
instructions stages (from the run's own manifest), example counts, and the machine.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import machine, publish

from recranker_core import rundir
from recranker_core.config import load_profile
from recranker_core.runner import run_all


def main() -> None:
    config = load_profile("quick")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench"
        run_all("ml-100k", out, config)
        manifest = rundir.read_json(out / rundir.MANIFEST)
        sizes = {p.name: p.stat().st_size for p in (out / rundir.INSTRUCTIONS).iterdir()}
    stages = manifest["stages"]
    document = {
        "dataset": manifest["dataset"]["name"],
        "profile": config.profile,
        "n_users": config.sampling.n_users,
        "sampling_method": config.sampling.method,
        "negatives": config.prompts.negatives,
        "sample_seconds": stages["sample"]["seconds"],
        "instructions_seconds": stages["instructions"]["seconds"],
        "sample": stages["sample"]["summary"],
        "instructions": stages["instructions"]["summary"],
        "file_bytes": sizes,
        "machine": machine(),
    }
    s = document["instructions"]
    publish(
        "instructions",
        document,
        [
            "# Building the instruction data on ML-100K",
            "",
            f"Profile `{document['profile']}` defaults: N = {document['n_users']} draws "
            f"({document['sampling_method']} "
            f"sampling), `{document['negatives']}` negatives, position shifting on.",
            "",
            "| stage | seconds | output |",
            "|---|---|---|",
            f"| sample | {document['sample_seconds']:.1f} | {document['sample']['draws']} draws, "
            f"{document['sample']['distinct_users']} distinct users |",
            f"| instructions | {document['instructions_seconds']:.1f} | train {s['train_examples']}, "
            f"valid {s['valid_examples']}, test {s['test_prompts']} "
            f"({s['test_users_prompted']} test users) |",
        ],
        ".venv/bin/python bench/instructions.py",
    )


if __name__ == "__main__":
    main()
