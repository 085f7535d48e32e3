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

from recranker_core.baselines.candidates import unseen_pools
from recranker_core.baselines.fitting import fit, score, top_n
from recranker_core.baselines.models import MODELS
from recranker_core.config import RunConfig
from recranker_core.data.split import Split
from recranker_core.prompts.builder import Catalogue, History, PromptBuilder, plain
from recranker_core.prompts.shift import permutation, swapped
from recranker_core.seeds import rng_for

log = logging.getLogger("recranker")
LIST_SIZE = 10


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


@dataclass(frozen=True)
class Held:
    """A rated item a phase asks about: the held-out like or dislike, or the validation like."""

    item: Any
    rating: float
    seq: int


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
    for index, (user, rows) in enumerate(others.groupby("user_id", sort=True)):
        best, next_best = rows[rows["rating"] >= top], rows[rows["rating"] < top]
        if len(best) >= 3 and len(next_best) >= 2 and len(rows) > 5:  # one like stays for the history
            rng = rng_for(config.seed, "listwise-positives", index)
            picked += [best.iloc[rng.choice(len(best), 3, replace=False)], next_best.iloc[rng.choice(len(next_best), 2, replace=False)]]
    positives = pd.concat(picked) if picked else others.iloc[:0]
    positives = positives.rename(columns={"feedback": "kind"}).assign(kind="positive")
    return pd.concat([held, positives[held.columns]], ignore_index=True)


def moment_rows(split: Split, held: pd.DataFrame) -> pd.DataFrame:
    """Training rows the train-phase models may learn from: all but the held-out items."""
    train = split.table[split.table["role"] == "train"]
    marked = train.merge(held[["user_id", "item_id"]].assign(_held=True), on=["user_id", "item_id"], how="left")
    return marked[marked["_held"].isna()].drop(columns="_held")


def eligible_users(split: Split) -> pd.DataFrame:
    """user_id, train_likes for users with at least two training likes (see sampling)."""
    train = split.table[(split.table["role"] == "train") & (split.table["feedback"] == "like")]
    counts = train.groupby("user_id").size().rename("train_likes").reset_index()
    return counts[counts["train_likes"] >= 2].reset_index(drop=True)


class _Phase:
    """Fitted hint models and item text for one phase, plus batched score lookups."""

    def __init__(self, rows: pd.DataFrame, items: pd.DataFrame, config: RunConfig, seed: int):
        prompts = config.prompts
        self.primary = config.baselines.primary
        names = dict.fromkeys([self.primary, *prompts.hint_models, *filter(None, [prompts.rating_hint_model])])
        self.models = {name: fit(name, rows, config.baselines, seed) for name in names}
        likes = rows.loc[rows["feedback"] == "like"].groupby("item_id").size()
        self.catalogue = Catalogue.build(items, likes, prompts)
        self.scores: dict[str, dict] = {}

    def score_all(self, wanted: dict[Any, set]) -> None:
        requests = [(user, np.array(sorted(items))) for user, items in wanted.items()]
        for name, pipeline in self.models.items():
            table = score(pipeline, requests)
            self.scores[name] = dict(zip(zip(table["user_id"], table["item_id"]), table["score"]))

    def get(self, model: str, user, items) -> np.ndarray:
        return np.array([self.scores[model].get((user, i), np.nan) for i in items], dtype=float)

    def base_order(self, user, items) -> list:
        """Items by the primary model's score, best first (unscorable last, then by id)."""
        scores = np.nan_to_num(self.get(self.primary, user, items), nan=-np.inf)
        return [items[i] for i in sorted(range(len(items)), key=lambda i: (-scores[i], str(items[i])))]

    def rankings(self, split: Split, keep: dict[Any, list]) -> dict[Any, np.ndarray]:
        """Per user: its unseen items plus ``keep[user]``, ranked by the primary model (unscorable left out)."""
        pools = unseen_pools(split, list(keep), extra=list(keep.values()))
        lists = top_n(self.models[self.primary], pools, -1)
        return {u: g.sort_values("rank")["item_id"].to_numpy() for u, g in lists.groupby("user_id")}


class _Context:
    """What every phase reads of the split: rows per user, what each user rated, the catalogue."""

    def __init__(self, split: Split, config: RunConfig, seed: int):
        self.split, self.config, self.prompts, self.seed = split, config, config.prompts, seed
        self.rows_by_user = {u: g for u, g in split.table.groupby("user_id")}
        self.rated = {u: g["item_id"].to_numpy() for u, g in self.rows_by_user.items()}
        self.catalogue_items = np.sort(split.table["item_id"].unique())

    def unseen(self, user, rng: np.random.Generator, k: int) -> list:
        pool = np.setdiff1d(self.catalogue_items, self.rated[user])
        return list(rng.choice(pool, size=min(k, len(pool)), replace=False))

    def history(self, user, before_seq: float, rng: np.random.Generator, hide=(), also: pd.DataFrame | None = None) -> History:
        rows = self.rows_by_user[user]
        rows = rows[(rows["role"] == "train") & (rows["seq"] < before_seq) & ~rows["item_id"].isin(list(hide))]
        if also is not None:
            rows = pd.concat([rows, also])
        return History.from_rows(rows, self.prompts, rng)

    def opponents(self, user, target, rng: np.random.Generator, ranked: dict, positions: np.ndarray) -> tuple:
        if self.prompts.negatives == "candidates":
            return tuple(around(ranked.get(user, np.array([])), target, rng, positions))
        return (target, *self.unseen(user, rng, LIST_SIZE - 1))

    def negatives(self, like: Held, dislike: Held | None, opponents: tuple, rng: np.random.Generator) -> tuple:
        first = (dislike.item,) if dislike is not None and self.prompts.pairwise_dislike else ()
        others = [i for i in opponents if i != like.item]
        count = min(self.prompts.pairwise_per_user - len(first), len(others))
        return first + tuple(rng.choice(others, size=max(count, 0), replace=False))


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


def build_instructions(
    split: Split, items: pd.DataFrame, candidates: pd.DataFrame, draws: pd.DataFrame, config: RunConfig,
    seed: int | None = None,
) -> InstructionSet:  # fmt: skip
    """Every example and prompt; ``seed`` (default: the run's) drives their random choices, while the users
    evaluated and the validation users prompted always follow the run's seed."""
    context = _Context(split, config, config.seed if seed is None else seed)
    sampled = draws["user_id"].drop_duplicates().tolist()
    train, train_summary = _train_examples(context, items, draws)
    primary = candidates[candidates["model"] == config.baselines.primary]
    lists_by = {key: g.sort_values("rank")["item_id"].tolist() for key, g in primary.groupby(["target", "user_id"])}
    log.info("fitting hint models on all training rows ...")
    full = _Phase(split.train_rated, items, config, config.seed)
    valid_plans = _valid_plans(context, full, sampled)
    evaluation_users, test_users, valid_rerank_users = _rerank_users(context, lists_by)
    wanted: dict = {}
    for plan in valid_plans:
        wanted.setdefault(plan.user, set()).update([*plan.opponents, *plan.negatives])
    for target, users in (("test", test_users), ("valid", valid_rerank_users)):
        for user in users:
            wanted.setdefault(user, set()).update(lists_by[(target, user)])
    full.score_all(wanted)
    builder = PromptBuilder(config.prompts, full.catalogue, split.rating_scale(), _labels())
    valid = [e for plan in valid_plans for e in _plan_examples(context, full, builder, plan, "valid")]
    valid_rows = split.table[split.table["role"] == "valid"]
    test = _rerank_prompts(context, full, builder, "test", [(u, lists_by[("test", u)]) for u in test_users], valid_rows)
    valid_rerank = _rerank_prompts(context, full, builder, "valid", [(u, lists_by[("valid", u)]) for u in valid_rerank_users])
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
    return InstructionSet(train, valid, test, valid_rerank, evaluation_users, summary)


def _train_examples(context: _Context, items: pd.DataFrame, draws: pd.DataFrame) -> tuple[list[dict], dict]:
    """One set of examples per draw, from the moment models (fitted without the held-out items)."""
    config = context.config
    sampled = draws["user_id"].drop_duplicates().tolist()
    held = held_out(context.split, eligible_users(context.split)["user_id"], config)
    by_user: dict = {}
    for row in held.itertuples():
        by_user.setdefault(row.user_id, {}).setdefault(row.kind, []).append(Held(row.item_id, float(row.rating), int(row.seq)))
    log.info("fitting hint models without each user's held-out items ...")
    moment = _Phase(moment_rows(context.split, held), items, config, context.seed)
    ranked, positions = {}, np.array([], dtype=int)
    if config.prompts.negatives == "candidates":
        ranked = moment.rankings(context.split, {u: [by_user[u]["like"][0].item] for u in sampled})
        positions = natural_positions(ranked, {u: by_user[u]["like"][0].item for u in sampled})
    plans = [
        _train_plan(context, int(draw), user, by_user[user], ranked, positions) for draw, user in zip(draws["draw"], draws["user_id"])
    ]
    wanted: dict = {}
    for plan in plans:
        wanted.setdefault(plan.user, set()).update([*plan.opponents, *plan.listed, *plan.negatives, *plan.hidden])
    moment.score_all(wanted)
    builder = PromptBuilder(config.prompts, moment.catalogue, context.split.rating_scale(), _labels())
    examples = [e for plan in tqdm(plans, desc="train prompts", unit="draw", leave=False) for e in _plan_examples(context, moment, builder, plan, "train")]
    return examples, {"draws_without_listwise": sum(not plan.positives for plan in plans)}


def _train_plan(context: _Context, draw: int, user, held: dict, ranked: dict, positions: np.ndarray) -> Plan:
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


def _valid_plans(context: _Context, full: _Phase, sampled: list) -> list[Plan]:
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


def _plan_examples(context: _Context, phase: _Phase, builder: PromptBuilder, plan: Plan, split: str) -> list[dict]:
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
                    head | {"variant": variant}, context.history(plan.user, held.seq, rng, plan.hidden), held.item, rng,
                    rating_hint=_rating_hint(phase, prompts, plan.user, held.item), answer=_clip(held.rating, scale),
                )
            )  # fmt: skip
    at_like = context.history(plan.user, plan.like.seq, rng, plan.hidden)
    for negative in plan.negatives:
        pair = (plan.like.item, negative)
        out.append(
            builder.pairwise(
                head | {"variant": "vs dislike" if plan.dislike and negative == plan.dislike.item else "vs negative"},
                at_like, pair, swapped(rng, prompts.swap_probability, prompts.shift),
                scores=_pair_scores(phase, prompts, plan.user, pair), positive=plan.like.item,
            )
        )  # fmt: skip
    if plan.positives:
        ordered = phase.base_order(plan.user, list(plan.listed))
        best = sorted(plan.positives, key=lambda h: (-h.rating, ordered.index(h.item)))
        ranking = [h.item for h in best] + [i for i in ordered if i not in {h.item for h in best}]
        variant = like_variant if len(best) == 1 else f"{len(best)} held-out likes"
        out.append(
            builder.listwise(
                head | {"variant": variant}, at_like, ordered, permutation(len(ordered), rng, prompts.shift),
                scores=_list_scores(phase, prompts, plan.user, ordered), ranking=ranking,
            )
        )  # fmt: skip
    return out


def _rerank_users(context: _Context, lists_by: dict) -> tuple[list | None, list, list]:
    """(evaluation subset or None, test users to prompt, validation users to prompt)."""
    prompts, seed = context.prompts, context.config.seed
    valid_target = context.split.targets("valid").set_index("user_id")["item_id"]
    test_target = context.split.targets("test").set_index("user_id")["item_id"]
    evaluation_users = None
    if 0 < prompts.test_users < len(test_target):
        # A seeded subset of ALL test users (chosen before looking at candidates), so every
        # method, base models included, is then evaluated on the same users.
        chosen = rng_for(seed, "evaluation-users").choice(len(test_target), prompts.test_users, replace=False)
        evaluation_users = sorted(test_target.index[chosen].tolist())
    test_users = [
        u for u in test_target.index
        if test_target[u] in lists_by.get(("test", u), []) and (evaluation_users is None or u in evaluation_users)
    ]  # fmt: skip
    valid_users = [u for u in valid_target.index if valid_target[u] in lists_by.get(("valid", u), [])]
    if 0 < prompts.rerank_valid_users < len(valid_users):
        chosen = rng_for(seed, "valid-rerank-users").choice(len(valid_users), prompts.rerank_valid_users, replace=False)
        valid_users = [valid_users[i] for i in sorted(chosen)]
    return evaluation_users, test_users, valid_users


def _rerank_prompts(
    context: _Context, full: _Phase, builder: PromptBuilder, target: str, lists: list[tuple[Any, list]],
    valid_rows: pd.DataFrame | None = None,
) -> list[dict]:  # fmt: skip
    """Test-style prompts for each (user, candidates in base order); ``valid_rows`` join the history (test)."""
    prompts = context.prompts
    out = []
    for index, (user, listed) in enumerate(tqdm(lists, desc=f"{target} rerank prompts", unit="user", leave=False)):
        rng = rng_for(context.seed, f"rerank-{target}", index)
        head = {"split": "test" if target == "test" else "valid-rerank", "user_id": plain(user), "draw": None}
        also = valid_rows[valid_rows["user_id"] == user] if valid_rows is not None else None
        shown = context.history(user, np.inf, rng, also=also)
        # One shuffle of the history for all of a user's prompts: they share a prefix the scorer encodes once.
        perm = permutation(len(shown.liked), rng, prompts.shift and not prompts.sequential)
        for rank, item in enumerate(listed, start=1):
            out.append(
                builder.pointwise(
                    head | {"variant": f"candidate {rank}"}, shown, item, rng,
                    rating_hint=_rating_hint(full, prompts, user, item), answer=None, perm=perm,
                )
            )  # fmt: skip
        shown = shown.reordered(perm)
        pairs = list(itertools.combinations(range(len(listed)), 2))
        if not prompts.test_all_pairs:
            pairs = matched_pairs(len(listed), prompts.test_pairs, rng)
        for a, b in pairs:
            pair = (listed[a], listed[b])
            for swap in (False, True):
                out.append(
                    builder.pairwise(
                        head | {"variant": f"pair {a + 1}-{b + 1} " + ("ba" if swap else "ab")}, shown, pair,
                        swap, scores=_pair_scores(full, prompts, user, pair),
                    )
                )  # fmt: skip
        for copy in range(prompts.listwise_copies):
            order = permutation(len(listed), rng, copy > 0)  # the first in base order, the paper's test prompt
            out.append(
                builder.listwise(
                    head | {"variant": f"copy {copy}"}, shown, listed, order, scores=_list_scores(full, prompts, user, listed)
                )
            )
    return out


def list_shape(examples: list[dict], truth: dict | None = None) -> dict[str, Any]:
    """Where the liked item sits in listwise lists (0-based base position) and how often the first
    pairwise hint prefers it over a negative: for training or validation examples (their target), or
    for rerank prompts given ``truth`` (user -> item; the base-order copy and the "ab" asks)."""
    positions, agree = [], []
    for example in examples:
        meta = example["meta"]
        target = meta.get("target") if truth is None else truth.get(meta["user_id"])
        rerank = truth is not None
        if meta["task"] == "listwise" and target in meta["items"] and (not rerank or meta["variant"] == "copy 0"):
            positions.append(meta["permutation"][meta["items"].index(target)])
        elif meta["task"] == "pairwise" and target in meta["items"] and meta["hint"] and meta["variant"] != "vs dislike":
            first, second = next(iter(meta["hint"].values()))
            if (not rerank or meta["variant"].endswith("ab")) and None not in (first, second) and first != second:
                agree.append((first > second) == (meta["items"][0] == target))
    counts = np.bincount(np.array(positions, dtype=int), minlength=LIST_SIZE)
    return {
        "target_positions": counts.tolist(),
        "last_position_share": round(float(counts[-1] / counts.sum()), 4) if counts.sum() else None,
        "hint_agreement": round(float(np.mean(agree)), 4) if agree else None,
    }


def _labels() -> dict[str, str]:
    return {name: MODELS[name].label for name in MODELS}


def _rating_hint(phase: _Phase, prompts, user, item) -> float | None:
    if not (prompts.pointwise_hint and prompts.rating_hint_model):
        return None
    return float(phase.get(prompts.rating_hint_model, user, [item])[0])


def _pair_scores(phase: _Phase, prompts, user, pair) -> dict[str, tuple[float, float]]:
    if not prompts.pairwise_hint:
        return {}
    return {m: tuple(phase.get(m, user, list(pair))) for m in prompts.hint_models}


def _list_scores(phase: _Phase, prompts, user, items) -> dict[str, np.ndarray]:
    if not prompts.listwise_hint:
        return {}
    return {m: phase.get(m, user, list(items)) for m in prompts.hint_models}


def _clip(rating: float, scale: tuple[int, int]) -> int:
    return int(min(max(round(float(rating)), scale[0]), scale[1]))


def _count(examples: list[dict]) -> dict[str, int]:
    return dict(Counter(example["meta"]["task"] for example in examples))
