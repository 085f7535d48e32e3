"""Print a run's metrics.json as a markdown table (every method, mean and 95% CI, validation pairwise accuracy).

    .venv/bin/python bench/metrics_table.py bench/results/quick-ml100k.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("HR@3", "NDCG@3", "HR@5", "NDCG@5")


def table(metrics: dict) -> str:
    accuracy = metrics.get("validation_pairwise_accuracy", {})
    lines = [
        "| method | " + " | ".join(COLUMNS) + " | val. pairwise acc. |",
        "|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for method, entry in metrics["methods"].items():
        cells = [
            f"{entry['metrics'][c]['value']:.3f} ({entry['metrics'][c]['ci_low']:.3f}–{entry['metrics'][c]['ci_high']:.3f})"
            for c in COLUMNS
        ]
        acc = f"{accuracy[method]:.2f}" if method in accuracy else "–"
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {acc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(json.loads(Path(sys.argv[1]).read_text())))
