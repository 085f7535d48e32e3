"""Commit a deciding run (profile beat-base) as bench/results/beat-base/, or another run to ``--out``:
its metrics.json, rankings.parquet, split.parquet and manifest.json (no adapter, no training data), and
README.md, the page that reads them: the method judged (chosen on validation users before test was
read), its paired NDCG@3 differences from the base model, the hint control and the strongest base model,
and every row.

    .venv/bin/python bench/beat_base.py runs/beat-base --device "one NVIDIA H100 80GB HBM3" [--note TEXT]
    .venv/bin/python bench/beat_base.py runs/ml-100k-medium --cpu --device "2 CPU cores" \
        --out bench/results/medium
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from metrics_table import table

from recranker_core import rundir
from recranker_core.config import EvaluationConfig
from recranker_core.evaluation import paired_deltas, per_user_metrics
from recranker_core.fusion import CONTROL
from recranker_core.manifest import Manifest
from recranker_core.methods import family
from recranker_core.runfiles import evaluation_truth, rerank_results

OUT = Path(__file__).parent / "results" / "beat-base"
FILES = (rundir.METRICS, rundir.RANKINGS, rundir.SPLIT, rundir.MANIFEST)
METRIC = "NDCG@3"


def verdict(run: Path) -> tuple[str, dict]:
    """The judged method and its paired NDCG@3 differences from the base, the control and every base model."""
    metrics, manifest = rundir.read_json(run / rundir.METRICS), Manifest.read(run)
    selected = metrics["selected"]["method"]
    config: EvaluationConfig = manifest.config.evaluation
    per_user = per_user_metrics(rundir.read_table(run / rundir.RANKINGS), evaluation_truth(run), config.ks)
    rivals = tuple(m for m in metrics["methods"] if family(m) == "base") + (CONTROL,)
    return selected, paired_deltas(per_user, config, manifest.config.seed, selected, rivals)


def interval(delta: dict) -> str:
    d = delta[METRIC]
    side = "above 0" if d["ci_low"] > 0 else "below 0" if d["ci_high"] < 0 else "includes 0"
    return f"{d['value']:+.4f} ({d['ci_low']:+.4f} to {d['ci_high']:+.4f}; {side}, p = {d['p_value']:.3f})"


def reading(selected: str, base: str, deltas: dict) -> str:
    """The goal, said plainly: the judged method's interval above 0 against its base and the control."""
    above = {rival: deltas[rival][METRIC]["ci_low"] > 0 for rival in (base, CONTROL) if rival in deltas}
    if above and all(above.values()):
        return f"**Goal reached**: {selected} beats {base} and {CONTROL}, both intervals above 0."
    short = " and ".join(rival for rival, won in above.items() if not won)
    return f"**Goal not reached**: the interval of {selected} against {short} does not lie above 0."


def page(run: Path, device: str, note: str = "", gpu: bool = True) -> str:
    metrics, manifest = rundir.read_json(run / rundir.METRICS), Manifest.read(run)
    selected, deltas = verdict(run)
    base = manifest.primary_method
    train, results = manifest.summary("train"), rerank_results(run, manifest)
    chosen = results["validation_ndcg@3"]
    ranked = sorted(chosen.items(), key=lambda kv: -kv[1])
    subset = metrics.get("evaluation_users") == "random subset"
    users = (
        f"{'a seeded random subset of' if subset else 'every one of the'} {metrics['test_users']} test users"
    )
    lines = [
        f"# Does the LLM beat its base model? Run `{run.name}` ({manifest.config.profile})",
        "",
        f"Profile `{manifest.config.profile}` on {manifest.dataset.get('name', 'ML-100K')}: {users}, "
        f"{base}'s ten candidates reranked. Training "
        f"({train['examples']} examples, {train['steps']} steps, {train['seconds']:.0f} s) and reranking on "
        f"{device}{'; everything else on the 2-core CPU machine' if gpu else ''}. "
        "Weights of the hybrid and of the fusions, and "
        f"the judged method, were chosen on the {results['validation_users']} validation users whose "
        "validation item is among the candidates, before any test number was read."
        + (f" {note}" if note else ""),
        "",
        "## The judged method",
        "",
        f"Chosen by {metrics['selected']['chosen_by']}: **{selected}**. Validation NDCG@3, best first: "
        + ", ".join(f"{m} {v:.3f}" for m, v in ranked[:8])
        + ".",
        "",
        f"Paired differences in test {METRIC} (same users, same {metrics['bootstrap_samples']} bootstrap "
        f"resamples, {int(metrics['ci_level'] * 100)}% intervals):",
        "",
        "| against | Δ NDCG@3 |",
        "|---|---|",
        *[
            f"| {rival}{' (its base)' if rival == base else ''} | {interval(d)} |"
            for rival, d in deltas.items()
        ],
        "",
        reading(selected, base, deltas),
        "",
        "Fusion weights (lambda per standardised score, on top of the base score): "
        + "; ".join(f"{m}: {e['weights']}" for m, e in results.get("fusion", {}).items())
        + f". Tuned hybrid weights (a1, a2, a3): {results['tuned_weights']}.",
        "",
        "## Every method",
        "",
        table(metrics, results["validation_pairwise_accuracy"]),
        "",
        f"Files: metrics.json, rankings.parquet, split.parquet, manifest.json of the run; reproduce with "
        f"`python -m recranker_core run --profile {manifest.config.profile} --dataset ml-100k --out "
        f"runs/{run.name}`"
        + (" (the train and rerank stages on a GPU: bench/gpu_paper.sh)." if gpu else "."),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--device", required=True, help="the machine that trained and reranked, in words")
    parser.add_argument("--note", default="", help="what else a reader should know of how the run was made")
    parser.add_argument("--cpu", action="store_true", help="the whole run was made on the 2-core CPU machine")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the folder to write (default {OUT})")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(args.run / name, args.out / name)
    (args.out / "README.md").write_text(
        page(args.run, args.device, args.note, gpu=not args.cpu), encoding="utf-8"
    )
    print(json.dumps({"selected": verdict(args.run)[0], "written": str(args.out)}))


if __name__ == "__main__":
    main()
