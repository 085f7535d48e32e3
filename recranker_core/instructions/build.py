"""Every example and prompt of a run put together (``build_instructions``), its result
(``InstructionSet``) and the summary the manifest records."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recranker_core.config import RunConfig
from recranker_core.data.split import Split
from recranker_core.instructions.examples import plan_examples
from recranker_core.instructions.holdout import Held, eligible_users, held_out, moment_rows
from recranker_core.instructions.lists import list_shape, natural_positions
from recranker_core.instructions.phase import Context, Phase, labels
from recranker_core.instructions.plans import train_plan, valid_plans
from recranker_core.instructions.rerank import rerank_prompts, rerank_users
from recranker_core.prompt_record import Prompt
from recranker_core.prompts import markers
from recranker_core.prompts.builder import PromptBuilder

log = logging.getLogger("recranker")


@dataclass(frozen=True)
class InstructionSet:
    """What ``build_instructions`` returns: the rows of the four instruction files, the evaluation users,
    the summary the manifest records and the collaborative vectors."""

    train: list[Prompt]
    valid: list[Prompt]
    test: list[Prompt]
    """Test prompts, without answers."""
    valid_rerank: list[Prompt]
    """Test-style prompts for validation users (for tuning hybrid weights), without answers."""
    evaluation_users: list | None
    """The test users every method is evaluated on, when a subset is configured (else None: all)."""
    summary: dict[str, Any]
    vectors: pd.DataFrame | None = None
    """Both phases' user and item vectors that collaborative tokens carry (``Phase.vectors``); None
    without them."""


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
    plans = valid_plans(context, full, sampled)
    evaluation_users, test_users, valid_rerank_users = rerank_users(context, lists_by)
    wanted: dict = {}
    for plan in plans:
        wanted.setdefault(plan.user, set()).update([*plan.opponents, *plan.negatives])
    for role, users in (("test", test_users), ("valid", valid_rerank_users)):
        for user in users:
            wanted.setdefault(user, set()).update(lists_by[(role, user)])
    full.score_all(wanted)
    builder = PromptBuilder(config.prompts, full.catalogue, split.rating_scale(), labels())
    valid = [e for plan in plans for e in plan_examples(context, full, builder, plan, "valid")]
    valid_rows = split.table[split.table["role"] == "valid"]
    test = rerank_prompts(
        context, full, builder, "test", [(u, lists_by[("test", u)]) for u in test_users], valid_rows
    )
    valid_rerank = rerank_prompts(
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
        train_plan(context, int(draw), user, by_user[user], ranked, positions)
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
        for e in plan_examples(context, moment, builder, plan, "train")
    ]
    summary = {"draws_without_listwise": sum(not plan.positives for plan in plans)}
    return examples, summary, moment.vectors(markers.TRAIN)


def _count(examples: list[dict]) -> dict[str, int]:
    return dict(Counter(example["meta"]["task"] for example in examples))
