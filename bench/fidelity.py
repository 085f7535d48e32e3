"""Before and after the fidelity fixes: two quick runs of ML-100K read with today's evaluation.

    .venv/bin/python bench/fidelity.py --before RUN_BEFORE --after RUN_AFTER

RUN_BEFORE is a quick run made by the code before the fixes (commit 3b108f7), RUN_AFTER one made by
this version (`make run`). Both are re-evaluated with today's metrics (paired differences from the
base model, same users and resamples), and the shape of their training lists, the coverage of their
test pairs and their validation pairwise accuracy are read from their files. Writes
bench/results/fidelity-quick.json and .md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from common import RESULTS, machine

from recranker_core import rundir
from recranker_core.config import EvaluationConfig
from recranker_core.evaluation import metrics_document
from recranker_core.instructions.lists import list_shape
from recranker_core.manifest import Manifest
from recranker_core.runfiles import evaluation_truth, rerank_results

HEADLINE = ("HR@3", "NDCG@3", "HR@5", "NDCG@5")


def pair_coverage(test: list[dict]) -> float:
    """Share of a test user's candidates that are in at least one asked pair, over users."""
    asked, listed = defaultdict(set), defaultdict(set)
    for prompt in test:
        meta = prompt["meta"]
        (asked if meta["task"] == "pairwise" else listed)[meta["user_id"]].update(meta["items"])
    return sum(len(asked[u] & listed[u]) / len(listed[u]) for u in listed) / len(listed)


def read(run: Path) -> dict:
    manifest = Manifest.read(run)
    truth = evaluation_truth(run)
    rankings = rundir.read_table(run / rundir.RANKINGS)
    rankings = rankings[rankings["user_id"].isin(truth["user_id"])]
    evaluation = EvaluationConfig(bootstrap_samples=manifest.config.evaluation.bootstrap_samples)
    metrics = metrics_document(
        rankings, truth, evaluation, manifest.config.seed, reference=manifest.primary_method
    )
    return {
        "run": str(run),
        "exclude": manifest.config.baselines.exclude,
        "seconds": {
            s: manifest.stage(s).get("seconds") for s in ("baselines", "instructions", "train", "rerank")
        },
        "train_examples": manifest.summary("train")["examples"],
        "list_shape": list_shape(rundir.read_prompts(run / rundir.TRAIN_EXAMPLES)),
        "pair_coverage": round(pair_coverage(rundir.read_prompts(run / rundir.TEST_PROMPTS)), 4),
        "validation_pairwise_accuracy": rerank_results(run, manifest)["validation_pairwise_accuracy"],
        "metrics": metrics,
    }


def cell(entry: dict, signed: bool = False) -> str:
    fmt = "{:+.3f}" if signed else "{:.3f}"
    mark = ""
    if signed:
        mark = " ↑" if entry["ci_low"] > 0 else " ↓" if entry["ci_high"] < 0 else ""
    return (
        f"{fmt.format(entry['value'])} "
        f"({fmt.format(entry['ci_low'])} to {fmt.format(entry['ci_high'])}){mark}"
    )


def markdown(document: dict) -> str:
    before, after = document["before"], document["after"]
    lines = [
        "# The fidelity fixes, before and after (quick profile, ML-100K, 2 CPU cores)",
        "",
        "Both runs: `python -m recranker_core run --profile quick --dataset ml-100k`, "
        "before with the code of "
        "commit 3b108f7, after with this version; "
        "both read with today's evaluation (paired differences from "
        f"{before['metrics']['reference']} over the same users and bootstrap resamples, "
        "95% intervals; ↑/↓: the "
        "interval excludes 0). Each run is evaluated on the same seeded 200 test users; "
        "its base model's candidates "
        "differ between the runs (after: items rated after the target are no longer left out).",
        "",
        "## What the training data and test prompts look like",
        "",
        "| | before | after |",
        "|---|---|---|",
    ]
    for label, get in (
        (
            "listwise training lists with the like at the last base position",
            lambda r: f"{r['list_shape']['last_position_share']:.0%}",
        ),
        (
            "pairwise hints that agree with the training answer",
            lambda r: f"{r['list_shape']['hint_agreement']:.0%}",
        ),
        ("a test user's candidates in at least one asked pair", lambda r: f"{r['pair_coverage']:.0%}"),
        (
            "candidates leave out",
            lambda r: {"all-rated": "every rated item", "known": "items rated before the target"}[
                r["exclude"]
            ],
        ),
        (
            "training / rerank seconds",
            lambda r: f"{r['seconds']['train']:.0f} / {r['seconds']['rerank']:.0f}",
        ),
    ):
        lines.append(f"| {label} | {get(before)} | {get(after)} |")
    for name, run in (("before", before), ("after", after)):
        methods = run["metrics"]["methods"]
        accuracy = run["validation_pairwise_accuracy"]
        lines += [
            "",
            f"## {name.capitalize()}",
            "",
            "| method | " + " | ".join(HEADLINE) + " | Δ NDCG@3 vs base | val. pairwise acc. |",
            "|---|" + "---|" * (len(HEADLINE) + 2),
        ]
        for method, entry in methods.items():
            cells = [cell(entry["metrics"][m]) for m in HEADLINE]
            delta = cell(entry["delta"]["NDCG@3"], signed=True) if "delta" in entry else "–"
            acc = f"{accuracy[method]:.2f}" if method in accuracy else "–"
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {delta} | {acc} |")
    lines += ["", f"Machine: {document['machine']['cpu']}, {document['machine']['cores']} cores.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    args = parser.parse_args()
    document = {"before": read(args.before), "after": read(args.after), "machine": machine()}
    (RESULTS / "fidelity-quick.json").write_text(json.dumps(document, indent=1) + "\n")
    (RESULTS / "fidelity-quick.md").write_text(markdown(document))
    print(markdown(document))


if __name__ == "__main__":
    main()
