"""The RecRanker leave-one-out split: invariants on the real ML-100K and the tie-break on hand data."""

from __future__ import annotations

import pandas as pd
import pytest

from recranker_core.config import DataConfig
from recranker_core.data.split import k_core, split_likes, tie_break_key
from recranker_core.errors import InputError


def test_roles_and_counts_on_ml100k(ml100k_split):
    table, summary = ml100k_split.table, ml100k_split.summary()
    assert set(table["role"]) == {"train", "valid", "test", "dropped"}
    assert summary["users_kept"] == summary["test"] == summary["valid"] == 942
    assert summary["users_too_few_likes"] == 1
    assert summary["likes"] + summary["dislikes"] + summary["neutral"] == 100_000
    # Each kept user has exactly one test and one validation like.
    for role in ("test", "valid"):
        rows = table[table["role"] == role]
        assert rows["user_id"].is_unique and (rows["feedback"] == "like").all()


def test_test_item_comes_after_every_train_item(ml100k_split):
    table = ml100k_split.table
    last = table[table["role"] == "test"].set_index("user_id")
    valid = table[table["role"] == "valid"].set_index("user_id")
    train = table[table["role"] == "train"]
    assert (train["seq"].to_numpy() < train["user_id"].map(valid["seq"]).to_numpy()).all()
    assert (valid["seq"] < last.loc[valid.index, "seq"]).all()
    assert (train["timestamp"].to_numpy() <= train["user_id"].map(last["timestamp"]).to_numpy()).all()


def test_no_target_appears_in_its_users_train_set(ml100k_split):
    table = ml100k_split.table
    train_pairs = set(zip(*table.loc[table["role"] == "train", ["user_id", "item_id"]].to_numpy().T))
    for role in ("valid", "test"):
        targets = set(zip(*ml100k_split.targets(role).to_numpy().T))
        assert not targets & train_pairs


def test_feedback_thresholds_and_neutral_dropped(ml100k_split):
    table = ml100k_split.table
    assert (table.loc[table["feedback"] == "like", "rating"] >= 4).all()
    assert (table.loc[table["feedback"] == "dislike", "rating"] < 3).all()
    assert (table.loc[table["feedback"] == "neutral", "role"] == "dropped").all()
    assert (table.loc[table["role"] == "train", "feedback"] != "neutral").all()


def test_seen_covers_every_rated_item(ml100k_split, ml100k):
    seen = ml100k_split.seen()
    rated = ml100k.ratings.groupby("user_id")["item_id"].apply(set)
    assert all(set(items) == rated[user] for user, items in seen.items())


def frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def test_ties_are_broken_by_a_fixed_hash_not_by_item_id():
    # Four likes at one timestamp: the order follows the CRC-32 key, whatever the row order.
    rows = [(1, item, 5.0, 100) for item in (10, 20, 30, 40)]
    expected = sorted((10, 20, 30, 40), key=lambda i: tie_break_key(pd.Series([1]), pd.Series([i]))[0])
    for order in (rows, rows[::-1]):
        split = split_likes(frame(order), DataConfig())
        table = split.table.sort_values("seq")
        assert table["item_id"].tolist() == expected
        assert split.targets("test")["item_id"].tolist() == [expected[-1]]
        assert split.targets("valid")["item_id"].tolist() == [expected[-2]]


def test_dislikes_after_validation_and_users_with_few_likes_are_dropped():
    rows = [
        (1, 1, 5.0, 1),
        (1, 2, 1.0, 2),
        (1, 3, 4.0, 3),
        (1, 4, 5.0, 4),
        (1, 5, 2.0, 5),
        (1, 6, 4.0, 6),
        (1, 7, 3.0, 7),
        (2, 1, 5.0, 1),
        (2, 2, 5.0, 2),
    ]
    split = split_likes(frame(rows), DataConfig())
    roles = split.table.set_index(["user_id", "item_id"])["role"]
    assert roles[1].to_dict() == {
        1: "train",
        2: "train",
        3: "train",
        4: "valid",
        5: "dropped",
        6: "test",
        7: "dropped",
    }
    assert (roles[2] == "dropped").all()
    assert split.users_too_few_likes == 1


def test_unset_thresholds_follow_the_scale():
    """A 1-10 scale likes 8 and up and dislikes below 6, as 4 and 3 of 5 (the paper's MovieLens rule)."""
    rows = [(1, item, rating, item) for item, rating in enumerate([10.0, 8.0, 7.0, 6.0, 5.0, 9.0], start=1)]
    split = split_likes(frame(rows), DataConfig())
    feedback = split.table.set_index("item_id")["feedback"].to_dict()
    assert feedback == {1: "like", 2: "like", 3: "neutral", 4: "neutral", 5: "dislike", 6: "like"}
    assert split.summary()["like_threshold"] == 8.0 and split.summary()["dislike_threshold"] == 6.0
    assert split_likes(frame(rows), DataConfig(like_threshold=7.0)).thresholds == (7.0, 6.0)


def test_a_set_like_threshold_below_the_default_dislike_is_refused_with_the_scale():
    rows = [(1, item, 5.0, item) for item in range(1, 5)]
    with pytest.raises(
        InputError, match=r"dislike_threshold = 3.0 is above data.like_threshold = 2.0 \(scale top 5\)"
    ):
        split_likes(frame(rows), DataConfig(like_threshold=2.0))


def test_the_k_core_filter_repeats_until_every_user_and_item_has_enough():
    # Item 9 has two ratings; without it users 3 and 4 keep one each and go, which leaves item 8 with two.
    rows = [(u, i, 5.0, i) for u in (1, 2, 5) for i in (1, 2, 3)] + [(u, 8, 5.0, 8) for u in (1, 2, 3)]
    rows += [(3, 9, 5.0, 9), (4, 9, 5.0, 9), (4, 1, 5.0, 1)]
    config = DataConfig(min_user_ratings=2, min_item_ratings=3)
    kept = k_core(frame(rows), config.min_user_ratings, config.min_item_ratings)
    survivors = frame(rows)[kept]
    assert sorted(survivors["item_id"].unique()) == [1, 2, 3]
    assert sorted(survivors["user_id"].unique()) == [1, 2, 5]
    split = split_likes(frame(rows), config)
    assert split.k_core_dropped == len(rows) - 9
    assert (split.table.loc[split.table["item_id"].isin([8, 9]), "role"] == "dropped").all()
    assert (split.table.loc[split.table["user_id"].isin([3, 4]), "role"] == "dropped").all()


def test_too_few_users_after_the_k_core_filter_names_the_filter():
    rows = [(u, i, 5.0, i) for u in range(1, 4) for i in range(1, 5)]
    with pytest.raises(InputError, match="after the k-core filter: data.min_user_ratings = 5"):
        split_likes(frame(rows), DataConfig(min_user_ratings=5))
