"""What the benchmark scripts share: the machine description, the results folder, publishing, trained runs."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def machine() -> dict[str, object]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def machine_line(m: dict) -> str:
    """The sentence a results page describes ``machine()`` with."""
    return f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}."


def publish(name: str, document: dict, body: list[str], reproduce: str) -> None:
    """Write ``document`` to results/NAME.json and the page ``body`` to results/NAME.md, closed by the
    machine it ran on and the command that reproduces it; print the page."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    text = "\n".join([*body, "", machine_line(document["machine"]), "", f"Reproduce: `{reproduce}`.", ""])
    (RESULTS / f"{name}.md").write_text(text)
    print(text)


def trained_run(run: Path, users: int):
    """(manifest, tuned model, tokenizer, test prompts, the first ``users`` users with prompts, rating
    scale) of a trained run folder, the model loaded as the dashboard loads it
    (``runfiles.load_tuned_on_cpu``)."""
    from recranker_core import rundir
    from recranker_core.manifest import Manifest
    from recranker_core.runfiles import load_tuned_on_cpu

    manifest = Manifest.read(run)
    model, tokenizer = load_tuned_on_cpu(run, manifest)
    prompts = rundir.read_prompts(run / rundir.TEST_PROMPTS)
    chosen = list(dict.fromkeys(p["meta"]["user_id"] for p in prompts))[:users]
    scale = (int(manifest.dataset["rating_min"]), int(manifest.dataset["rating_max"]))
    return manifest, model, tokenizer, prompts, chosen, scale
