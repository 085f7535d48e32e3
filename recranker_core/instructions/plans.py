"""What each training draw's and each validation user's examples show (``Plan``): the like, the
held-out items, the listwise candidates and the pairwise opponents.

Negatives. ``random``: unseen items at random (the paper's). ``candidates``: the list a rerank prompt
would show, from the phase's primary model's ranking of the user's unseen items: the top ten when
the like is among them; otherwise the ten consecutive items of the ranking around the like, placed
at a position drawn from the positions that likes inside their top ten have. So the like sits at
test-like positions and hints agree with answers about as often as at test time (``list_shape``
measures both). "Unseen" always means never rated by the user, in any role, so a user's validation
and test items never appear as negatives.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from recranker_core.instructions.holdout import Held
from recranker_core.instructions.lists import natural_positions
from recranker_core.instructions.phase import Context, Phase
from recranker_core.seeds import rng_for


@dataclass(frozen=True)
class Plan:
    """What the examples of one training draw (or one validation user) show."""

    index: int
    """The draw (train) or the user's position among the sampled users (valid): names its random streams."""
    draw: int | None
    user: Any
    like: Held
    dislike: Held | None
    hidden: tuple
    """The user's held-out items: never shown in a history of this plan."""
    opponents: tuple
    """The like and its would-be competitors (test-list shaped in candidates mode)."""
    positives: tuple[Held, ...]
    """The listwise answer's likes (none: no listwise example)."""
    listed: tuple
    """The listwise candidates, positives included."""
    negatives: tuple
    """The like's pairwise opponents, the held-out dislike first when asked."""


def train_plan(context: Context, draw: int, user, held: dict, ranked: dict, positions: np.ndarray) -> Plan:
    rng = rng_for(context.seed, "train-plan", draw)
    like, dislike = held["like"][0], held.get("dislike", [None])[0]
    opponents = context.opponents(user, like.item, rng, ranked, positions)
    negatives = context.negatives(like, dislike, opponents, rng)
    hidden = tuple(h.item for h in itertools.chain(*held.values()))
    if context.prompts.listwise_positives == "one":
        positives, listed = (like,), opponents
    elif "positive" in held:
        positives = tuple(held["positive"])
        taken = set(hidden)
        if context.prompts.negatives == "candidates":
            others = [i for i in ranked.get(user, []) if i not in taken][:5]
        else:
            others = context.unseen(user, rng, 5)
        listed = tuple(h.item for h in positives) + tuple(others)
    else:
        positives, listed = (), ()
    return Plan(draw, draw, user, like, dislike, hidden, opponents, positives, listed, negatives)


def valid_plans(context: Context, full: Phase, sampled: list) -> list[Plan]:
    """One plan per sampled user: the validation like against the full-phase model's lists."""
    table = context.split.table
    valid = table[table["role"] == "valid"].set_index("user_id")
    ranked, positions = {}, np.array([], dtype=int)
    if context.prompts.negatives == "candidates":
        ranked = full.rankings(context.split, {u: [valid.loc[u, "item_id"]] for u in sampled})
        positions = natural_positions(ranked, {u: valid.loc[u, "item_id"] for u in sampled})
    plans = []
    for index, user in enumerate(sampled):
        rng = rng_for(context.seed, "valid-plan", index)
        like = Held(valid.loc[user, "item_id"], float(valid.loc[user, "rating"]), int(valid.loc[user, "seq"]))
        opponents = context.opponents(user, like.item, rng, ranked, positions)
        negatives = context.negatives(like, None, opponents, rng)
        plans.append(Plan(index, None, user, like, None, (), opponents, (like,), opponents, negatives))
    return plans
