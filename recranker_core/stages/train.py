"""The train stage: instruction-tune the LLM on the run's examples."""

from __future__ import annotations

import logging
import shutil
from contextlib import nullcontext

from recranker_core import rundir
from recranker_core.runfiles import collab_vectors
from recranker_core.stages.base import StageRun

log = logging.getLogger("recranker")


def train(stage: StageRun) -> dict:
    """LoRA-tune (or fully fine-tune) the model on instructions/train.jsonl; save into adapter/.

    Under `accelerate launch` every process trains its share of each batch (the Trainer's data
    parallelism) and the main process alone writes."""
    from recranker_core.llm.models import resolve_model
    from recranker_core.llm.training import train as tune

    run, config, state = stage.run, stage.config, stage.state
    model_dir = resolve_model(config.llm.model)
    examples = (
        rundir.read_prompts(run / rundir.TRAIN_EXAMPLES),
        rundir.read_prompts(run / rundir.VALID_EXAMPLES),
    )
    vectors = collab_vectors(run)
    checkpoints = run / rundir.TRAIN_PARTIAL
    if state.is_main_process:
        rundir.resume_folder(checkpoints, stage.record["inputs"], str(model_dir))
    state.wait_for_everyone()
    with rundir.staged_folder(run / rundir.ADAPTER) if state.is_main_process else nullcontext() as partial:
        summary = tune(
            model_dir,
            *examples,
            config.llm,
            partial,
            stage.manifest.stream_seed,
            checkpoints=checkpoints,
            vectors=vectors,
        )
    summary["processes"] = state.num_processes
    stage.record.update(summary={k: v for k, v in summary.items() if k != "log"}, model=str(model_dir))
    if state.is_main_process:
        rundir.write_json(run / rundir.TRAIN_LOG, {"log": summary["log"]})
        shutil.rmtree(checkpoints)
        log.info(
            "train: %d examples, %d steps, validation loss %.3f -> %.3f",
            summary["examples"],
            summary["steps"],
            summary["valid_loss_before"],
            summary["valid_loss_after"],
        )
    return summary


def model_fits(config) -> None:
    """Refuse, before any stage runs, a model the LLM stages cannot use here: a folder that is not a
    supported causal LM or whose tokenizer does not load, LoRA target modules it lacks, a dtype this device
    has no native support for, or weights (with a full fine-tune's optimizer state) too big for the
    device's memory."""
    from recranker_core.llm import checks
    from recranker_core.llm.device import resolve_dtype
    from recranker_core.llm.models import check_tokenizer, resolve_model

    llm = config.llm
    folder = resolve_model(llm.model)
    resolve_dtype(llm.dtype)
    facts = checks.read_facts(folder)
    check_tokenizer(folder)
    if not llm.full_finetune:
        checks.check_targets(facts, llm.target_modules, folder)
    tokens = llm.batch_size * min(llm.max_length or checks.NOMINAL_LENGTH, checks.NOMINAL_LENGTH)
    checks.needs_checkpointing(folder, llm, tokens, facts)
