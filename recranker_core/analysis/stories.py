"""User stories: the test users a method helped and hurt most against the reference, with their lists,
the prompt the model read and their history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recranker_core.evaluation import per_user_metrics
from recranker_core.prompt_record import user_text


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
    change = _changes(rankings, truth, method, reference, k)
    helped = change[change > 0].sort_values(ascending=False, kind="stable").head(count)
    hurt = change[change < 0].sort_values(kind="stable").head(count)
    listwise = _listwise(prompts)

    def told(user, value) -> Story:
        return _story(rankings, truth, listwise, user, float(value), method, reference)

    return [told(u, v) for u, v in helped.items()], [told(u, v) for u, v in hurt.items()]


def story(
    rankings: pd.DataFrame,
    truth: pd.DataFrame,
    prompts: list[dict],
    user,
    method: str,
    reference: str,
    *,
    k: int = 3,
) -> Story:
    """One user's story (``method``'s list empty and the change 0 where it has none for the user)."""
    mine = rankings[rankings["user_id"] == user]
    change = _changes(mine, truth[truth["user_id"] == user], method, reference, k)
    return _story(mine, truth, _listwise(prompts), user, float(change.get(user, 0.0)), method, reference)


def _changes(rankings: pd.DataFrame, truth: pd.DataFrame, method: str, reference: str, k: int) -> pd.Series:
    """Per user both rank: ``method``'s NDCG@k minus ``reference``'s, by user id."""
    per_user = per_user_metrics(rankings[rankings["method"].isin([method, reference])], truth, (k,))
    wide = per_user.pivot(index="user_id", columns="method", values=f"NDCG@{k}")
    if method not in wide or reference not in wide:
        return pd.Series(dtype=float)
    ranked = rankings[rankings["method"] == method]["user_id"].unique()
    return (wide[method] - wide[reference]).loc[lambda s: s.index.isin(ranked)].sort_index()


def _listwise(prompts: list[dict]) -> dict:
    """user -> the listwise test prompt in base order, as the model read it."""
    return {
        p["meta"]["user_id"]: user_text(p)
        for p in prompts
        if p["meta"]["task"] == "listwise" and p["meta"]["variant"] == "copy 0"
    }


def _story(rankings, truth, listwise: dict, user, change: float, method: str, reference: str) -> Story:
    lists = {
        name: rows.sort_values("rank")["item_id"].tolist()
        for name, rows in rankings[rankings["user_id"] == user].groupby("method")
    }
    test_item = truth.set_index("user_id")["item_id"][user]
    return Story(user, test_item, change, lists.get(reference, []), lists.get(method, []), listwise.get(user))


def history(split: pd.DataFrame, items: pd.DataFrame, user) -> pd.DataFrame:
    """Everything the user rated before the test item, most recent first."""
    rows = split[(split["user_id"] == user) & (split["role"] != "test")].sort_values("seq", ascending=False)
    rows = rows.merge(items, on="item_id", how="left")
    return pd.DataFrame(
        {
            "feedback": rows["feedback"],
            "title": item_titles(rows),
            "rating": rows["rating"],
            "date": pd.to_datetime(rows["timestamp"], unit="s", errors="coerce").dt.date,
            "genres": item_genres(rows),
            "role": rows["role"],
        }
    ).reset_index(drop=True)


def item_titles(rows: pd.DataFrame) -> pd.Series:
    """Each row's title (its item id where it has none)."""
    return (
        rows["title"].fillna(rows["item_id"].map(lambda i: f"item {i}"))
        if "title" in rows
        else rows["item_id"].map(str)
    )


def item_genres(rows: pd.DataFrame) -> pd.Series:
    """Each row's genres as one text."""
    return rows["genres"].map(lambda g: ", ".join(g) if isinstance(g, (list, np.ndarray)) else "")
