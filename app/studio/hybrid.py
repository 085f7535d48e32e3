"""The hybrid ranker with any weights, scored on the stored per-task scores (no model needed)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recranker_core.config import EvaluationConfig
from recranker_core.evaluation import per_user_metrics, summarize
from recranker_core.ranking import hybrid_score, rank_within_user


@dataclass(frozen=True)
class Weights:
    pointwise: float
    """Weight of the expected rating (the paper fixes it at 1)."""
    pairwise: float
    """a1: weight of the soft pairwise wins."""
    base: float
    """a2: weight of the base model's position, 10 - base_rank."""
    listwise: float
    """a3: weight of the listwise position bonus, max(0, 5 - position)."""

    @classmethod
    def of(cls, triple: list[float] | tuple[float, ...]) -> Weights:
        """From the paper's (a1, a2, a3) with the pointwise weight 1."""
        a1, a2, a3 = triple
        return cls(1.0, a1, a2, a3)


def rankings(table: pd.DataFrame, weights: Weights, method: str) -> pd.DataFrame:
    """user_id, method, item_id, rank of the hybrid with ``weights``; table: one split and family of
    task_scores."""
    score = hybrid_score(
        table, (weights.pairwise, weights.base, weights.listwise), pointwise=weights.pointwise
    )
    return pd.DataFrame(
        {
            "user_id": table["user_id"],
            "method": method,
            "item_id": table["item_id"],
            "rank": rank_within_user(table, score),
        }
    )


def base_rankings(table: pd.DataFrame, method: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": table["user_id"],
            "method": method,
            "item_id": table["item_id"],
            "rank": table["base_rank"] + 1,
        }
    )


def compare(
    table: pd.DataFrame,
    truth: pd.DataFrame,
    variants: dict[str, Weights],
    base: str,
    config: EvaluationConfig,
    seed: int,
) -> dict[str, dict]:
    """metrics.json-style ``methods`` for the base model and each weighting, over every user in ``truth``
    (a user whose test item is not among the candidates scores 0, as in metrics.json)."""
    ranked = pd.concat(
        [base_rankings(table, base)] + [rankings(table, w, name) for name, w in variants.items()],
        ignore_index=True,
    )
    return summarize(per_user_metrics(ranked, truth, config.ks), config, seed)
