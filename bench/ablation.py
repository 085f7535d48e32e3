"""Which training choices help, judged on validation users only (the test users stay untouched).

    .venv/bin/python bench/ablation.py            # about 20 minutes per variant on 2 CPU cores

Each variant is the `quick` profile with one change, run through the same stages (instructions,
LoRA training, reranking) on the same validation users: those whose validation item is among
ImplicitMF's ten validation candidates. The tuned model's rankings of them are scored with HR@3 and
NDCG@3 against the base order, paired (same users, same resamples), and each method is compared
across the variants the same way. Writes bench/results/ablation-quick.json/md.

Decision rule, fixed before the runs: the default becomes the variant with the higher mean
validation NDCG@3 over the three tasks (pointwise, pairwise, listwise).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import RESULTS, machine

from recranker_core import rundir
from recranker_core.config import EvaluationConfig, load_profile
from recranker_core.evaluation import metrics_document
from recranker_core.ranking import method_rankings, pairwise_accuracy
from recranker_core.runner import run_all

VARIANTS = {
    "candidates": {"negatives": "candidates"},
    "random": {"negatives": "random"},
}
VALID_USERS = 60
TASKS = ("pointwise", "pairwise", "listwise")
METHODS = ("base", *TASKS, "pointwise+prior", "pairwise+prior", "hybrid", "hybrid-tuned")


def validation_rankings(changes: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(rankings of the validation rerank users per method, their validation items, run facts)."""
    base = load_profile("quick")
    config = dataclasses.replace(
        base,
        prompts=dataclasses.replace(base.prompts, rerank_valid_users=VALID_USERS, test_users=40, **changes),
        rerank=dataclasses.replace(base.rerank, zeroshot=False),
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        started = time.perf_counter()
        run_all("ml-100k", out, config)
        seconds = time.perf_counter() - started
        table = rundir.read_table(out / rundir.TASK_SCORES)
        hybrid = json.loads((out / rundir.HYBRID).read_text())
        split = rundir.read_table(out / rundir.SPLIT)
        stages = rundir.read_json(out / rundir.MANIFEST)["stages"]
    valid = table[table["split"] == "valid-rerank"]
    ranked = method_rankings(valid, tuple(config.rerank.hybrid_weights), tuple(hybrid["tuned_weights"]))
    # The base order as a method too, so every variant is read against the same yardstick.
    base_rank = valid[valid["family"] == "tuned"].assign(method="base", rank=lambda t: t["base_rank"] + 1)
    ranked = pd.concat([ranked, base_rank[["user_id", "method", "item_id", "rank"]]], ignore_index=True)
    truth = split.loc[split["role"] == "valid", ["user_id", "item_id"]]
    truth = truth[truth["user_id"].isin(valid["user_id"])]
    facts = {
        "seconds": round(seconds, 1),
        "validation_loss": [
            stages["train"]["summary"]["valid_loss_before"],
            stages["train"]["summary"]["valid_loss_after"],
        ],
        "list_shape": stages["instructions"]["summary"]["list_shape"]["train"],
    }
    return ranked[["user_id", "method", "item_id", "rank"]], truth, facts


def main() -> None:
    rankings, facts, truth = [], {}, None
    for name, changes in VARIANTS.items():
        ranked, truth, facts[name] = validation_rankings(changes)
        rankings.append(ranked.assign(method=name + "/" + ranked["method"]))
    ranked = pd.concat(rankings, ignore_index=True)
    first = next(iter(VARIANTS))
    ranked = ranked[~ranked["method"].str.endswith("/base") | ranked["method"].str.startswith(first)]
    ranked["method"] = ranked["method"].replace({f"{first}/base": "base"})
    evaluation = EvaluationConfig(ks=(3, 5))
    doc = metrics_document(ranked, truth, evaluation, seed=42, reference="base")
    accuracy = pairwise_accuracy(ranked, truth)
    names = list(VARIANTS)
    across = {}
    for method in METHODS[1:]:
        pair = ranked[ranked["method"].isin([f"{n}/{method}" for n in names])]
        across[method] = metrics_document(pair, truth, evaluation, seed=42, reference=f"{names[0]}/{method}")[
            "methods"
        ][f"{names[1]}/{method}"]["delta"]
    mean_ndcg = {
        n: sum(doc["methods"][f"{n}/{t}"]["metrics"]["NDCG@3"]["value"] for t in TASKS) / len(TASKS)
        for n in names
    }
    document = {
        "profile": "quick",
        "validation_users": int(truth["user_id"].nunique()),
        "variants": {n: {"changes": VARIANTS[n], **facts[n]} for n in names},
        "metrics": doc,
        "pairwise_accuracy": {m: round(float(a), 4) for m, a in accuracy.items()},
        "across_variants": {"reference": names[0], "other": names[1], "delta": across},
        "mean_task_ndcg@3": mean_ndcg,
        "chosen": max(mean_ndcg, key=mean_ndcg.get),
        "machine": machine(),
    }
    (RESULTS / "ablation-quick.json").write_text(json.dumps(document, indent=2) + "\n")
    (RESULTS / "ablation-quick.md").write_text(markdown(document))
    print(markdown(document))


def interval(entry: dict, signed: bool = False) -> str:
    fmt = "{:+.3f}" if signed else "{:.3f}"
    return f"{fmt.format(entry['value'])} ({fmt.format(entry['ci_low'])} to {fmt.format(entry['ci_high'])})"


def markdown(document: dict) -> str:
    names = list(document["variants"])
    methods = document["metrics"]["methods"]
    lines = [
        "# Training negatives, judged on validation users (quick profile, 2 CPU cores)",
        "",
        (
            "Each variant is the quick profile with `[prompts] negatives` set as named; "
            "the tuned model reranks the same "
            f"{document['validation_users']} validation users "
            "(their validation item among ImplicitMF's ten validation "
            "candidates). Mean with 95% bootstrap interval; "
            "Δ is paired against the base order (same users, same resamples)."
        ),
        "",
        "| variant | method | HR@3 | NDCG@3 | Δ NDCG@3 vs base | pairwise acc. |",
        "|---|---|---|---|---|---|",
    ]
    acc = document["pairwise_accuracy"]
    lines.append(
        f"| – | base | {interval(methods['base']['metrics']['HR@3'])} | "
        f"{interval(methods['base']['metrics']['NDCG@3'])} | – | {acc['base']:.2f} |"
    )
    for name in names:
        for method in METHODS[1:]:
            entry = methods[f"{name}/{method}"]
            lines.append(
                f"| {name} | {method} | {interval(entry['metrics']['HR@3'])} | "
                f"{interval(entry['metrics']['NDCG@3'])} | "
                f"{interval(entry['delta']['NDCG@3'], True)} | {acc[f'{name}/{method}']:.2f} |"
            )
    lines += [
        "",
        f"Paired difference {names[1]} − {names[0]}, NDCG@3 on the same users:",
        "",
        "| method | Δ NDCG@3 | p |",
        "|---|---|---|",
    ]
    for method, delta in document["across_variants"]["delta"].items():
        lines.append(f"| {method} | {interval(delta['NDCG@3'], True)} | {delta['NDCG@3']['p_value']:.3f} |")
    lines += [
        "",
        (
            "| variant | validation loss | training lists: like at last base position "
            "| hint agrees with answer | seconds |"
        ),
        "|---|---|---|---|---|",
    ]
    for name, facts in document["variants"].items():
        shape, loss = facts["list_shape"], facts["validation_loss"]
        lines.append(
            f"| {name} | {loss[0]:.3f} -> {loss[1]:.3f} | {shape['last_position_share']:.0%} | "
            f"{shape['hint_agreement']:.0%} | {facts['seconds']:.0f} |"
        )
    means = ", ".join(f"{n} {v:.4f}" for n, v in document["mean_task_ndcg@3"].items())
    lines += [
        "",
        (
            "Decision rule (fixed before the runs): "
            f"the higher mean validation NDCG@3 over the three tasks wins: {means}; "
            f"chosen: **{document['chosen']}**. "
            "`hybrid-tuned` is tuned on these same users, so it is optimistic here."
        ),
        "",
        (
            f"Machine: {document['machine']['cpu']}, {document['machine']['cores']} cores. "
            "Reproduce: `.venv/bin/python bench/ablation.py`."
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
