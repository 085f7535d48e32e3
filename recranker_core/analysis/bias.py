"""Position bias: does where an item is shown change the model's answer, and does shifting undo it?

Listwise: accuracy by the position at which the target item was shown. Pairwise: each pair is
asked in both orders ("ab", "ba"); a model without position bias prefers the same item both times.
Test-time bootstrap: the listwise score averages shuffled copies; ranking by one copy or by all
shows what the averaging buys.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from recranker_core.evaluation import ndcg_at
from recranker_core.ranking import rank_within_user, task_scores

PAIR = re.compile(r"pair (\S+) (ab|ba)$")
COPY = re.compile(r"copy (\d+)$")


def targets(truth_test: pd.DataFrame, truth_valid: pd.DataFrame) -> pd.DataFrame:
    """split, user_id, item_id: the item each rerank prompt is judged by (test item; validation item)."""
    return pd.concat(
        [truth_test.assign(split="test"), truth_valid.assign(split="valid-rerank")], ignore_index=True
    )[["split", "user_id", "item_id"]]


def listwise_positions(outputs: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per listwise prompt that shows the target: family, split, position (1-based), n,
    top1 (the target's label is the most likely), prob (its label's probability)."""
    rows = outputs[outputs["task"] == "listwise"].merge(
        truth.rename(columns={"item_id": "target"}), on=["split", "user_id"]
    )
    records = []
    for row in rows.itertuples():
        items = list(row.items)
        if row.target not in items:
            continue
        position = items.index(row.target)
        probs = np.asarray(row.probs, dtype=float)
        records.append(
            (
                row.family,
                row.split,
                row.user_id,
                position + 1,
                len(items),
                int(np.argmax(probs) == position),
                probs[position],
            )
        )
    return pd.DataFrame(records, columns=["family", "split", "user_id", "position", "n", "top1", "prob"])


def accuracy_by_position(per_prompt: pd.DataFrame) -> pd.DataFrame:
    """family, position, prompts, top1 rate, mean probability, chance (1/n)."""
    grouped = per_prompt.groupby(["family", "position"])
    return (
        grouped.agg(prompts=("top1", "size"), top1=("top1", "mean"), prob=("prob", "mean"), n=("n", "mean"))
        .assign(chance=lambda t: 1.0 / t["n"])
        .drop(columns="n")
        .reset_index()
    )


def top_pick_positions(outputs: pd.DataFrame) -> pd.DataFrame:
    """family, position (1-based), n, share: where the most likely label sits, over all listwise prompts."""
    rows = outputs[outputs["task"] == "listwise"]
    picks = pd.DataFrame(
        {
            "family": rows["family"].to_numpy(),
            "position": [int(np.argmax(p)) + 1 for p in rows["probs"]],
            "n": [len(p) for p in rows["probs"]],
        }
    )
    table = picks.groupby(["family", "position"]).agg(prompts=("n", "size"), n=("n", "max")).reset_index()
    table["share"] = table["prompts"] / table.groupby("family")["prompts"].transform("sum")
    return table


def pair_orders(outputs: pd.DataFrame) -> pd.DataFrame:
    """One row per pair asked in both orders: family, split, user_id, pair, first, second (items in
    "ab" order), p_ab and p_ba (the probability that ``first`` is preferred, asked first and asked
    second), agree (the same item wins both times), shown_first (mean P(Yes): preference for
    whichever item is shown first)."""
    rows = outputs[outputs["task"] == "pairwise"]
    parsed = rows["variant"].str.extract(PAIR)
    rows = rows.assign(pair=parsed[0], order=parsed[1], p_yes=rows["probs"].map(lambda p: float(p[0])))
    rows = rows.dropna(subset=["pair"])
    ab = rows[rows["order"] == "ab"].assign(
        first=lambda t: t["items"].map(lambda i: i[0]), second=lambda t: t["items"].map(lambda i: i[1])
    )
    ba = rows[rows["order"] == "ba"]
    key = ["family", "split", "user_id", "pair"]
    both = ab[key + ["first", "second", "p_yes"]].merge(ba[key + ["p_yes"]], on=key, suffixes=("_ab", "_ba"))
    both["p_ab"] = both["p_yes_ab"]
    both["p_ba"] = 1.0 - both["p_yes_ba"]  # asked "b before a": 'No.' means a is preferred
    both["agree"] = (both["p_ab"] > 0.5) == (both["p_ba"] > 0.5)
    both["shown_first"] = (both["p_yes_ab"] + both["p_yes_ba"]) / 2
    return both[key + ["first", "second", "p_ab", "p_ba", "agree", "shown_first"]]


def consistency(pairs: pd.DataFrame) -> pd.DataFrame:
    """family: pairs, agreement rate, mean P(shown first preferred) (0.5 = no position preference)."""
    return (
        pairs.groupby("family")
        .agg(pairs=("agree", "size"), agreement=("agree", "mean"), shown_first=("shown_first", "mean"))
        .reset_index()
    )


def copies_effect(
    outputs: pd.DataFrame, base: pd.DataFrame, truth: pd.DataFrame, scale: tuple[int, int]
) -> pd.DataFrame:
    """Listwise ranking from one shuffled copy, and from the first k copies averaged.

    base: split, user_id, item_id, base_rank (the candidates); truth as in :func:`targets`.
    Returns family, copies ("copy c" or "first k averaged"), users, HR@1, HR@3, NDCG@5 of the
    target, over users whose target is among the candidates."""
    rows = outputs[outputs["task"] == "listwise"]
    rows = rows.assign(copy=rows["variant"].str.extract(COPY)[0].astype(float)).dropna(subset=["copy"])
    copies = sorted(rows["copy"].astype(int).unique())
    subsets = {f"copy {c} alone": rows[rows["copy"] == c] for c in copies}
    subsets.update({f"first {k} averaged": rows[rows["copy"] < k] for k in range(2, len(copies) + 1)})
    records = []
    for name, subset in subsets.items():
        table = task_scores(subset, base, scale)
        table = table.assign(rank=rank_within_user(table, table["listwise"]))
        hits = table.merge(truth, on=["split", "user_id", "item_id"])
        for family, group in hits.groupby("family"):
            rank = group["rank"].to_numpy(dtype=float)
            records.append(
                {
                    "family": family,
                    "copies": name,
                    "users": len(rank),
                    "HR@1": float((rank <= 1).mean()),
                    "HR@3": float((rank <= 3).mean()),
                    "NDCG@5": float(ndcg_at(rank, 5).mean()),
                }
            )
    return pd.DataFrame(records, columns=["family", "copies", "users", "HR@1", "HR@3", "NDCG@5"])
