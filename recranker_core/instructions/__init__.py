"""Instruction data for the three tasks, and the rerank prompts.

Three phases, each with hint models fitted only on what that phase may know:

* train (one set of examples per sampled draw): every eligible user's last training like ``h`` (and
  last training dislike ``d``, if any; with ``listwise_positives = "paper"`` also three top-rated and
  two next-rated likes) is held out; the "moment" models are fitted on the training rows without
  them, and prompts show only training rows before ``h``, never a held-out item. Pointwise asks for
  the rating of ``h`` and of ``d``; pairwise sets ``h`` against ``d`` and against negatives;
  listwise shows ten items holding ``h`` (or the five likes among five negatives).
* valid (one set per sampled user): the same with the validation like as target, all training
  rows as history, and models fitted on all training rows.
* rerank (``test``, and ``valid-rerank`` whose scores tune the hybrid): for each user whose target
  is among the primary model's candidates, pointwise for each candidate, pairwise for pairs from
  random perfect matchings of the candidates in both orders, listwise for the list in base order
  and K - 1 shuffles. One history per user (a seeded draw, shuffled once) is shared by all of its
  prompts, so they share a prefix the scorer encodes once. Nothing in these prompts depends on which
  candidate is the target.

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
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recranker_core.config import RunConfig
from recranker_core.data.split import Split
from recranker_core.instructions.holdout import Held, eligible_users, held_out, moment_rows
from recranker_core.instructions.lists import LIST_SIZE, around, list_shape, matched_pairs, natural_positions
from recranker_core.instructions.phase import Context, Phase, labels
from recranker_core.prompts import markers
from recranker_core.prompts.builder import PromptBuilder, plain
from recranker_core.prompts.shift import permutation, swapped
from recranker_core.seeds import rng_for

__all__ = [
    "LIST_SIZE",
    "InstructionSet",
    "around",
    "build_instructions",
    "eligible_users",
    "held_out",
    "list_shape",
    "matched_pairs",
    "moment_rows",
]
log = logging.getLogger("recranker")


@dataclass(frozen=True)
class InstructionSet:
    train: list[dict[str, Any]]
    valid: list[dict[str, Any]]
    test: list[dict[str, Any]]
    """Test prompts, without answers."""
    valid_rerank: list[dict[str, Any]]
    """Test-style prompts for validation users (for tuning hybrid weights), without answers."""
    evaluation_users: list | None
    """The test users every method is evaluated on, when a subset is configured (else None: all)."""
    summary: dict[str, Any]
    vectors: pd.DataFrame | None = None
    """Both phases' user and item vectors that collaborative tokens carry (``Phase.vectors``); None
    without them."""


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


def build_instructions(
    split: Split,
    items: pd.DataFrame,
    candidates: pd.DataFrame,
    draws: pd.DataFrame,
    config: RunConfig,
    seed: int | None = None,
) -> InstructionSet:
    """Every example and prompt; ``seed`` (default: the run's) drives their random choices, while the users
    evaluated and the validation users prompted always follow the run's seed."""
    context = Context(split, config, config.seed if seed is None else seed)
    sampled = draws["user_id"].drop_duplicates().tolist()
    train, train_summary, train_vectors = _train_examples(context, items, draws)
    primary = candidates[candidates["model"] == config.baselines.primary]
    lists_by = {
        key: g.sort_values("rank")["item_id"].tolist() for key, g in primary.groupby(["target", "user_id"])
    }
    log.info("fitting hint models on all training rows ...")
    full = Phase(split.train_rated, items, config, config.seed)
    valid_plans = _valid_plans(context, full, sampled)
    evaluation_users, test_users, valid_rerank_users = _rerank_users(context, lists_by)
    wanted: dict = {}
    for plan in valid_plans:
        wanted.setdefault(plan.user, set()).update([*plan.opponents, *plan.negatives])
    for role, users in (("test", test_users), ("valid", valid_rerank_users)):
        for user in users:
            wanted.setdefault(user, set()).update(lists_by[(role, user)])
    full.score_all(wanted)
    builder = PromptBuilder(config.prompts, full.catalogue, split.rating_scale(), labels())
    valid = [e for plan in valid_plans for e in _plan_examples(context, full, builder, plan, "valid")]
    valid_rows = split.table[split.table["role"] == "valid"]
    test = _rerank_prompts(
        context, full, builder, "test", [(u, lists_by[("test", u)]) for u in test_users], valid_rows
    )
    valid_rerank = _rerank_prompts(
        context, full, builder, "valid", [(u, lists_by[("valid", u)]) for u in valid_rerank_users]
    )
    valid_truth = split.targets("valid").set_index("user_id")["item_id"].to_dict()
    summary = {
        "negatives": config.prompts.negatives,
        "shift": config.prompts.shift,
        "train_examples": _count(train),
        "valid_examples": _count(valid),
        "test_prompts": _count(test),
        "valid_rerank_prompts": _count(valid_rerank),
        "valid_rerank_users": len(valid_rerank_users),
        "sampled_users": len(sampled),
        **train_summary,
        "test_users_prompted": len(test_users),
        "test_users": int(split.table.loc[split.table["role"] == "test", "user_id"].nunique()),
        "evaluation_users": len(evaluation_users) if evaluation_users is not None else "all",
        "list_shape": {"train": list_shape(train), "valid-rerank": list_shape(valid_rerank, valid_truth)},
    }
    vectors = None if train_vectors is None else pd.concat([train_vectors, full.vectors(markers.FULL)])
    return InstructionSet(train, valid, test, valid_rerank, evaluation_users, summary, vectors)


def _train_examples(
    context: Context, items: pd.DataFrame, draws: pd.DataFrame
) -> tuple[list[dict], dict, pd.DataFrame | None]:
    """One set of examples per draw, from the moment models (fitted without the held-out items); also
    their collaborative vectors."""
    config = context.config
    sampled = draws["user_id"].drop_duplicates().tolist()
    held = held_out(context.split, eligible_users(context.split)["user_id"], config)
    by_user: dict = {}
    for row in held.itertuples():
        by_user.setdefault(row.user_id, {}).setdefault(row.kind, []).append(
            Held(row.item_id, float(row.rating), int(row.seq))
        )
    log.info("fitting hint models without each user's held-out items ...")
    moment = Phase(moment_rows(context.split, held), items, config, context.seed)
    ranked, positions = {}, np.array([], dtype=int)
    if config.prompts.negatives == "candidates":
        ranked = moment.rankings(context.split, {u: [by_user[u]["like"][0].item] for u in sampled})
        positions = natural_positions(ranked, {u: by_user[u]["like"][0].item for u in sampled})
    plans = [
        _train_plan(context, int(draw), user, by_user[user], ranked, positions)
        for draw, user in zip(draws["draw"], draws["user_id"])
    ]
    wanted: dict = {}
    for plan in plans:
        wanted.setdefault(plan.user, set()).update(
            [*plan.opponents, *plan.listed, *plan.negatives, *plan.hidden]
        )
    moment.score_all(wanted)
    builder = PromptBuilder(config.prompts, moment.catalogue, context.split.rating_scale(), labels())
    examples = [
        e
        for plan in tqdm(plans, desc="train prompts", unit="draw", leave=False)
        for e in _plan_examples(context, moment, builder, plan, "train")
    ]
    summary = {"draws_without_listwise": sum(not plan.positives for plan in plans)}
    return examples, summary, moment.vectors(markers.TRAIN)


def _train_plan(context: Context, draw: int, user, held: dict, ranked: dict, positions: np.ndarray) -> Plan:
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


def _valid_plans(context: Context, full: Phase, sampled: list) -> list[Plan]:
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


def _plan_examples(
    context: Context, phase: Phase, builder: PromptBuilder, plan: Plan, split: str
) -> list[dict]:
    """A plan's pointwise (like, and dislike), pairwise and listwise examples, with answers."""
    prompts, scale = context.prompts, context.split.rating_scale()
    rng = rng_for(context.seed, f"{split}-shift", plan.index)
    head = {"split": split, "user_id": plain(plan.user), "draw": plan.draw, "negatives": prompts.negatives}
    like_variant = "held-out like" if split == "train" else "validation like"
    out = []
    for held, variant in ((plan.like, like_variant), (plan.dislike, "held-out dislike")):
        if held is not None:
            out.append(
                builder.pointwise(
                    head | {"variant": variant},
                    context.history(plan.user, held.seq, rng, plan.hidden),
                    held.item,
                    rng,
                    rating_hint=phase.rating_hint(prompts, plan.user, held.item),
                    answer=_clip(held.rating, scale),
                )
            )
    at_like = context.history(plan.user, plan.like.seq, rng, plan.hidden)
    for negative in plan.negatives:
        pair = (plan.like.item, negative)
        out.append(
            builder.pairwise(
                head
                | {
                    "variant": "vs dislike"
                    if plan.dislike and negative == plan.dislike.item
                    else "vs negative"
                },
                at_like,
                pair,
                swapped(rng, prompts.swap_probability, prompts.shift),
                scores=phase.pair_scores(prompts, plan.user, pair),
                positive=plan.like.item,
            )
        )
    if plan.positives:
        ordered = phase.base_order(plan.user, list(plan.listed))
        best = sorted(plan.positives, key=lambda h: (-h.rating, ordered.index(h.item)))
        ranking = [h.item for h in best] + [i for i in ordered if i not in {h.item for h in best}]
        variant = like_variant if len(best) == 1 else f"{len(best)} held-out likes"
        out.append(
            builder.listwise(
                head | {"variant": variant},
                at_like,
                ordered,
                permutation(len(ordered), rng, prompts.shift),
                scores=phase.list_scores(prompts, plan.user, ordered),
                ranking=ranking,
            )
        )
    return out


def _rerank_users(context: Context, lists_by: dict) -> tuple[list | None, list, list]:
    """(evaluation subset or None, test users to prompt, validation users to prompt)."""
    prompts, seed = context.prompts, context.config.seed
    valid_item = context.split.targets("valid").set_index("user_id")["item_id"]
    test_item = context.split.targets("test").set_index("user_id")["item_id"]
    evaluation_users = None
    if 0 < prompts.test_users < len(test_item):
        # A seeded subset of ALL test users (chosen before looking at candidates), so every
        # method, base models included, is then evaluated on the same users.
        chosen = rng_for(seed, "evaluation-users").choice(len(test_item), prompts.test_users, replace=False)
        evaluation_users = sorted(test_item.index[chosen].tolist())
    every = prompts.rerank_users == "all"
    test_users = [
        u
        for u in test_item.index
        if ("test", u) in lists_by
        and (every or test_item[u] in lists_by[("test", u)])
        and (evaluation_users is None or u in evaluation_users)
    ]
    valid_users = [u for u in valid_item.index if valid_item[u] in lists_by.get(("valid", u), [])]
    if 0 < prompts.rerank_valid_users < len(valid_users):
        chosen = rng_for(seed, "valid-rerank-users").choice(
            len(valid_users), prompts.rerank_valid_users, replace=False
        )
        valid_users = [valid_users[i] for i in sorted(chosen)]
    return evaluation_users, test_users, valid_users


def _rerank_prompts(
    context: Context,
    full: Phase,
    builder: PromptBuilder,
    role: str,
    lists: list[tuple[Any, list]],
    valid_rows: pd.DataFrame | None = None,
) -> list[dict]:
    """Test-style prompts for each (user, candidates in base order); ``valid_rows`` join the history
    (test)."""
    prompts = context.prompts
    out = []
    for index, (user, listed) in enumerate(
        tqdm(lists, desc=f"{role} rerank prompts", unit="user", leave=False)
    ):
        rng = rng_for(context.seed, f"rerank-{role}", index)
        head = {"split": "test" if role == "test" else "valid-rerank", "user_id": plain(user), "draw": None}
        also = valid_rows[valid_rows["user_id"] == user] if valid_rows is not None else None
        shown = context.history(user, np.inf, rng, also=also)
        # One shuffle of the history for all of a user's prompts: they share a prefix the scorer encodes once.
        perm = permutation(len(shown.liked), rng, prompts.shift and not prompts.sequential)
        for rank, item in enumerate(listed, start=1):
            out.append(
                builder.pointwise(
                    head | {"variant": f"candidate {rank}"},
                    shown,
                    item,
                    rng,
                    rating_hint=full.rating_hint(prompts, user, item),
                    answer=None,
                    perm=perm,
                )
            )
        shown = shown.reordered(perm)
        pairs = list(itertools.combinations(range(len(listed)), 2))
        if not prompts.test_all_pairs:
            pairs = matched_pairs(len(listed), prompts.test_pairs, rng)
        for a, b in pairs:
            pair = (listed[a], listed[b])
            for swap in (False, True):
                out.append(
                    builder.pairwise(
                        head | {"variant": f"pair {a + 1}-{b + 1} " + ("ba" if swap else "ab")},
                        shown,
                        pair,
                        swap,
                        scores=full.pair_scores(prompts, user, pair),
                    )
                )
        for copy in range(prompts.listwise_copies):
            order = permutation(len(listed), rng, copy > 0)  # copy 0 in base order: the paper's test prompt
            out.append(
                builder.listwise(
                    head | {"variant": f"copy {copy}"},
                    shown,
                    listed,
                    order,
                    scores=full.list_scores(prompts, user, listed),
                )
            )
    return out


def _clip(rating: float, scale: tuple[int, int]) -> int:
    return int(min(max(round(float(rating)), scale[0]), scale[1]))


def _count(examples: list[dict]) -> dict[str, int]:
    return dict(Counter(example["meta"]["task"] for example in examples))
