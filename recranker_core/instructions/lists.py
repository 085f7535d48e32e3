"""The shape of candidate lists and pairs: hard-negative windows, perfect matchings, and where the
liked item sits (to compare training lists with rerank lists)."""

from __future__ import annotations

from typing import Any

import numpy as np

LIST_SIZE = 10


def around(ranked: np.ndarray, target, rng: np.random.Generator, positions: np.ndarray) -> list:
    """Ten consecutive items of a ranking holding ``target``: its top ten when the target is there;
    otherwise the target at a position drawn from how often targets inside their top ten sit at each
    (``positions``), an unscorable target counting as ranked last."""
    found = np.flatnonzero(ranked == target)
    if not len(found):
        ranked = np.append(ranked, target)
    rank = int(found[0]) if len(found) else len(ranked) - 1
    if rank < LIST_SIZE:
        return list(ranked[:LIST_SIZE])
    # Add-one smoothing: a handful of users inside their top ten must not pin every list to their positions.
    weights = np.bincount(positions, minlength=LIST_SIZE)[:LIST_SIZE] + 1.0
    position = int(rng.choice(LIST_SIZE, p=weights / weights.sum()))
    start = max(0, min(rank - position, len(ranked) - LIST_SIZE))
    return list(ranked[start : start + LIST_SIZE])


def natural_positions(ranked: dict, targets: dict) -> np.ndarray:
    """The 0-based ranks of the targets that are inside their user's top ten."""
    ranks = [np.flatnonzero(ranked.get(u, np.array([]))[:LIST_SIZE] == t) for u, t in targets.items()]
    return np.array([int(r[0]) for r in ranks if len(r)], dtype=int)


def matched_pairs(n: int, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``count`` distinct pairs of positions 0..n-1 from successive random perfect matchings, each
    matching pairing every position once (the paper's pairs (i, i + n/2) of a shuffled list)."""
    count = min(count, n * (n - 1) // 2)
    chosen: list[tuple[int, int]] = []
    while len(chosen) < count:
        order = rng.permutation(n)
        for a, b in zip(order[: n // 2], order[n // 2 : 2 * (n // 2)]):
            pair = (int(min(a, b)), int(max(a, b)))
            if pair not in chosen and len(chosen) < count:
                chosen.append(pair)
    return sorted(chosen)


def list_shape(examples: list[dict], truth: dict | None = None) -> dict[str, Any]:
    """Where the liked item sits in listwise lists (0-based base position) and how often the first
    pairwise hint prefers it over a negative: for training or validation examples (their target), or
    for rerank prompts given ``truth`` (user -> item; the base-order copy and the "ab" asks)."""
    positions, agree = [], []
    for example in examples:
        meta = example["meta"]
        target = meta.get("target") if truth is None else truth.get(meta["user_id"])
        rerank = truth is not None
        if (
            meta["task"] == "listwise"
            and target in meta["items"]
            and (not rerank or meta["variant"] == "copy 0")
        ):
            positions.append(meta["permutation"][meta["items"].index(target)])
        elif (
            meta["task"] == "pairwise"
            and target in meta["items"]
            and meta["hint"]
            and meta["variant"] != "vs dislike"
        ):
            first, second = next(iter(meta["hint"].values()))
            if (
                (not rerank or meta["variant"].endswith("ab"))
                and None not in (first, second)
                and first != second
            ):
                agree.append((first > second) == (meta["items"][0] == target))
    counts = np.bincount(np.array(positions, dtype=int), minlength=LIST_SIZE)
    return {
        "target_positions": counts.tolist(),
        "last_position_share": round(float(counts[-1] / counts.sum()), 4) if counts.sum() else None,
        "hint_agreement": round(float(np.mean(agree)), 4) if agree else None,
    }
