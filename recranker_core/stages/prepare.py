"""The stages that prepare the LLM's data: which users it learns from, and every prompt."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from recranker_core import memory, rundir
from recranker_core.config import RunConfig
from recranker_core.errors import InputError
from recranker_core.runfiles import load_split
from recranker_core.stages.base import StageRun

log = logging.getLogger("recranker")


def sample(stage: StageRun) -> dict:
    """Cluster the eligible users and draw the users that instruction data is built from."""
    from recranker_core.instructions.holdout import eligible_users
    from recranker_core.sampling import cluster_users, sample_users
    from recranker_core.seeds import rng_for

    run, config, seed = stage.run, stage.config, stage.manifest.stream_seed
    split = load_split(run, stage.manifest)
    eligible = eligible_users(split)
    embeddings = rundir.read_table(run / rundir.USER_EMBEDDINGS).set_index("user_id")["embedding"]
    eligible = eligible[eligible["user_id"].isin(embeddings.index)].reset_index(drop=True)
    if eligible.empty:
        raise InputError(f"{run}: no user has two training likes; nothing to sample from")
    vectors = np.stack(embeddings.loc[eligible["user_id"]].to_numpy())
    eligible["cluster"] = cluster_users(vectors, config.sampling.clusters, seed)
    kept = int(split.table.loc[split.table["role"] == "test", "user_id"].nunique())
    drawn = sample_users(
        eligible, config.sampling, rng_for(seed, "sampling"), ineligible=kept - len(eligible)
    )
    rundir.write_table(run / rundir.SAMPLED_USERS, drawn.draws)
    rundir.write_table(run / rundir.USER_SAMPLING, drawn.population)
    stage.record["summary"] = drawn.summary
    log.info("sample: %s", drawn.summary)
    return drawn.summary


EXAMPLE_BYTES = 2048
"""Memory an instruction example holds besides its items: the template's text, the chat messages, meta."""
ITEM_BYTES = 120
"""Memory per item an example shows: a title with its label and id, in the prompt and in meta."""


def instructions_fit(config: RunConfig) -> None:
    """The examples of every sampled draw (up to two pointwise, the pairwise ones and a listwise one, each
    showing at most the history and the candidates) fit in memory: checked before any stage runs."""
    prompts = config.prompts
    examples = config.sampling.n_users * (3 + prompts.pairwise_per_user)
    shown = prompts.max_liked + prompts.max_disliked + config.baselines.n_candidates
    memory.require(
        examples * (EXAMPLE_BYTES + shown * ITEM_BYTES),
        f"sampling.n_users = {config.sampling.n_users:,} ({examples:,} instruction examples)",
        "sample fewer users, or show less history (prompts.max_liked, max_disliked)",
    )


def instructions(stage: StageRun) -> dict:
    """instructions/train.jsonl, valid.jsonl, test.jsonl and valid-rerank.jsonl from the sampled users."""
    from recranker_core.instructions import build_instructions

    run = stage.run
    result = build_instructions(
        load_split(run, stage.manifest),
        rundir.read_table(run / rundir.ITEMS),
        rundir.read_table(run / rundir.CANDIDATES),
        rundir.read_table(run / rundir.SAMPLED_USERS),
        stage.config,
        stage.manifest.stream_seed,
    )
    files = (result.train, result.valid, result.test, result.valid_rerank)
    vectors = {} if result.vectors is None else {Path(rundir.COLLAB_VECTORS).name: result.vectors}
    rundir.write_jsonl_folder(run / rundir.INSTRUCTIONS, dict(zip(rundir.INSTRUCTION_FILES, files)), vectors)
    subset = run / rundir.EVALUATION_USERS
    if result.evaluation_users is None:
        subset.unlink(missing_ok=True)
    else:
        rundir.write_table(subset, pd.DataFrame({"user_id": result.evaluation_users}))
    stage.record["summary"] = result.summary
    log.info("instructions: %s", result.summary)
    return result.summary
