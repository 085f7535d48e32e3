"""Print a run's metrics as a markdown table: every method, mean and 95% CI, the paired difference in
NDCG@3 from the reference base model, and validation pairwise accuracy (from the run's hybrid.json, or
from a committed results document that carries it).

    .venv/bin/python bench/metrics_table.py runs/ml-100k-quick
    .venv/bin/python bench/metrics_table.py bench/results/quick-ml100k.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from recranker_core import rundir
from recranker_core.manifest import Manifest
from recranker_core.runfiles import rerank_results

COLUMNS = ("HR@3", "NDCG@3", "HR@5", "NDCG@5")
DELTA = "NDCG@3"


def table(metrics: dict, accuracy: dict[str, float]) -> str:
    reference = metrics.get("reference", "the reference")
    lines = [
        "| method | " + " | ".join(COLUMNS) + f" | Δ {DELTA} vs {reference} | val. pairwise acc. |",
        "|---|" + "---|" * (len(COLUMNS) + 2),
    ]
    for method, entry in metrics["methods"].items():
        cells = [
            f"{entry['metrics'][c]['value']:.3f} "
            f"({entry['metrics'][c]['ci_low']:.3f}–{entry['metrics'][c]['ci_high']:.3f})"
            for c in COLUMNS
        ]
        delta = entry.get("delta", {}).get(DELTA)
        if delta:
            mark = " **↑**" if delta["ci_low"] > 0 else " **↓**" if delta["ci_high"] < 0 else ""
            cells.append(f"{delta['value']:+.3f} ({delta['ci_low']:+.3f} to {delta['ci_high']:+.3f}){mark}")
        else:
            cells.append("–")
        acc = f"{accuracy[method]:.2f}" if method in accuracy else "–"
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {acc} |")
    return "\n".join(lines)


def main(path: Path) -> str:
    if not path.is_dir():
        document = json.loads(path.read_text())
        return table(document, document.get("validation_pairwise_accuracy", {}))
    results = rerank_results(path, Manifest.read(path))
    return table(rundir.read_json(path / rundir.METRICS), results.get("validation_pairwise_accuracy", {}))


if __name__ == "__main__":
    print(main(Path(sys.argv[1])))
