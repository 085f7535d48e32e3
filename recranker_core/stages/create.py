"""The stages that create a run: the split, the conventional recommenders, the evaluation."""

from __future__ import annotations

import logging

import numpy as np

from recranker_core import rundir
from recranker_core.beyond import Catalogue, beyond_document
from recranker_core.data.split import Split, check_enough_data, split_likes
from recranker_core.evaluation import across_seeds, metrics_document
from recranker_core.fusion import CONTROL, TUNE_K
from recranker_core.ranking import base_rankings
from recranker_core.runfiles import evaluation_truth, load_split, rerank_results
from recranker_core.stages.base import StageRun

log = logging.getLogger("recranker")


def data(stage: StageRun) -> None:
    """Split the loaded ratings (``extras["data"]``) into likes, dislikes and the leave-one-out roles; refuse
    data too small for a run, or rated on a scale the model cannot score, before anything is fitted."""
    loaded, config = stage.extras["data"], stage.config
    split = split_likes(loaded.ratings, config.data, name=loaded.name)
    check_usable(split, loaded, config)
    rundir.write_table(stage.run / rundir.SPLIT, split.table)
    rundir.write_table(stage.run / rundir.ITEMS, loaded.items)
    stage.manifest.dataset["split"] = split.summary()
    log.info("split: %s", split.summary())


def check_usable(split: Split, loaded, config) -> None:
    """Enough data for a run (``data.split.check_enough_data``) on a scale the model can score."""
    from recranker_core.llm.checks import check_scale

    baselines = config.baselines
    check_enough_data(
        split, config.data, n_candidates=baselines.n_candidates, exclude=baselines.exclude, name=loaded.source
    )
    check_scale(config.llm.model, loaded.scale(), loaded.source)


def baselines(stage: StageRun) -> None:
    """Fit every conventional recommender; write each one's candidates and its test lists as rankings."""
    from recranker_core.baselines.candidates import run_baselines

    result = run_baselines(load_split(stage.run, stage.manifest), stage.config.baselines, stage.config.seed)
    stage.record["models"] = result.timings
    rundir.write_table(stage.run / rundir.CANDIDATES, result.candidates)
    rundir.write_table(stage.run / rundir.USER_EMBEDDINGS, result.user_embeddings)
    rundir.write_table(stage.run / rundir.RANKINGS, base_rankings(result.candidates))


def evaluate(stage: StageRun) -> dict:
    """metrics.json from the rankings: every method on the evaluated test users, paired against the base
    model; with several seeds, each method's spread across the replicate runs."""
    run, config, manifest = stage.run, stage.config, stage.manifest
    truth = evaluation_truth(run)
    rankings = rundir.read_table(run / rundir.RANKINGS)
    rankings = rankings[rankings["user_id"].isin(truth["user_id"])]
    rerank = rerank_results(run, manifest)
    base = manifest.primary_method
    metrics = metrics_document(
        rankings, truth, config.evaluation, config.seed, base, rerank.get("selected"), (base, CONTROL)
    )
    metrics["evaluation_users"] = "random subset" if (run / rundir.EVALUATION_USERS).is_file() else "all"
    catalogue = Catalogue.build(rundir.read_table(run / rundir.SPLIT), rundir.read_table(run / rundir.ITEMS))
    users = np.sort(truth["user_id"].unique())
    metrics["beyond"] = beyond_document(rankings, catalogue, users, config.evaluation, config.seed, base)
    if "selected" in metrics:
        metrics["selected"]["chosen_by"] = f"validation NDCG@{TUNE_K}"
    if config.seeds > 1 and not manifest.replicate:
        replicas = [run / rundir.REPLICATES / str(k) / rundir.METRICS for k in range(1, config.seeds)]
        documents = [metrics] + [rundir.read_json(path) for path in replicas if path.is_file()]
        metrics["seeds"] = across_seeds(documents, [config.seed + k for k in range(len(documents))])
    rundir.write_json(run / rundir.METRICS, metrics)
    return metrics
