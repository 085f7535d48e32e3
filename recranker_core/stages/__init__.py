"""Every stage of a run, in order, each one function with what it reads, writes and depends on.

The CLI's commands and their `--until`/`--force` choices, the runner's order, the fingerprints that
decide what `run` redoes, and the dashboard's progress all come from ``REGISTRY``.
"""

from __future__ import annotations

import re
from pathlib import Path

from recranker_core import rundir
from recranker_core.stages import create, prepare, rerank, train
from recranker_core.stages.base import Stage, StageRun

REGISTRY: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            "data",
            "load, validate and split the data",
            create.data,
            reads=(),
            settings=("data",),
            writes=(rundir.SPLIT, rundir.ITEMS),
        ),
        Stage(
            "baselines",
            "fit the conventional recommenders and list their candidates",
            create.baselines,
            reads=(rundir.SPLIT,),
            settings=("seed", "baselines"),
            writes=(rundir.CANDIDATES, rundir.USER_EMBEDDINGS, rundir.RANKINGS),
            after="data",
        ),
        Stage(
            "sample",
            "draw the users that instruction data is built from (adaptive sampling)",
            prepare.sample,
            reads=(rundir.SPLIT, rundir.USER_EMBEDDINGS),
            settings=("seed", "sampling"),
            writes=(rundir.SAMPLED_USERS, rundir.USER_SAMPLING),
            after="baselines",
            version=2,
        ),
        Stage(
            "instructions",
            "build the training/validation instructions and the test prompts",
            prepare.instructions,
            reads=(rundir.SPLIT, rundir.ITEMS, rundir.CANDIDATES, rundir.SAMPLED_USERS),
            settings=("seed", "baselines", "prompts"),
            writes=(rundir.INSTRUCTIONS, rundir.EVALUATION_USERS),
            after="sample",
            version=2,
            requires=prepare.instructions_fit,
        ),
        Stage(
            "train",
            "instruction-tune the LLM (LoRA) on the run's instructions",
            train.train,
            reads=(rundir.TRAIN_EXAMPLES, rundir.VALID_EXAMPLES, rundir.COLLAB_VECTORS),
            settings=("seed", "llm"),
            writes=(rundir.ADAPTER, rundir.TRAIN_LOG),
            after="instructions",
            version=2,
            launchable=True,
            requires=train.model_fits,
        ),
        Stage(
            "rerank",
            "score and rerank the candidates with the tuned and untuned LLM, tune the hybrid and fusions",
            rerank.rerank,
            reads=(
                rundir.TEST_PROMPTS,
                rundir.VALID_RERANK_PROMPTS,
                rundir.COLLAB_VECTORS,
                rundir.ADAPTER,
                rundir.CANDIDATES,
                rundir.SPLIT,
            ),
            settings=("baselines", "llm", "rerank"),
            writes=(rundir.LLM_OUTPUTS, rundir.TASK_SCORES, rundir.HYBRID, rundir.RANKINGS),
            after="train",
            version=4,
            launchable=True,
            requires=rerank.scoring_fits,
        ),
        Stage(
            "evaluate",
            "recompute metrics.json of a run",
            create.evaluate,
            reads=(rundir.RANKINGS, rundir.SPLIT, rundir.ITEMS, rundir.EVALUATION_USERS, rundir.HYBRID),
            settings=("seed", "seeds", "evaluation"),
            writes=(rundir.METRICS,),
            after="baselines",
            version=3,
        ),
    )
}
CREATION = ("data", "baselines", "evaluate")
"""The stages a run is made with, in a hidden folder moved into place once they are done."""
LATER = ("sample", "instructions", "train", "rerank")
"""The stages that add the LLM to a run; `run` does each that is not done or whose inputs changed, then
evaluate."""
LAUNCHABLE = tuple(name for name, stage in REGISTRY.items() if stage.launchable)


RUN_FILES = frozenset(
    {rundir.MANIFEST, rundir.TRAIN_PARTIAL, rundir.RERANK_PARTIAL, rundir.REPLICATES}
    | {Path(written).parts[0] for stage in REGISTRY.values() for written in stage.writes}
)
"""The names a run folder's own files and folders have: the manifest, what each stage declares it writes,
the partial work that lets a stage resume, and the replicate seeds; a new stage's files count by
declaring them."""
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(partial|partial-\d+|old-\d+)")
"""A file or folder being written or replaced (rundir.write_text, rundir.staged_folder)."""


def foreign_entries(run: Path) -> list[Path]:
    """What the folder ``run`` holds besides a run's own files (:data:`RUN_FILES` and their temporaries)."""
    return sorted(
        entry
        for entry in run.iterdir()
        if entry.name not in RUN_FILES
        and not ((temporary := _TEMPORARY.fullmatch(entry.name)) and temporary["name"] in RUN_FILES)
    )


def written_by(name: str) -> str:
    """The first stage that writes run file or folder ``name``."""
    return next(stage.name for stage in REGISTRY.values() if name in stage.writes)


__all__ = [
    "CREATION",
    "LATER",
    "LAUNCHABLE",
    "REGISTRY",
    "RUN_FILES",
    "Stage",
    "StageRun",
    "foreign_entries",
    "written_by",
]
