"""Instruction data for the three tasks, and the test-time prompts.

Three phases, each with hint models fitted only on what that phase may know:

* train (one set of examples per sampled draw): every eligible user's last
  training like ``h`` (and last training dislike ``d``, if any) is held out;
  the "moment" models are fitted on the training rows without them, and
  prompts show only training rows before the target, never ``h`` or ``d``.
  Pointwise asks for the rating of ``h`` and of ``d``; pairwise sets ``h``
  against ``d`` first and then against negatives; listwise shows ten items
  containing ``h``. Negatives are the primary model's top-10 at that moment
  (``candidates``, hard negatives, like test time) or random unseen items
  (``random``, the paper's).
* valid (one set per sampled user): the same with the validation like as
  target, all training rows as history, models fitted on all training rows,
  and the primary model's validation candidates.
* test: for each user whose test item is among the primary model's ten
  candidates: pointwise for each candidate, pairwise for random candidate pairs in both orders,
  listwise for the candidate list in K orders. History = all training rows plus
  the validation like, in its natural order in every prompt, so that all of a
  user's test prompts share one prefix.
* valid-rerank: the same test-style prompts for (up to ``rerank_valid_users``)
  users whose validation item is among the primary model's validation
  candidates, with the training rows as history; their scores tune the hybrid. Nothing in these prompts depends on
  which candidate is the test item.

"Unseen" always means: never rated by the user, in any role, so a user's
validation and test items never appear as negatives.
"""

from __future__ import annotations

import itertools
import logging
import zlib
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

log = logging.getLogger("recranker")
LIST_SIZE = 10


def rng_for(seed: int, purpose: str, *index: int) -> np.random.Generator:
    """An independent, reproducible random stream per purpose (and per draw or user)."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode()), *index])


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


def held_out(split: Split, users) -> pd.DataFrame:
    """Per user: the last training like (kind 'like') and last training dislike (kind 'dislike'), if any."""
    train = split.table[(split.table["role"] == "train") & split.table["user_id"].isin(users)]
    last = train.sort_values("seq").groupby(["user_id", "feedback"]).tail(1)
    return last.rename(columns={"feedback": "kind"})[["user_id", "item_id", "rating", "seq", "kind"]]


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


def build_instructions(
    split: Split, items: pd.DataFrame, candidates: pd.DataFrame, draws: pd.DataFrame, config: RunConfig
) -> InstructionSet:
    prompts, seed = config.prompts, config.seed
    scale = split.rating_scale()
    labels = {name: MODELS[name].label for name in MODELS}
    rows_by_user = {u: g for u, g in split.table.groupby("user_id")}
    catalogue_items = np.sort(split.table["item_id"].unique())
    rated = {u: set(g["item_id"]) for u, g in rows_by_user.items()}
    sampled = draws["user_id"].drop_duplicates().tolist()

    held = held_out(split, eligible_users(split)["user_id"])
    held_by_user = {u: dict(zip(g["kind"], zip(g["item_id"], g["rating"], g["seq"]))) for u, g in held.groupby("user_id")}

    def unseen(user, rng, k) -> list:
        pool = np.setdiff1d(catalogue_items, np.fromiter(rated[user], dtype=catalogue_items.dtype))
        return list(rng.choice(pool, size=min(k, len(pool)), replace=False))

    def history(user, before_seq: float, hide=(), also=None) -> History:
        rows = rows_by_user[user]
        rows = rows[(rows["role"] == "train") & (rows["seq"] < before_seq) & ~rows["item_id"].isin(list(hide))]
        if also is not None:
            rows = pd.concat([rows, also])
        return History.from_rows(rows, prompts)

    def ten_with(target, ranked: list) -> list:
        """The first ten of a ranked list, with the target in it (replacing the tenth if needed)."""
        top = [i for i in ranked if i != target][: LIST_SIZE - 1]
        return top + [target] if target not in ranked[:LIST_SIZE] else ranked[:LIST_SIZE]

    # -- train phase: one plan per draw, then scores, then prompts -------------------------------
    log.info("fitting hint models without each user's held-out items ...")
    moment = _Phase(moment_rows(split, held), items, config, seed)
    moment_lists: dict = {}
    if prompts.negatives == "candidates":
        pools = unseen_pools(split, sampled, extra=[[held_by_user[u]["like"][0]] for u in sampled])
        lists = top_n(moment.models[moment.primary], pools, LIST_SIZE)
        moment_lists = {u: g.sort_values("rank")["item_id"].tolist() for u, g in lists.groupby("user_id")}

    plans = []
    for draw, user in zip(draws["draw"], draws["user_id"]):
        rng = rng_for(seed, "train-plan", int(draw))
        like = held_by_user[user]["like"]
        dislike = held_by_user[user].get("dislike")
        target = like[0]
        if prompts.negatives == "candidates":
            listed = ten_with(target, moment_lists.get(user, []))
        else:
            listed = [target, *unseen(user, rng, LIST_SIZE - 1)]
        others = [i for i in listed if i != target]
        count = prompts.pairwise_per_user - (dislike is not None)
        negatives = ([dislike[0]] if dislike is not None else []) + list(rng.choice(others, size=min(count, len(others)), replace=False))
        plans.append((draw, user, like, dislike, listed, negatives))
    wanted: dict = {}
    for _, user, like, dislike, listed, negatives in plans:
        wanted.setdefault(user, set()).update([like[0], *listed, *negatives] + ([dislike[0]] if dislike else []))
    moment.score_all(wanted)
    builder = PromptBuilder(prompts, moment.catalogue, scale, labels)

    train = []
    for draw, user, like, dislike, listed, negatives in tqdm(plans, desc="train prompts", unit="draw", leave=False):
        rng = rng_for(seed, "train-shift", int(draw))
        base = {"split": "train", "user_id": plain(user), "draw": int(draw), "negatives": prompts.negatives}
        held_items = [like[0]] + ([dislike[0]] if dislike else [])
        for target in [like] + ([dislike] if dislike else []):
            train.append(
                builder.pointwise(
                    {**base, "variant": "held-out " + ("like" if target is like else "dislike")},
                    history(user, target[2], hide=held_items),
                    target[0],
                    rng,
                    rating_hint=_rating_hint(moment, prompts, user, target[0]),
                    answer=_clip(target[1], scale),
                )
            )
        at_like = history(user, like[2], hide=held_items)
        for negative in negatives:
            pair = (like[0], negative)
            train.append(
                builder.pairwise(
                    {**base, "variant": "vs dislike" if dislike and negative == dislike[0] else "vs negative"},
                    at_like,
                    pair,
                    swapped(rng, prompts.swap_probability, prompts.shift),
                    scores=_pair_scores(moment, prompts, user, pair),
                    positive=like[0],
                )
            )
        ordered = moment.base_order(user, listed)
        train.append(_listwise(builder, moment, prompts, base | {"variant": "held-out like"}, at_like, user, ordered, rng, like[0]))

    # -- valid phase: one set per sampled user, models fitted on all training rows ----------------
    log.info("fitting hint models on all training rows ...")
    full = _Phase(split.train_rated, items, config, seed)
    primary = candidates[candidates["model"] == config.baselines.primary]
    lists_by = {
        key: g.sort_values("rank")["item_id"].tolist() for key, g in primary.groupby(["target", "user_id"])
    }
    valid_target = split.targets("valid").set_index("user_id")["item_id"]
    test_target = split.targets("test").set_index("user_id")["item_id"]
    valid_plans = []
    for index, user in enumerate(sampled):
        rng = rng_for(seed, "valid-plan", index)
        target = valid_target[user]
        if prompts.negatives == "candidates":
            listed = ten_with(target, lists_by.get(("valid", user), []))
        else:
            listed = [target, *unseen(user, rng, LIST_SIZE - 1)]
        others = [i for i in listed if i != target]
        negatives = list(rng.choice(others, size=min(prompts.pairwise_per_user, len(others)), replace=False))
        valid_plans.append((index, user, target, listed, negatives))
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
    valid_rerank_users = [u for u in valid_target.index if valid_target[u] in lists_by.get(("valid", u), [])]
    if 0 < prompts.rerank_valid_users < len(valid_rerank_users):
        chosen = rng_for(seed, "valid-rerank-users").choice(len(valid_rerank_users), prompts.rerank_valid_users, replace=False)
        valid_rerank_users = [valid_rerank_users[i] for i in sorted(chosen)]
    wanted = {}
    for _, user, target, listed, negatives in valid_plans:
        wanted.setdefault(user, set()).update([target, *listed, *negatives])
    for target, users in (("test", test_users), ("valid", valid_rerank_users)):
        for user in users:
            wanted.setdefault(user, set()).update(lists_by[(target, user)])
    full.score_all(wanted)
    builder = PromptBuilder(prompts, full.catalogue, scale, labels)
    valid_rating = split.table[split.table["role"] == "valid"].set_index("user_id")["rating"]

    valid = []
    for index, user, target, listed, negatives in valid_plans:
        rng = rng_for(seed, "valid-shift", index)
        base = {"split": "valid", "user_id": plain(user), "draw": None, "negatives": prompts.negatives}
        seen_history = history(user, np.inf)
        valid.append(
            builder.pointwise(
                base | {"variant": "validation like"}, seen_history, target, rng,
                rating_hint=_rating_hint(full, prompts, user, target), answer=_clip(valid_rating[user], scale),
            )
        )  # fmt: skip
        for negative in negatives:
            pair = (target, negative)
            valid.append(
                builder.pairwise(
                    base | {"variant": "vs negative"}, seen_history, pair,
                    swapped(rng, prompts.swap_probability, prompts.shift),
                    scores=_pair_scores(full, prompts, user, pair), positive=target,
                )
            )  # fmt: skip
        ordered = full.base_order(user, listed)
        valid.append(_listwise(builder, full, prompts, base | {"variant": "validation like"}, seen_history, user, ordered, rng, target))

    # -- rerank prompts (test, and validation for tuning): nothing depends on which candidate is the target
    def rerank_prompts(target: str, users: list, with_valid_like: bool) -> list[dict]:
        out = []
        for index, user in enumerate(tqdm(users, desc=f"{target} rerank prompts", unit="user", leave=False)):
            rng = rng_for(seed, f"rerank-{target}", index)
            base = {"split": "test" if target == "test" else "valid-rerank", "user_id": plain(user), "draw": None}
            also = valid_rows[valid_rows["user_id"] == user] if with_valid_like else None
            shown = history(user, np.inf, also=also)
            listed = lists_by[(target, user)]  # base rank order
            # One history, in its natural order, for every prompt of a user: they all share a prompt
            # prefix that the scorer encodes once. (Shifting the history is a training augmentation.)
            natural = list(range(len(shown.liked)))
            for rank, item in enumerate(listed, start=1):
                out.append(
                    builder.pointwise(
                        base | {"variant": f"candidate {rank}"}, shown, item, rng,
                        rating_hint=_rating_hint(full, prompts, user, item), answer=None, perm=natural,
                    )
                )  # fmt: skip
            pairs = list(itertools.combinations(range(len(listed)), 2))
            if not prompts.test_all_pairs:
                chosen = rng.choice(len(pairs), size=min(prompts.test_pairs, len(pairs)), replace=False)
                pairs = [pairs[i] for i in sorted(chosen)]
            for a, b in pairs:
                pair = (listed[a], listed[b])
                for swap in (False, True):
                    out.append(
                        builder.pairwise(
                            base | {"variant": f"pair {a + 1}-{b + 1} " + ("ba" if swap else "ab")}, shown, pair,
                            swap, scores=_pair_scores(full, prompts, user, pair),
                        )
                    )  # fmt: skip
            for copy in range(prompts.listwise_copies):
                perm = permutation(len(listed), rng, prompts.shift or copy > 0)
                out.append(
                    builder.listwise(
                        base | {"variant": f"copy {copy}"}, shown, listed, perm,
                        scores=_list_scores(full, prompts, user, listed),
                    )
                )  # fmt: skip
        return out

    valid_rows = split.table[split.table["role"] == "valid"]
    test = rerank_prompts("test", test_users, with_valid_like=True)
    valid_rerank = rerank_prompts("valid", valid_rerank_users, with_valid_like=False)

    summary = {
        "negatives": prompts.negatives,
        "shift": prompts.shift,
        "train_examples": _count(train),
        "valid_examples": _count(valid),
        "test_prompts": _count(test),
        "valid_rerank_prompts": _count(valid_rerank),
        "valid_rerank_users": len(valid_rerank_users),
        "sampled_users": len(sampled),
        "test_users_prompted": len(test_users),
        "test_users": int(len(test_target)),
        "evaluation_users": len(evaluation_users) if evaluation_users is not None else "all",
    }
    return InstructionSet(
        train=train, valid=valid, test=test, valid_rerank=valid_rerank, evaluation_users=evaluation_users, summary=summary
    )


def _listwise(builder, phase, prompts, base, history, user, ordered, rng, target):
    perm = permutation(len(ordered), rng, prompts.shift)
    list_scores = _list_scores(phase, prompts, user, ordered)
    # Answer: the liked target first, then the rest in the primary model's order.
    ranking = [target] + [i for i in ordered if i != target]
    return builder.listwise(base, history, ordered, perm, scores=list_scores, ranking=ranking)


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
