"""Rerank one user now with the run's tuned model: the same scoring and ranking code as the rerank stage."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from recranker_core import fusion
from recranker_core.ranking import fusion_rankings, method_rankings, task_scores


def rerank_user(
    model,
    tokenizer,
    prompts: list[dict],
    base: pd.DataFrame,
    *,
    scale: tuple[int, int],
    mode: str,
    batch_size: int,
    paper: tuple[float, ...],
    tuned: tuple[float, ...],
    family: str = "tuned",
    progress: Callable[[float, str], None] | None = None,
    fused: dict[str, dict] | None = None,
    primary: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(outputs, rankings) for one user's test prompts; base: split, user_id, item_id, base_rank, base_score.
    ``fused`` (hybrid.json's ``fusion``) adds the fusions and the hint control with the run's lambdas, from
    the hints these prompts show (``primary``: the base model, whose own hint is its score).

    All the user's prompts go to the scorer at once, so their shared prefix is encoded once (faster than
    task by task: bench/results/live_rerank.md); ``progress(fraction, text)`` marks the steps. ``family``
    "zeroshot" names the methods as the run names the zero-shot ones (the caller switches to the untuned
    model: ``llm.collab.untuned``)."""
    from recranker_core.llm.rerank import score_prompts

    if progress:
        progress(0.0, f"scoring {len(prompts)} prompts")
    outputs = score_prompts(model, tokenizer, prompts, mode=mode, scale=scale, batch_size=batch_size).assign(
        family=family
    )
    if progress:
        progress(0.95, "ranking")
    table = fusion.with_hints(task_scores(outputs, base, scale), fusion.shown_hints(prompts), primary)
    ranked = pd.concat([method_rankings(table, paper, tuned), *fusion_rankings(table, fused or {})])
    return outputs, ranked[["user_id", "method", "item_id", "rank"]]


def base_table(candidates: pd.DataFrame, user, items: list, primary: str) -> pd.DataFrame:
    """split, user_id, item_id, base_rank (shown order), base_score: ``items`` as the user's test
    candidates, with the base model's stored score where candidates.parquet has one (an item What-if put
    in has none)."""
    mine = candidates[
        (candidates["target"] == "test") & (candidates["user_id"] == user) & (candidates["model"] == primary)
    ]
    scores = mine.set_index("item_id")["score"]
    return pd.DataFrame(
        {
            "split": "test",
            "user_id": user,
            "item_id": items,
            "base_rank": range(len(items)),
            "base_score": [scores.get(item, float("nan")) for item in items],
        }
    )


def same_rankings(fresh: pd.DataFrame, stored: pd.DataFrame) -> bool:
    """Whether two rankings (user_id, method, item_id, rank) put every item at the same rank."""
    key = ["user_id", "method", "item_id", "rank"]
    both = fresh[key].merge(stored[key], how="outer", indicator=True)
    return bool((both["_merge"] == "both").all())


def beside(stored: pd.DataFrame, fresh: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Rankings (user_id, method, item_id, rank) of ``methods``, stored then fresh, named "M · stored" and
    "M · edited", in that order: the columns of a side-by-side lineup."""
    frames = [
        rows[rows["method"] == method].assign(method=f"{method} · {kind}")
        for method in methods
        for kind, rows in (("stored", stored), ("edited", fresh))
    ]
    return pd.concat(frames, ignore_index=True)
