"""What each lever of issue 13 gives, on CPU: a profile with one lever changed per variant.

    .venv/bin/python bench/ablation_levers.py                  # quick: 15 to 30 minutes a variant
    .venv/bin/python bench/ablation_levers.py --profile medium --variants off rank-loss

Every variant runs the same stages on ML-100K into runs/ablation-levers/PROFILE-NAME (kept, so a stopped
script resumes), reranks the same 200 seeded test users' lists (those whose test item is listed) and
tunes its weights on the same validation users; zero-shot scoring is left out to halve the cost.
Within a variant, each LLM row is compared with the base model whose candidates it reranks; across
variants, a lever's row is compared with the same row without the lever. Every comparison is paired
(same users, same bootstrap resamples). Fusion is a row of every variant: `fusion` against the base
is the fusion lever on and off. Writes bench/results/ablation-levers.json/md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pandas as pd
from common import RESULTS, machine

from recranker_core import rundir
from recranker_core.config import RunConfig, load_profile
from recranker_core.evaluation import paired_deltas, per_user_metrics
from recranker_core.fusion import CONTROL
from recranker_core.manifest import Manifest
from recranker_core.runfiles import evaluation_truth, rerank_results
from recranker_core.runner import run_all

RUNS = Path("runs/ablation-levers")
VALID_USERS = 40
"""Validation rerank users of every variant (weights and the judged method are chosen on them)."""
VARIANTS = {
    "off": {},
    "rank-loss": {"llm": {"rank_loss": 1.0}},
    "ease-base": {"baselines": {"primary": "ease"}},
    "collab-tokens": {"prompts": {"collab_tokens": True}},
    "gemma3-270m": {"llm": {"model": "gemma3-270m"}},
}
"""Each variant's changes to the quick profile, by section; "off" is quick itself."""
ROWS = ("pointwise", "pairwise", "listwise", "hybrid-tuned", "fusion", CONTROL)
METRIC = "NDCG@3"


def variant_config(profile: str, changes: dict) -> RunConfig:
    config = load_profile(profile)
    config = dataclasses.replace(
        config,
        prompts=dataclasses.replace(config.prompts, rerank_valid_users=VALID_USERS),
        rerank=dataclasses.replace(config.rerank, zeroshot=False),
    )
    for section, values in changes.items():
        config = dataclasses.replace(
            config, **{section: dataclasses.replace(getattr(config, section), **values)}
        )
    return config


def facts(run: Path) -> dict:
    """What a variant's run cost and which base it reranked."""
    manifest = Manifest.read(run)
    stages, results = manifest.stages, rerank_results(run, manifest)
    users = manifest.summary("rerank")["test_users"] + results["validation_users"]
    return {
        "base": manifest.primary_method,
        "train_seconds": stages["train"]["seconds"],
        "train_examples": manifest.summary("train")["examples"],
        "rerank_seconds_per_user": round(stages["rerank"]["seconds"] / users, 2),
        "validation_users": results["validation_users"],
        "selected": results["selected"],
        "validation_pairwise_accuracy": results["validation_pairwise_accuracy"],
    }


def comparisons(runs: dict[str, Path]) -> dict:
    """Within each variant: its rows against its base and the control; across: each row against "off"."""
    first = next(iter(runs.values()))
    config = Manifest.read(first).config
    truth = evaluation_truth(first)
    tables = {
        name: rundir.read_table(run / rundir.RANKINGS).assign(
            method=lambda t, name=name: name + "/" + t["method"]
        )
        for name, run in runs.items()
    }
    per_user = per_user_metrics(pd.concat(tables.values()), truth, config.evaluation.ks)
    seed, evaluation = config.seed, config.evaluation
    within, across = {}, {}
    for name, run in runs.items():
        manifest = Manifest.read(run)
        base, selected = manifest.primary_method, rerank_results(run, manifest)["selected"]
        rivals = (f"{name}/{base}", f"{name}/{CONTROL}")
        within[name] = {
            row: paired_deltas(per_user, evaluation, seed, f"{name}/{row}", rivals)
            for row in dict.fromkeys([*ROWS, selected])
        }
        if name != "off" and "off" in runs:
            across[name] = {
                row: paired_deltas(per_user, evaluation, seed, f"{name}/{row}", (f"off/{row}",))
                for row in ROWS
            }
    return {"within": within, "across": across}


def interval(delta: dict) -> str:
    d = delta[METRIC]
    mark = " ↑" if d["ci_low"] > 0 else " ↓" if d["ci_high"] < 0 else ""
    return f"{d['value']:+.3f} ({d['ci_low']:+.3f} to {d['ci_high']:+.3f}){mark}"


def markdown(document: dict) -> str:
    lines = [
        f"# The levers of issue 13, one at a time ({document['profile']} profile, 2 CPU cores)",
        "",
        f"Each variant is the `{document['profile']}` profile with one change; "
        f"{document['validation_users']} validation users tune the weights and choose the judged method; "
        f"the test rows are the same seeded test users for every variant. Δ {METRIC}, paired (same users, "
        "same resamples), 95% intervals; ↑ / ↓: the interval excludes 0. Zero-shot rows are left out (cost).",
        "",
        "## Within each variant: against its base model and the hint control",
        "",
        f"| variant | base | row | Δ vs base | Δ vs {CONTROL} | val. pairwise acc. (base) |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in document["comparisons"]["within"].items():
        fact = document["variants"][name]
        accuracy = fact["validation_pairwise_accuracy"]
        base = fact["base"]
        for row, deltas in rows.items():
            judged = " (selected)" if row == fact["selected"] else ""
            cells = [interval(d) for d in deltas.values()] + ["–"] * (2 - len(deltas))
            acc = f"{accuracy.get(row, float('nan')):.2f} ({accuracy.get(base, float('nan')):.2f})"
            lines.append(f"| {name} | {base} | {row}{judged} | {' | '.join(cells)} | {acc} |")
    lines += ["", "## Across variants: each row with the lever against the same row without it", ""]
    across = document["comparisons"]["across"]
    if across:
        lines += ["| lever | " + " | ".join(ROWS) + " |", "|---|" + "---|" * len(ROWS)]
        for name, rows in across.items():
            lines.append(
                f"| {name} | " + " | ".join(interval(next(iter(d.values()))) for d in rows.values()) + " |"
            )
    lines += [
        "",
        "## Cost",
        "",
        "| variant | training examples | training seconds | reranking seconds per user |",
        "|---|---|---|---|",
    ]
    for name, fact in document["variants"].items():
        lines.append(
            f"| {name} | {fact['train_examples']} | {fact['train_seconds']:.0f} | "
            f"{fact['rerank_seconds_per_user']:.1f} |"
        )
    lines += [
        "",
        f"Machine: {document['machine']['cpu']}, {document['machine']['cores']} cores. Reproduce: "
        f"`.venv/bin/python bench/ablation_levers.py --profile {document['profile']} --variants "
        f"{' '.join(document['variants'])}`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", default="quick", help="the profile every variant changes (default quick)"
    )
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    runs = {}
    for name in args.variants:
        runs[name] = RUNS / f"{args.profile}-{name}"
        run_all("ml-100k", runs[name], variant_config(args.profile, VARIANTS[name]))
    document = {
        "profile": args.profile,
        "validation_users": VALID_USERS,
        "variants": {name: {"changes": VARIANTS[name], **facts(run)} for name, run in runs.items()},
        "comparisons": comparisons(runs),
        "machine": machine(),
    }
    (RESULTS / "ablation-levers.json").write_text(json.dumps(document, indent=2) + "\n")
    (RESULTS / "ablation-levers.md").write_text(markdown(document))
    print(markdown(document))


if __name__ == "__main__":
    main()
