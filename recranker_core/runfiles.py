"""A run's files read back as the pipeline's values: the split, the evaluated truth, the prompts, the
collaborative vectors and the tuned model (as the stages load it, and as the dashboard does on the CPU).

Stages, analysis, the dashboard and the benchmarks all read a run through here; file names and the
checks on each file are rundir.py's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from recranker_core import rundir
from recranker_core.data.split import Split
from recranker_core.errors import InputError
from recranker_core.fusion import VALIDATION_NDCG
from recranker_core.manifest import Manifest


def load_split(run: Path, manifest: Manifest) -> Split:
    """The run's leave-one-out split, with the figures the data stage recorded beside it."""
    table, summary = rundir.read_table(run / rundir.SPLIT), manifest.dataset.get("split", {})
    return Split(
        table=table,
        users_too_few_likes=summary.get("users_too_few_likes", 0),
        thresholds=(summary.get("like_threshold", 4.0), summary.get("dislike_threshold", 3.0)),
        k_core_dropped=summary.get("k_core_dropped", 0),
    )


def evaluation_truth(run: Path) -> pd.DataFrame:
    """user_id, item_id of the test items every method is evaluated on (the seeded subset, if any)."""
    split = rundir.read_table(run / rundir.SPLIT, columns=["user_id", "item_id", "role"])
    truth = split.loc[split["role"] == "test", ["user_id", "item_id"]]
    subset = run / rundir.EVALUATION_USERS
    if subset.is_file():
        truth = truth[truth["user_id"].isin(rundir.read_table(subset)["user_id"])]
    return truth.reset_index(drop=True)


RESULTS_BEFORE = ("validation_users", "validation_pairwise_accuracy", VALIDATION_NDCG, "selected")
"""What runs made before hybrid.json held every rerank result kept in the manifest's rerank summary."""


def rerank_results(run: Path, manifest: Manifest) -> dict[str, Any]:
    """What the rerank stage chose on validation users (hybrid.json; {} before that stage has run), in
    today's shape for runs made before (see :data:`RESULTS_BEFORE`)."""
    if not (run / rundir.HYBRID).is_file():
        return {}
    results = rundir.read_json(run / rundir.HYBRID)
    summary = manifest.summary("rerank")
    return results | {k: summary[k] for k in RESULTS_BEFORE if k not in results and k in summary}


def collab_vectors(run: Path):
    """The vectors the run's collaborative tokens carry (``llm.collab.Vectors``), or None without them."""
    path = run / rundir.COLLAB_VECTORS
    if not path.is_file():
        return None
    from recranker_core.llm.collab import Vectors

    return Vectors.from_table(rundir.read_table(path))


def trained_model(run: Path, manifest: Manifest) -> Path:
    """The model folder the run's train stage tuned (its adapter applies to that model alone)."""
    model = manifest.stage("train").get("model")
    if not isinstance(model, str):
        raise InputError(
            f"{run / rundir.MANIFEST}: stages.train has no 'model'; --force train to train again"
        )
    return Path(model)


def load_tuned(run: Path, manifest: Manifest, dtype=None):
    """(model, tokenizer) of a trained run: the base model with the run's adapter (and its collaborative
    tokens' projector, when it has one), or its full fine-tune; weights in ``dtype`` (default float32)."""
    from recranker_core.llm import collab
    from recranker_core.llm.models import load

    if manifest.config.llm.full_finetune:
        return load(run / rundir.ADAPTER, dtype=dtype)
    model, tokenizer = load(trained_model(run, manifest), run / rundir.ADAPTER, dtype=dtype)
    projector = run / rundir.ADAPTER / collab.FILE
    if projector.is_file():
        vectors = collab_vectors(run)
        if vectors is None:
            raise InputError(f"{run / rundir.COLLAB_VECTORS}: missing (run the 'instructions' stage)")
        collab.attach(model, vectors, tokenizer, projector)
    return model, tokenizer


def load_tuned_on_cpu(run: Path, manifest: Manifest):
    """(model, tokenizer) of a trained run as the dashboard reads it: torch's threads set as the run's
    rerank stage sets them and the weights in ``llm.dtype`` as it resolves on the CPU."""
    from recranker_core.launch import set_threads
    from recranker_core.llm.device import resolve_dtype

    set_threads(manifest.config.rerank.threads)
    return load_tuned(run, manifest, resolve_dtype(manifest.config.llm.dtype, "cpu"))
