"""Rerank one user now with the run's tuned model: the same scoring and ranking code as the rerank stage."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from recranker_core.ranking import TASKS, method_rankings, task_scores


def rerank_user(
    model, tokenizer, prompts: list[dict], base: pd.DataFrame, *, scale: tuple[int, int], mode: str,
    batch_size: int, paper: tuple[float, ...], tuned: tuple[float, ...], progress: Callable[[float, str], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """(outputs, rankings) for one user's test prompts; base: split, user_id, item_id, base_rank.

    Scores one task at a time so ``progress(fraction, task)`` can follow along."""
    from recranker_core.llm.rerank import score_prompts

    outputs = []
    for done, task in enumerate(TASKS):
        group = [p for p in prompts if p["meta"]["task"] == task]
        if progress:
            progress(done / len(TASKS), f"scoring {len(group)} {task} prompts")
        if group:
            outputs.append(score_prompts(model, tokenizer, group, mode=mode, scale=scale, batch_size=batch_size, desc=task))
    if progress:
        progress(1.0, "ranking")
    outputs = pd.concat(outputs, ignore_index=True).assign(family="tuned")
    table = task_scores(outputs, base, scale)
    ranked = method_rankings(table, paper, tuned)
    return outputs, ranked[["user_id", "method", "item_id", "rank"]]


def same_rankings(fresh: pd.DataFrame, stored: pd.DataFrame) -> bool:
    """Whether two rankings (user_id, method, item_id, rank) put every item at the same rank."""
    key = ["user_id", "method", "item_id", "rank"]
    order = ["method", "rank"]
    a = fresh[key].sort_values(order).reset_index(drop=True)
    b = stored[key].sort_values(order).reset_index(drop=True)
    return len(a) == len(b) and bool((a.astype(str) == b.astype(str)).all().all())
