"""User stories: the test users a method helped and hurt most against the reference, with their lists
and the prompt the model read."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recranker_core.evaluation import per_user_metrics


@dataclass(frozen=True)
class Story:
    user_id: object
    test_item: object
    change: float
    """The method's NDCG@k minus the reference's for this user."""
    reference: list
    """The reference method's items, best first."""
    method: list
    """The method's items, best first."""
    prompt: str | None
    """The user's listwise test prompt (the copy in base order), as the model read it."""


def stories(
    rankings: pd.DataFrame,
    truth: pd.DataFrame,
    prompts: list[dict],
    method: str,
    reference: str,
    *,
    k: int = 3,
    count: int = 3,
) -> tuple[list[Story], list[Story]]:
    """The ``count`` users ``method`` helped most and hurt most by NDCG@``k`` against ``reference``, among
    the users both rank (ties by user id)."""
    per_user = per_user_metrics(rankings[rankings["method"].isin([method, reference])], truth, (k,))
    wide = per_user.pivot(index="user_id", columns="method", values=f"NDCG@{k}")
    ranked = rankings[rankings["method"] == method]["user_id"].unique()
    change = (wide[method] - wide[reference]).loc[lambda s: s.index.isin(ranked)].sort_index()
    helped = change[change > 0].sort_values(ascending=False, kind="stable").head(count)
    hurt = change[change < 0].sort_values(kind="stable").head(count)
    listwise = {
        p["meta"]["user_id"]: p["messages"][1]["content"]
        for p in prompts
        if p["meta"]["task"] == "listwise" and p["meta"]["variant"] == "copy 0"
    }
    test_items = truth.set_index("user_id")["item_id"]

    def story(user, value) -> Story:
        lists = {
            name: rows.sort_values("rank")["item_id"].tolist()
            for name, rows in rankings[rankings["user_id"] == user].groupby("method")
        }
        return Story(
            user, test_items[user], float(value), lists[reference], lists[method], listwise.get(user)
        )

    return [story(u, v) for u, v in helped.items()], [story(u, v) for u, v in hurt.items()]
