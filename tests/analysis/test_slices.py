"""Slices of the evaluated users, each evaluated as metrics.json is: paired against the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recranker_core.analysis import slices
from recranker_core.config import EvaluationConfig

CONFIG = EvaluationConfig(ks=(3,), bootstrap_samples=200)


def toy():
    """8 users; 'base' lists each test item at the user's own position, 'up' one place higher."""
    users = range(1, 9)
    truth = pd.DataFrame({"user_id": list(users), "item_id": [100 + u for u in users]})
    position = {u: u if u <= 6 else None for u in users}  # users 7 and 8: not listed
    rows = []
    for u in users:
        if position[u] is not None:
            rows.append((u, "base", 100 + u, position[u]))
            rows.append((u, "up", 100 + u, max(1, position[u] - 1)))
            rows.append((u, "same", 100 + u, position[u]))
    rankings = pd.DataFrame(rows, columns=["user_id", "method", "item_id", "rank"])
    features = truth.rename(columns={"item_id": "test_item"}).assign(
        activity=[3, 5, 8, 10, 20, 30, 40, 50],
        popularity=[1, 1, 2, 2, 50, 60, 70, 80],
        base_position=[position[u] for u in users],
        genres=[["Drama"], ["Drama", "Comedy"], [], ["Comedy"], ["Drama"], [], [], ["Horror"]],
    )
    return rankings, truth, features


def test_groups_partition_the_users_by_each_dimension_and_genres_overlap():
    _, _, features = toy()
    members = slices.groups(features, minimum=0)
    for dimension in ("activity", "popularity", "base position"):
        part = members[members["dimension"] == dimension]
        assert sorted(part["user_id"]) == list(range(1, 9)), dimension
    positions = members[members["dimension"] == "base position"].set_index("user_id")["group"]
    assert positions[1] == "1–3" and positions[5] == "4–6" and positions[8] == slices.NOT_LISTED
    activity = members[members["dimension"] == "activity"].set_index("user_id")["group"]
    assert activity[1] == activity[2] == "3–7 likes" and activity[8] == activity[7] == "33–50 likes"
    genres = members[members["dimension"] == "genre"]
    assert sorted(genres.loc[genres["group"] == "Drama", "user_id"]) == [1, 2, 5]
    assert sorted(genres.loc[genres["group"] == "Comedy", "user_id"]) == [2, 4]


def test_each_slice_is_paired_against_the_reference():
    rankings, truth, features = toy()
    table = slices.all_slices(rankings, truth, features, CONFIG, seed=1, reference="base", minimum=0)
    ndcg = table[(table["metric"] == "NDCG@3") & (table["dimension"] == "base position")]
    same = ndcg[ndcg["method"] == "same"]
    assert (same["delta"] == 0).all() and (same["delta_low"] == 0).all() and (same["delta_high"] == 0).all()
    assert ndcg.loc[ndcg["method"] == "base", "delta"].isna().all()
    for _, rows in ndcg.groupby("group"):
        value = rows.set_index("method")["value"]
        assert rows.set_index("method").loc["up", "delta"] == pytest.approx(value["up"] - value["base"])
    top = ndcg[(ndcg["group"] == "4–6") & (ndcg["method"] == "up")].iloc[0]
    assert top["users"] == 3 and top["delta"] > 0  # users 4 moved into the top 3
    missed = ndcg[ndcg["group"] == slices.NOT_LISTED]
    assert (missed["value"] == 0).all()


def test_rank_changes_count_places_moved_up():
    rankings, truth, _ = toy()
    changes = slices.rank_changes(rankings, truth, "base")
    up = changes[changes["method"] == "up"].set_index("user_id")["change"]
    assert up.to_dict() == {1: 0, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1}
    assert set(changes["user_id"]) == set(range(1, 7))  # users whose item the reference lists


def test_user_features_read_the_run_tables():
    split = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 1, 2],
            "item_id": [10, 11, 10, 12, 20, 21],
            "role": ["train", "train", "train", "train", "test", "test"],
            "feedback": ["like", "like", "like", "dislike", "like", "like"],
        }
    )
    items = pd.DataFrame({"item_id": [10, 11, 12, 20, 21], "genres": [[], [], [], ["Drama"], None]})
    candidates = pd.DataFrame(
        {"target": "test", "model": "mf", "user_id": [1, 1], "item_id": [11, 20], "rank": [1, 2]}
    )
    truth = pd.DataFrame({"user_id": [1, 2], "item_id": [20, 21]})
    features = slices.user_features(split, items, candidates, truth, "mf").set_index("user_id")
    assert features["activity"].to_dict() == {1: 2, 2: 1}
    assert features.loc[1, "base_position"] == 2 and pd.isna(features.loc[2, "base_position"])
    assert features.loc[1, "genres"] == ["Drama"] and features.loc[2, "genres"] == []


def test_extremes_are_the_judged_method_s_worst_and_best_slices():
    from recranker_core.analysis.slices import extremes

    table = pd.DataFrame(
        {
            "dimension": ["activity", "activity", "genre", "genre", "genre", "base position"],
            "group": ["q1", "q2", "Drama", "Horror", "Drama", slices.NOT_LISTED],
            "users": [10, 12, 30, 4, 30, 50],
            "method": ["fusion", "fusion", "fusion", "fusion", "base:ease", "fusion"],
            "metric": "NDCG@3",
            "delta": [0.02, -0.05, np.nan, 0.10, -0.9, 0.0],
            "delta_low": [-0.1, -0.2, np.nan, -0.1, -1.0, 0.0],
            "delta_high": [0.1, 0.1, np.nan, 0.3, -0.5, 0.0],
            "p_value": 0.5,
        }
    )
    hurt, helped = extremes(table, "fusion", "NDCG@3", count=2)
    assert list(hurt["group"]) == ["q2", "q1"] and list(helped["group"]) == ["Horror", "q1"]
    # Where the method could not move anything (every resample 0), the slice is neither.
    assert slices.NOT_LISTED not in set(extremes(table, "fusion", "NDCG@3", count=9)[0]["group"])


def test_small_slices_are_folded_together_where_there_are_two():
    _, _, features = toy()
    members = slices.groups(features, minimum=3)
    genres = members[members["dimension"] == "genre"]
    # Drama (3 users) stands; Comedy (2) and Horror (1) are one slice of their 3 users, placed last.
    folded = "2 slices under 3 users"
    assert list(dict.fromkeys(genres.sort_values("order", kind="stable")["group"])) == ["Drama", folded]
    assert sorted(genres.loc[genres["group"] == folded, "user_id"]) == [2, 4, 8]  # user 2 once
    positions = members[members["dimension"] == "base position"]
    # 1–3 and 4–6 hold 3 users each; only "not in the ten" (2) is small, and one small slice stays itself.
    assert set(positions["group"]) == {"1–3", "4–6", slices.NOT_LISTED}
    assert slices.groups(features).equals(slices.groups(features, minimum=slices.MIN_USERS))
    # Every slice of 8 users is small: none is folded, else there would be nothing to compare.
    assert slices.groups(features, minimum=100).equals(slices.groups(features, minimum=0))


def test_beyond_accuracy_slices_are_paired_over_the_users_both_list():
    from recranker_core import beyond

    rankings, truth, features = toy()
    # 'up' lists a second, popular item for users 1-3 only: its lists hold more popular items there.
    extra = pd.DataFrame({"user_id": [1, 2, 3], "method": "up", "item_id": 900, "rank": 2})
    rankings = pd.concat([rankings[~((rankings["method"] == "up") & (rankings["rank"] == 2))], extra])
    split = pd.DataFrame(
        {
            "user_id": list(range(1, 9)) * 2,
            "item_id": [900] * 8 + [100 + u for u in range(1, 9)],
            "role": "train",
            "feedback": "like",
        }
    )
    items = pd.DataFrame({"item_id": [900, *range(101, 109)], "genres": [["Drama"]] * 9})
    catalogue = beyond.Catalogue.build(split, items)
    members = slices.groups(features, minimum=0)
    table = slices.beyond_slices(rankings, catalogue, members, CONFIG, seed=1, reference="base")
    arp = table[(table["metric"] == "arp@3") & (table["dimension"] == "base position")]
    top = arp[arp["group"] == "1–3"].set_index("method")
    assert top.loc["up", "users"] == 3 and top.loc["up", "delta"] > 0  # item 900: rated by every user
    assert np.isnan(top.loc["base", "delta"])
    # Where 'up' lists only what 'base' lists, the paired difference is 0 exactly.
    assert arp.loc[(arp["group"] == "4–6") & (arp["method"] == "same"), "delta"].iloc[0] == 0
    whole = beyond.beyond_document(rankings, catalogue, np.arange(1, 9), CONFIG, 1, "base")
    everyone = slices.beyond_slices(
        rankings,
        catalogue,
        members.assign(group="all", order=0).drop_duplicates("user_id"),
        CONFIG,
        1,
        "base",
    ).set_index(["method", "metric"])
    assert everyone.loc[("up", "tail@5"), "value"] == whole["up"]["tail@5"]["value"]  # one slice = the run


def test_move_counts_split_each_method_s_users_by_direction():
    rankings, truth, _ = toy()
    counts = slices.move_counts(slices.rank_changes(rankings, truth, "base"), ["up", "same"])
    table = counts.set_index(["method", "direction"])["users"]
    assert table["up"].to_dict() == {"down": 0, "same place": 1, "up": 5}  # user 1 is first already
    assert table["same"].to_dict() == {"down": 0, "same place": 6, "up": 0}
    assert list(dict.fromkeys(counts["method"])) == ["up", "same"]
    assert counts.groupby("method")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
