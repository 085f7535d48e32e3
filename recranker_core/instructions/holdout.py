"""What the train phase holds out of each eligible user's training rows, and who is eligible."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from recranker_core.config import RunConfig
from recranker_core.data.split import Split
from recranker_core.seeds import rng_for


@dataclass(frozen=True)
class Held:
    """A rated item a phase asks about: the held-out like or dislike, or the validation like."""

    item: Any
    rating: float
    seq: int


def held_out(split: Split, users, config: RunConfig) -> pd.DataFrame:
    """Per user: the last training like (kind 'like'), the last training dislike ('dislike'), if any, and
    with ``listwise_positives = "paper"`` three top-rated and two next-rated other likes ('positive')."""
    train = split.table[(split.table["role"] == "train") & split.table["user_id"].isin(users)]
    last = train.sort_values("seq").groupby(["user_id", "feedback"]).tail(1)
    held = last.rename(columns={"feedback": "kind"})[["user_id", "item_id", "rating", "seq", "kind"]]
    if config.prompts.listwise_positives != "paper":
        return held
    others = train[(train["feedback"] == "like") & ~train.index.isin(last.index)]
    top = split.rating_scale()[1]
    picked = []
    for index, (_user, rows) in enumerate(others.groupby("user_id", sort=True)):
        best, next_best = rows[rows["rating"] >= top], rows[rows["rating"] < top]
        if len(best) >= 3 and len(next_best) >= 2 and len(rows) > 5:  # one like stays for the history
            rng = rng_for(config.seed, "listwise-positives", index)
            picked += [
                best.iloc[rng.choice(len(best), 3, replace=False)],
                next_best.iloc[rng.choice(len(next_best), 2, replace=False)],
            ]
    positives = pd.concat(picked) if picked else others.iloc[:0]
    positives = positives.rename(columns={"feedback": "kind"}).assign(kind="positive")
    return pd.concat([held, positives[held.columns]], ignore_index=True)


def moment_rows(split: Split, held: pd.DataFrame) -> pd.DataFrame:
    """Training rows the train-phase models may learn from: all but the held-out items."""
    train = split.table[split.table["role"] == "train"]
    marked = train.merge(
        held[["user_id", "item_id"]].assign(_held=True), on=["user_id", "item_id"], how="left"
    )
    return marked[marked["_held"].isna()].drop(columns="_held")


def eligible_users(split: Split) -> pd.DataFrame:
    """user_id, train_likes for users with at least two training likes (see sampling)."""
    train = split.table[(split.table["role"] == "train") & (split.table["feedback"] == "like")]
    counts = train.groupby("user_id").size().rename("train_likes").reset_index()
    return counts[counts["train_likes"] >= 2].reset_index(drop=True)
