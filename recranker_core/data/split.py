"""The RecRanker leave-one-out split of likes.

Rules (docs/run-format.md repeats them for readers of ``split.parquet``):

* k-core (``min_user_ratings``, ``min_item_ratings``; off by default): users and items with fewer
  ratings are ``dropped``, again until every one left has enough.
* feedback: rating >= like_threshold -> ``like``; < dislike_threshold -> ``dislike``;
  otherwise ``neutral`` (unset thresholds: 80% and 60% of the scale's top, ``DataConfig.thresholds``).
* Each user's ratings are put in one total order: by timestamp, and among equal
  timestamps by CRC-32 of ``"<user_id>\\t<item_id>"`` (then by item_id). ML-100K
  has many equal timestamps; the hash makes the held-out item a fixed, seed-free
  choice that favours neither low nor high item IDs (item ID order follows
  release and popularity in MovieLens).
* In that order: the last like -> ``test``, the second-last -> ``valid``, earlier
  likes -> ``train``. Dislikes before the validation like -> ``train`` (prompt
  history); later dislikes and all neutral ratings -> ``dropped``. So every train
  row comes before the validation item, which comes before the test item.
* Users with fewer than min_likes likes are ``dropped`` entirely and counted.

Candidates exclude, besides never the target itself, the items a user rated
before the target (``baselines.exclude = "known"``, what a recommender knows at
that moment) or every item the user rated in the data ("all-rated").
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recranker_core.config import DataConfig
from recranker_core.data.types import rating_scale
from recranker_core.errors import InputError

ROLES = ("train", "valid", "test", "dropped")


@dataclass(frozen=True)
class Split:
    """Every rating with its role; the frame written to ``split.parquet``."""

    table: pd.DataFrame
    """Columns: user_id, item_id, rating, timestamp, feedback, seq (position in the user's order), role."""
    users_too_few_likes: int
    """Users left out for having fewer than min_likes likes."""
    thresholds: tuple[float, float] = (4.0, 3.0)
    """The (like, dislike) thresholds used."""
    k_core_dropped: int = 0
    """Ratings left out by the k-core filter."""

    @property
    def train_rated(self) -> pd.DataFrame:
        """Training likes and dislikes: what an explicit-rating model may learn from."""
        return self.table[self.table["role"] == "train"]

    def targets(self, role: str) -> pd.DataFrame:
        """One row per user: its ``valid`` or ``test`` item."""
        return self.table.loc[self.table["role"] == role, ["user_id", "item_id"]].reset_index(drop=True)

    def seen(self, before: str | None = None) -> dict:
        """user_id -> array of every item the user rated, or only of those rated before its ``before``
        ("valid" or "test") item: what a recommender knows at that moment."""
        kept = self.table[self.table["user_id"].isin(self.targets("test")["user_id"])]
        if before is not None:
            moment = kept.loc[kept["role"] == before].set_index("user_id")["seq"]
            kept = kept[kept["seq"] < kept["user_id"].map(moment)]
        return {user: items.to_numpy() for user, items in kept.groupby("user_id")["item_id"]}

    def rating_scale(self) -> tuple[int, int]:
        """The whole-number rating scale prompts ask for (``RatingData.scale``)."""
        return rating_scale(self.table["rating"])

    def summary(self) -> dict[str, int]:
        counts = self.table["role"].value_counts()
        feedback = self.table["feedback"].value_counts()
        return {
            "likes": int(feedback.get("like", 0)),
            "dislikes": int(feedback.get("dislike", 0)),
            "neutral": int(feedback.get("neutral", 0)),
            **{role: int(counts.get(role, 0)) for role in ROLES},
            "users_kept": int(self.table.loc[self.table["role"] == "test", "user_id"].nunique()),
            "users_too_few_likes": self.users_too_few_likes,
            "like_threshold": self.thresholds[0],
            "dislike_threshold": self.thresholds[1],
            **({"k_core_dropped": self.k_core_dropped} if self.k_core_dropped else {}),
        }


def tie_break_key(users: pd.Series, items: pd.Series) -> np.ndarray:
    return np.fromiter(
        (zlib.crc32(f"{u}\t{i}".encode()) for u, i in zip(users, items)), dtype=np.int64, count=len(users)
    )


def k_core(ratings: pd.DataFrame, min_user: int, min_item: int) -> pd.Series:
    """Which ratings survive dropping users with fewer than ``min_user`` ratings and items with fewer than
    ``min_item``, repeated until every user and item left has enough."""
    kept = pd.Series(True, index=ratings.index)
    while True:
        users = ratings.loc[kept, "user_id"].value_counts()
        items = ratings.loc[kept, "item_id"].value_counts()
        enough = (
            kept & ratings["user_id"].map(users).ge(min_user) & ratings["item_id"].map(items).ge(min_item)
        )
        if enough.equals(kept):
            return kept
        kept = enough


def split_likes(ratings: pd.DataFrame, config: DataConfig, name: str = "dataset") -> Split:
    table = ratings[["user_id", "item_id", "rating", "timestamp"]].copy()
    try:
        like, dislike = config.thresholds(float(table["rating"].max()))
    except ValueError as exc:
        raise InputError(f"{name}: {exc}") from None
    table["feedback"] = np.select(
        [table["rating"] >= like, table["rating"] < dislike], ["like", "dislike"], "neutral"
    )
    table["_core"] = k_core(table, config.min_user_ratings, config.min_item_ratings)
    table["_tie"] = tie_break_key(table["user_id"], table["item_id"])
    table = table.sort_values(["user_id", "timestamp", "_tie", "item_id"], kind="stable")
    table["seq"] = table.groupby("user_id").cumcount().astype("int64")
    cored = table["_core"]

    is_like = (table["feedback"] == "like") & cored
    likes_from_end = table[is_like].groupby("user_id").cumcount(ascending=False)
    n_likes = table[is_like].groupby("user_id").size()
    kept_users = n_likes.index[n_likes >= config.min_likes]

    role = pd.Series("dropped", index=table.index, dtype=object)
    role[likes_from_end.index[likes_from_end.to_numpy() == 0]] = "test"
    role[likes_from_end.index[likes_from_end.to_numpy() == 1]] = "valid"
    role[likes_from_end.index[likes_from_end.to_numpy() >= 2]] = "train"

    valid_seq = table.loc[role == "valid"].set_index("user_id")["seq"]
    before_valid = table["seq"] < table["user_id"].map(valid_seq).fillna(-1)
    role[(table["feedback"] == "dislike") & before_valid & cored] = "train"
    role[~table["user_id"].isin(kept_users)] = "dropped"
    table["role"] = role

    if not len(kept_users):
        raise InputError(
            f"{name}: no user has {config.min_likes} or more likes (rating >= {like:g}"
            f"{_after_k_core(config)}); nothing to evaluate"
        )
    return Split(
        table=table.drop(columns=["_tie", "_core"]).reset_index(drop=True),
        users_too_few_likes=int(table.loc[cored, "user_id"].nunique() - len(kept_users)),
        thresholds=(like, dislike),
        k_core_dropped=int((~cored).sum()),
    )


def _after_k_core(config: DataConfig) -> str:
    """Where a k-core filter is on, the words that say so in a refusal."""
    if not (config.min_user_ratings or config.min_item_ratings):
        return ""
    return (
        f", after the k-core filter: data.min_user_ratings = {config.min_user_ratings}, "
        f"data.min_item_ratings = {config.min_item_ratings}"
    )


MIN_TEST_USERS = 10
"""Users with a test like a run needs: with fewer, HR/NDCG and their bootstrap intervals over users say
nothing."""
MIN_SAMPLING_USERS = 10
"""Users with two or more training likes (one target, one liked item before it) that instruction data is
drawn from."""


def check_enough_data(
    split: Split, config: DataConfig, *, n_candidates: int, exclude: str = "known", name: str = "dataset"
) -> None:
    """Refuse a split too small for a run, with the numbers, before anything is fitted.

    * at least ``MIN_TEST_USERS`` users with ``min_likes`` likes (the users evaluated);
    * at least ``MIN_SAMPLING_USERS`` of them with two training likes (4 likes), to sample instruction
      data from;
    * more than ``n_candidates`` items liked in training (what the base models can recommend; every user's
      own training likes are left out of its list);
    * for at least half of the users, ``n_candidates`` such items they had not rated before their test item
      (``exclude="all-rated"``: ever), so that most candidate lists are full.
    """
    table = split.table
    test = table.loc[table["role"] == "test"].set_index("user_id")
    kept = len(test)
    likes = f"rating >= {split.thresholds[0]:g}{_after_k_core(config)}"
    if kept < MIN_TEST_USERS:
        raise InputError(
            f"{name}: only {kept} user{'s' if kept != 1 else ''} ha{'ve' if kept != 1 else 's'} "
            f"{config.min_likes} "
            f"or more likes ({likes}); a run needs at least {MIN_TEST_USERS} "
            "(each gives one like to validation "
            "and one to test)"
        )
    train_likes = table[(table["role"] == "train") & (table["feedback"] == "like")]
    eligible = int((train_likes.groupby("user_id").size() >= 2).sum())
    if eligible < MIN_SAMPLING_USERS:
        needed = max(config.min_likes, 4)
        raise InputError(
            f"{name}: only {eligible} user{'s' if eligible != 1 else ''} ha{'ve' if eligible != 1 else 's'} "
            f"{needed} or more likes ({likes}), two of them for training; instruction data is drawn from "
            f"at least {MIN_SAMPLING_USERS} such users"
        )
    learnable = train_likes["item_id"].unique()
    if len(learnable) <= n_candidates:
        raise InputError(
            f"{name}: only {len(learnable)} items are liked in training "
            f"(of {table['item_id'].nunique()} rated); "
            f"candidate lists of {n_candidates} ([baselines] n_candidates) need at least {n_candidates + 1}"
        )
    known = table[table["user_id"].isin(test.index) & table["item_id"].isin(learnable)]
    if exclude == "known":
        known = known[known["seq"] < known["user_id"].map(test["seq"])]
    else:
        known = known[known["role"] != "test"]
    left = len(learnable) - known.groupby("user_id").size().reindex(test.index, fill_value=0)
    full = int((left >= n_candidates).sum())
    if full * 2 < kept:
        raise InputError(
            f"{name}: only {full} of {kept} users have {n_candidates} items to recommend (liked in training, "
            f"not rated by them before; {len(learnable)} items are liked in training); candidate lists of "
            f"{n_candidates} ([baselines] n_candidates) need that for at least half of the users"
        )
