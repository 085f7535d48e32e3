"""Where a method helps or hurts: its metrics and its paired difference from the reference method, by
slices of the evaluated users (activity, the test item's popularity, base position and genre).

Each slice is evaluated as ``metrics.json`` evaluates the whole run (``evaluation.summarize``): the
same per-user metrics, a bootstrap over the slice's users shared by every method, so the difference
from the reference is paired within the slice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recranker_core import beyond
from recranker_core.config import EvaluationConfig
from recranker_core.evaluation import per_user_metrics, summarize

DIMENSIONS = {
    "activity": "the user's likes in training",
    "popularity": "the test item's likes in training (all users)",
    "base position": "the test item's place in the base model's ten candidates",
    "genre": "the test item's genres (a user counts in each)",
}
POSITIONS = ((1, 3, "1–3"), (4, 6, "4–6"), (7, 10, "7–10"))
NOT_LISTED = "not in the ten"
MIN_USERS = 20
"""Where two or more genres (not all of them) hold fewer users than this, they are folded into one: alone,
their intervals are too wide to read (six users of Film-Noir). The other dimensions' slices are ordered
ranges, which a fold would mix up: quartiles are equal by construction, and a small base-position range
is itself a finding."""
FOLDED = ("genre",)
"""The dimensions whose small slices are folded together."""


def user_features(
    split: pd.DataFrame, items: pd.DataFrame, candidates: pd.DataFrame, truth: pd.DataFrame, primary: str
) -> pd.DataFrame:
    """One row per evaluated test user: test_item, activity, popularity, base_position (NaN when the test
    item is not among the ``primary`` model's candidates) and genres."""
    likes = split[(split["role"] == "train") & (split["feedback"] == "like")]
    lists = candidates[(candidates["target"] == "test") & (candidates["model"] == primary)]
    table = truth.rename(columns={"item_id": "test_item"})
    table["activity"] = table["user_id"].map(likes.groupby("user_id").size()).fillna(0).astype(int)
    table["popularity"] = table["test_item"].map(likes.groupby("item_id").size()).fillna(0).astype(int)
    listed = lists.merge(truth, on=["user_id", "item_id"]).set_index("user_id")["rank"]
    table["base_position"] = table["user_id"].map(listed)
    genres = items.set_index("item_id")["genres"]
    table["genres"] = table["test_item"].map(genres).map(_as_list)
    return table


def groups(features: pd.DataFrame, minimum: int = MIN_USERS) -> pd.DataFrame:
    """dimension, group, order, user_id: which users each slice holds (see ``DIMENSIONS``), slices under
    ``minimum`` users folded together (:func:`fold`)."""
    frames = [
        _quartiles(features, "activity", "likes"),
        _quartiles(features, "popularity", "likes"),
        _positions(features),
        _genres(features),
    ]
    return fold(pd.concat(frames, ignore_index=True), minimum)


def fold(members: pd.DataFrame, minimum: int) -> pd.DataFrame:
    """``members`` with, in each dimension of :data:`FOLDED` where two or more slices but not all hold
    fewer than ``minimum`` users, those slices made one, named for how many it holds and placed last (a
    user of two is in it once)."""
    sizes = members[members["dimension"].isin(FOLDED)].groupby(["dimension", "group"], sort=False)["user_id"]
    sizes = sizes.nunique()
    small = sizes[sizes < minimum]
    count = small.groupby(level="dimension").size()
    # Where every slice is small (a tiny run), folding would leave nothing to compare: they stay.
    kept = count[(count >= 2) & (count < sizes.groupby(level="dimension").size().reindex(count.index))]
    small = small[small.index.get_level_values("dimension").isin(kept.index)]
    if small.empty:
        return members
    folded = pd.MultiIndex.from_frame(members[["dimension", "group"]]).isin(small.index)
    out = members.copy()
    out.loc[folded, "group"] = out.loc[folded, "dimension"].map(
        lambda d: f"{count[d]} slices under {minimum} users"
    )
    out.loc[folded, "order"] = members.groupby("dimension")["order"].transform("max")[folded] + 1
    return out.drop_duplicates(["dimension", "group", "user_id"], ignore_index=True)


def slice_metrics(
    per_user: pd.DataFrame, members: pd.DataFrame, config: EvaluationConfig, seed: int, reference: str
) -> pd.DataFrame:
    """One row per (dimension, group, method, metric): users, value and interval, and the paired difference
    from ``reference`` with its interval and p-value (NaN for the reference itself).

    ``per_user``: ``evaluation.per_user_metrics`` of the methods to compare; ``members``: ``groups``."""
    rows = []
    for (dimension, group, order), users in members.groupby(["dimension", "group", "order"], sort=False):
        subset = per_user[per_user["user_id"].isin(users["user_id"])]
        for method, entry in summarize(subset, config, seed, reference).items():
            for metric, value in entry["metrics"].items():
                delta = entry.get("delta", {}).get(metric, {})
                rows.append(_row(dimension, group, order, entry["users"], method, metric, value, delta))
    return pd.DataFrame(rows)


def beyond_slices(
    rankings: pd.DataFrame,
    catalogue: beyond.Catalogue,
    members: pd.DataFrame,
    config: EvaluationConfig,
    seed: int,
    reference: str,
) -> pd.DataFrame:
    """``slice_metrics``' rows for the beyond-accuracy metrics (``beyond.beyond_document`` over each slice's
    users): a method's value over the slice's users it has lists for, its difference from ``reference`` over
    those both have."""
    rows = []
    for (dimension, group, order), users in members.groupby(["dimension", "group", "order"], sort=False):
        ids = np.sort(users["user_id"].unique())
        document = beyond.beyond_document(rankings, catalogue, ids, config, seed, reference)
        for method, entries in document.items():
            for metric, entry in entries.items():
                value = {name: entry[name] for name in ("value", "ci_low", "ci_high")}
                delta = entry.get("delta", {})
                rows.append(_row(dimension, group, order, entry["users"], method, metric, value, delta))
    return pd.DataFrame(rows)


def _row(dimension, group, order, users, method, metric, value: dict, delta: dict) -> dict:
    return {
        "dimension": dimension,
        "group": group,
        "order": order,
        "users": users,
        "method": method,
        "metric": metric,
        **value,
        "delta": delta.get("value", np.nan),
        "delta_low": delta.get("ci_low", np.nan),
        "delta_high": delta.get("ci_high", np.nan),
        "p_value": delta.get("p_value", np.nan),
    }


def all_slices(
    rankings: pd.DataFrame,
    truth: pd.DataFrame,
    features: pd.DataFrame,
    config: EvaluationConfig,
    seed: int,
    reference: str,
    minimum: int = MIN_USERS,
) -> pd.DataFrame:
    """``slice_metrics`` of every method in ``rankings`` over the evaluated users in ``truth``."""
    per_user = per_user_metrics(rankings, truth, config.ks)
    return slice_metrics(per_user, groups(features, minimum), config, seed, reference)


def extremes(
    table: pd.DataFrame, method: str, metric: str, count: int = 5
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(hurt, helped): the ``count`` slices, over every dimension, where ``method``'s paired difference in
    ``metric`` from the reference is lowest (worst first) and highest (best first): dimension, group, users,
    delta, delta_low, delta_high, p_value."""
    rows = table[(table["method"] == method) & (table["metric"] == metric) & table["delta"].notna()]
    rows = rows[(rows["delta_low"] != 0) | (rows["delta_high"] != 0)]  # nothing moved there (not listed)
    columns = ["dimension", "group", "users", "delta", "delta_low", "delta_high", "p_value"]
    ordered = rows.sort_values(["delta", "users"], ascending=[True, False], kind="stable")[columns]
    return ordered.head(count).reset_index(drop=True), ordered.iloc[::-1].head(count).reset_index(drop=True)


def rank_changes(rankings: pd.DataFrame, truth: pd.DataFrame, reference: str) -> pd.DataFrame:
    """user_id, method, base_rank, rank, change: for every user whose test item both ``reference`` and the
    method list, how many places the method moved it (positive: up)."""
    hits = rankings.merge(truth, on=["user_id", "item_id"])[["user_id", "method", "rank"]]
    base = hits[hits["method"] == reference].set_index("user_id")["rank"].rename("base_rank")
    moved = hits[hits["method"] != reference].join(base, on="user_id", how="inner")
    moved["change"] = moved["base_rank"] - moved["rank"]
    return moved[["user_id", "method", "base_rank", "rank", "change"]].reset_index(drop=True)


MOVES = ("down", "same place", "up")


def move_counts(changes: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """method, direction (:data:`MOVES`), users, share: how many users each of ``methods`` moved the test
    item down, left in place or moved up (``rank_changes``), the methods in the order given."""
    direction = np.select([changes["change"] < 0, changes["change"] > 0], ["down", "up"], "same place")
    counts = (
        changes.assign(direction=direction)
        .groupby(["method", "direction"])
        .size()
        .reindex(pd.MultiIndex.from_product([methods, MOVES], names=["method", "direction"]), fill_value=0)
        .rename("users")
        .reset_index()
    )
    totals = counts.groupby("method")["users"].transform("sum")
    return counts.assign(share=counts["users"] / totals.where(totals > 0, 1))


def _quartiles(features: pd.DataFrame, column: str, unit: str) -> pd.DataFrame:
    """Quartiles of a count: [edge, next edge) for integer edges, the last one up to the maximum."""
    values = features[column].to_numpy()
    edges = np.unique(np.ceil(np.quantile(values, [0, 0.25, 0.5, 0.75])).astype(int))
    codes = np.searchsorted(edges, values, side="right") - 1
    highs = [*(edges[1:] - 1), int(values.max())]
    labels = [f"{low}–{high} {unit}" if high > low else f"{low} {unit}" for low, high in zip(edges, highs)]
    return pd.DataFrame(
        {
            "dimension": column,
            "group": [labels[c] for c in codes],
            "order": codes,
            "user_id": features["user_id"].to_numpy(),
        }
    )


def _positions(features: pd.DataFrame) -> pd.DataFrame:
    position = features["base_position"]
    group = pd.Series(NOT_LISTED, index=features.index)
    order = pd.Series(len(POSITIONS), index=features.index)
    for index, (low, high, label) in enumerate(POSITIONS):
        inside = position.between(low, high)
        group[inside], order[inside] = label, index
    return pd.DataFrame(
        {"dimension": "base position", "group": group, "order": order, "user_id": features["user_id"]}
    )


def _genres(features: pd.DataFrame) -> pd.DataFrame:
    long = features[["user_id", "genres"]].explode("genres").dropna()
    long = long.rename(columns={"genres": "group"}).sort_values(["group", "user_id"], kind="stable")
    names = {name: i for i, name in enumerate(long["group"].unique())}
    return long.assign(dimension="genre", order=long["group"].map(names))[
        ["dimension", "group", "order", "user_id"]
    ]


def _as_list(value) -> list[str]:
    return list(value) if isinstance(value, (list, tuple, np.ndarray)) else []
