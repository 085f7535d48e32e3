"""Which training choices help, judged on validation users only (the test users stay untouched).

    .venv/bin/python bench/ablation.py            # about 12 minutes per variant on 2 CPU cores

Each variant is the `quick` profile with one change, run through the same stages (instructions,
LoRA training, reranking); the tuned model's rankings of the validation rerank users are scored with
HR@3 / NDCG@5 (95% bootstrap CIs) and pairwise accuracy. Writes bench/results/ablation-quick.json/md.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from baselines import RESULTS, machine

from recranker_core import rundir
from recranker_core.config import EvaluationConfig, load_profile
from recranker_core.evaluation import metrics_document
from recranker_core.ranking import method_rankings, pairwise_accuracy
from recranker_core.runner import run_all

VARIANTS = {
    "hard negatives (quick default)": {},
    "random negatives (paper)": {"negatives": "random"},
}
VALID_USERS = 60


def main() -> None:
    base = load_profile("quick")
    results = {}
    for name, changes in VARIANTS.items():
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
            table = rundir.read_table(out / "task_scores.parquet")
            hybrid = json.loads((out / "hybrid.json").read_text())
            split = rundir.read_table(out / "split.parquet")
            train = json.loads((out / "manifest.json").read_text())["stages"]["train"]["summary"]
        valid = table[table["split"] == "valid-rerank"]
        ranked = method_rankings(valid, tuple(config.rerank.hybrid_weights), tuple(hybrid["tuned_weights"]))
        truth = split.loc[split["role"] == "valid", ["user_id", "item_id"]]
        truth = truth[truth["user_id"].isin(valid["user_id"])]
        # Base order as a method too, so every variant is read against the same yardstick.
        base_rank = valid[valid["family"] == "tuned"].assign(method="base", rank=lambda t: t["base_rank"] + 1)
        ranked = pd.concat([ranked, base_rank[["user_id", "method", "item_id", "rank"]]], ignore_index=True)
        doc = metrics_document(ranked, truth, EvaluationConfig(ks=(3, 5)), seed=config.seed)
        accuracy = pairwise_accuracy(ranked, truth)
        results[name] = {
            "changes": changes,
            "seconds": round(seconds, 1),
            "validation_loss": [train["valid_loss_before"], train["valid_loss_after"]],
            "validation_users": int(truth["user_id"].nunique()),
            "methods": {
                m: {
                    "HR@3": doc["methods"][m]["metrics"]["HR@3"],
                    "NDCG@5": doc["methods"][m]["metrics"]["NDCG@5"],
                    "pairwise_accuracy": round(float(accuracy[m]), 4),
                }
                for m in doc["methods"]
            },
        }
    document = {"profile": "quick", "validation_users_asked": VALID_USERS, "variants": results, "machine": machine()}
    (RESULTS / "ablation-quick.json").write_text(json.dumps(document, indent=2) + "\n")
    lines = [
        "# Training choices, judged on validation users (quick profile, 2 CPU cores)",
        "",
        "Each row: the quick profile with one change; the tuned model reranks the validation users whose",
        "validation item is among ImplicitMF's ten candidates. Mean (95% bootstrap CI).",
        "",
        "| variant | validation loss | method | HR@3 | NDCG@5 | pairwise acc. |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        for method in ("base", "pointwise", "pairwise", "listwise", "hybrid", "hybrid-tuned"):
            m = r["methods"][method]
            cells = [f"{m[k]['value']:.3f} ({m[k]['ci_low']:.3f}–{m[k]['ci_high']:.3f})" for k in ("HR@3", "NDCG@5")]
            loss = f"{r['validation_loss'][0]:.3f} -> {r['validation_loss'][1]:.3f}"
            lines.append(f"| {name} | {loss} | {method} | " + " | ".join(cells) + f" | {m['pairwise_accuracy']:.2f} |")
    lines += ["", f"Validation users per variant: {', '.join(str(r['validation_users']) for r in results.values())}.", ""]
    lines += ["Reproduce: `.venv/bin/python bench/ablation.py`.", ""]
    (RESULTS / "ablation-quick.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
