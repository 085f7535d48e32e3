"""The rerank prompts, without answers: which test and validation users are prompted, and each
one's pointwise, pairwise and listwise prompts over its candidates in base order."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recranker_core.instructions.lists import matched_pairs
from recranker_core.instructions.phase import Context, Phase
from recranker_core.prompts.builder import PromptBuilder, plain
from recranker_core.prompts.shift import permutation
from recranker_core.seeds import rng_for


def rerank_users(context: Context, lists_by: dict) -> tuple[list | None, list, list]:
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


def rerank_prompts(
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
        scores = full.list_scores(prompts, user, listed)
        for copy in range(prompts.listwise_copies):
            order = permutation(len(listed), rng, copy > 0)  # copy 0 in base order: the paper's test prompt
            variant = head | {"variant": f"copy {copy}"}
            out.append(builder.listwise(variant, shown, listed, order, scores=scores))
    return out
