"""The rerank stage: the tuned (and untuned) LLM scores every rerank prompt, in blocks of users that
a stopped stage resumes from and that `accelerate launch` shares out; then the rankings and the hybrid."""

from __future__ import annotations

import itertools
import logging
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pandas as pd

from recranker_core import methods, rundir, terminal
from recranker_core.config import RunConfig
from recranker_core.manifest import Manifest
from recranker_core.prompt_record import Prompt
from recranker_core.runfiles import load_split, load_tuned, trained_model
from recranker_core.stages.base import StageRun

log = logging.getLogger("recranker")


def scoring_fits(config: RunConfig) -> None:
    """Refuse, before any stage runs, a backend that is not installed or scoring batches that would not fit
    the device."""
    if config.rerank.backend == "vllm":
        from recranker_core.llm.vllm_backend import require

        require()
        return
    from recranker_core.llm.checks import scoring_fits
    from recranker_core.llm.models import resolve_model

    scoring_fits(resolve_model(config.llm.model), config.llm, config.rerank.batch_tokens)


def rerank(stage: StageRun) -> dict | None:
    """Score the test and validation rerank prompts (tuned, and untuned for zeroshot:*), rank, tune the
    hybrid.

    Under `accelerate launch` the users are shared out among the processes (see ``score_blocks``) and
    the main process alone ranks and writes; the others return None."""
    from recranker_core.fusion import shown_hints
    from recranker_core.ranking import rank_outputs

    run, config = stage.run, stage.config
    prompts = rundir.read_prompts(run / rundir.TEST_PROMPTS) + rundir.read_prompts(
        run / rundir.VALID_RERANK_PROMPTS
    )
    outputs, per_process = score_blocks(stage, prompts)
    if not stage.state.is_main_process:
        return None
    rundir.write_table(run / rundir.LLM_OUTPUTS, outputs)
    split = load_split(run, stage.manifest)
    candidates = rundir.read_table(run / rundir.CANDIDATES)
    weights = tuple(config.rerank.hybrid_weights)
    result = rank_outputs(
        outputs,
        candidates,
        split.targets("valid"),
        config.baselines.primary,
        weights,
        split.rating_scale(),
        hints=shown_hints(prompts),
    )
    rundir.write_table(run / rundir.TASK_SCORES, result.table)
    stored = rundir.read_table(run / rundir.RANKINGS)
    base = [m for m in stored["method"].unique() if methods.family(m) == "base"]
    test_ranked = result.rankings[result.rankings["split"] == "test"][
        ["user_id", "method", "item_id", "rank"]
    ]
    rundir.write_table(
        run / rundir.RANKINGS,
        pd.concat([stored[stored["method"].isin(base)], test_ranked], ignore_index=True),
    )
    rundir.write_json(run / rundir.HYBRID, results_document(result, weights))
    parse = outputs.groupby(["family", "task"])["parsed"].agg(lambda s: round(1 - float(s.mean()), 6))
    stage.record["summary"] = {
        "mode": config.rerank.mode,
        "prompts": len(prompts),
        "test_users": int(result.table.loc[result.table["split"] == "test", "user_id"].nunique()),
        "parse_failure_rate": {f"{f}:{t}": v for (f, t), v in parse.items()},
        "blocks_per_process": per_process,
        "scoring": totals(stage.record["blocks"]),
    }
    shutil.rmtree(run / rundir.RERANK_PARTIAL)
    log.info("rerank: %s", stage.record["summary"])
    return stage.record["summary"]


def results_document(result, paper_weights: tuple[float, ...]) -> dict:
    """hybrid.json: what the rerank stage chose on validation users, kept in this one file (the hybrid's
    weights and grid, the fusions' weights, every method's validation NDCG and pairwise accuracy, and the
    judged method)."""
    from recranker_core.fusion import VALIDATION_NDCG
    from recranker_core.ranking import HYBRID_K

    return {
        "paper_weights": list(paper_weights),
        "tuned_weights": list(result.tuned_weights),
        "tuned_on": f"mean NDCG@{HYBRID_K} of the tuned model's hybrid over the validation rerank users",
        "validation_users": result.validation_users,
        "grid": result.grid,
        "fusion": result.fused,
        "validation_pairwise_accuracy": {k: round(float(v), 4) for k, v in result.accuracy.items()},
        VALIDATION_NDCG: result.validation_ndcg,
        "selected": result.selected,
    }


def score_blocks(stage: StageRun, prompts: list[Prompt]) -> tuple[pd.DataFrame, list[int]]:
    """Every rerank prompt's outputs (tuned, and untuned for zeroshot:*), scored in blocks of users.

    Each block is saved in .rerank-partial/ as it is done, with its record (device, dtype, tokens,
    seconds), so a stopped stage resumes, on this machine or another; the blocks not saved yet are shared
    out among the processes, the untuned ones first (the tuned model's adapter is then merged into its
    weights), and every process then reads them all back in order (the folder is the gather: one
    machine, or a run folder on shared storage). Also returns how many blocks each process scored."""
    from accelerate.utils import gather_object

    run, config, state = stage.run, stage.config, stage.state
    score = _scorer(run, stage.manifest, state.device)  # first, so that a missing adapter leaves no trace
    blocks = _user_blocks(prompts, config.rerank.checkpoint_users)
    partial = run / rundir.RERANK_PARTIAL
    if state.is_main_process:
        rundir.resume_folder(partial, stage.record["inputs"])
    state.wait_for_everyone()
    families = ("tuned", "zeroshot") if config.rerank.zeroshot else ("tuned",)
    saved = {(f, i): partial / f"{f}-{i:05d}.parquet" for f in families for i in range(len(blocks))}
    todo = sorted(
        (block for block, path in saved.items() if not path.is_file()), key=lambda b: b[0] == "tuned"
    )
    with state.split_between_processes(todo) as mine:
        for family, index in mine:
            terminal.check()  # a stop whose exception a finaliser swallowed ends here, within one block
            scored, record = score(family, blocks[index], f"{family} {index + 1}/{len(blocks)}")
            rundir.write_json(saved[family, index].with_suffix(".json"), record)
            rundir.write_table(saved[family, index], scored.assign(family=family))
        per_process = gather_object([len(mine)])
    state.wait_for_everyone()
    stage.record["blocks"] = [
        {"family": f, "block": i, **rundir.read_json(path.with_suffix(".json"))}
        for (f, i), path in saved.items()
    ]
    return pd.concat([rundir.read_table(path) for path in saved.values()], ignore_index=True), per_process


def totals(blocks: list[dict]) -> dict:
    """The blocks' records added up: prompts, tokens, seconds, tokens/s, and the devices and dtypes used."""
    tokens, seconds = sum(b["tokens"] for b in blocks), sum(b["seconds"] for b in blocks)
    return {
        "devices": sorted({b["device"] for b in blocks}),
        "dtypes": sorted({b["dtype"] for b in blocks}),
        "prompts": sum(b["prompts"] for b in blocks),
        "tokens": tokens,
        "computed_tokens": sum(b["computed_tokens"] for b in blocks),
        "seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / seconds, 1) if seconds else 0.0,
    }


def _user_blocks(prompts: list[Prompt], users: int) -> list[list[Prompt]]:
    """The prompts cut into blocks of ``users`` consecutive users (a user's prompts stay together)."""
    groups = [
        list(group)
        for _, group in itertools.groupby(prompts, key=lambda p: (p["meta"]["split"], p["meta"]["user_id"]))
    ]
    return [[p for group in groups[i : i + users] for p in group] for i in range(0, len(groups), users)]


def _scorer(run: Path, manifest: Manifest, device):
    """``score(family, prompts, desc) -> (outputs, record)``, with the models loaded once: the tuned one,
    its adapter merged in for "tuned", switched to the untuned model for "zeroshot" (``collab.untuned``;
    or the base model beside a full fine-tune)."""
    from recranker_core.llm import collab
    from recranker_core.llm.device import dtype_name, resolve_dtype
    from recranker_core.llm.models import load, load_tokenizer, merged
    from recranker_core.llm.rerank import score_prompts

    config = manifest.config
    scale = load_split(run, manifest).rating_scale()
    base_model = trained_model(run, manifest)
    if config.rerank.backend == "vllm":
        from recranker_core.llm import vllm_backend

        tuned = run / rundir.ADAPTER
        tokenizer = load_tokenizer(tuned if config.llm.full_finetune else base_model)
        rank = None if config.llm.full_finetune else config.llm.lora_r
        answers = vllm_backend.VLLMAnswers(
            base_model, tuned, lora_rank=rank, zeroshot=config.rerank.zeroshot, seed=config.seed
        )
        return lambda family, prompts, desc: _timed(
            lambda counter: answers.score(family, tokenizer, prompts, scale), prompts, "cuda", "vllm's own"
        )

    dtype = resolve_dtype(config.llm.dtype, device)
    tuned, tokenizer = load_tuned(run, manifest, dtype)
    tuned.to(device)
    untuned: dict[str, Any] = {}

    def score(family: str, prompts: list[Prompt], desc: str) -> tuple[pd.DataFrame, dict]:
        model, context = tuned, nullcontext()
        if family == "zeroshot" and config.llm.full_finetune:
            if not untuned:
                untuned["model"] = load(base_model, dtype=dtype)[0].to(device)
            model = untuned["model"]
        elif family == "zeroshot":
            context = collab.untuned(tuned)
        else:
            merged(tuned)
        options = {"batch_size": config.rerank.batch_size, "batch_tokens": config.rerank.batch_tokens}
        with context:
            return _timed(
                lambda counter: score_prompts(
                    model,
                    tokenizer,
                    prompts,
                    mode=config.rerank.mode,
                    scale=scale,
                    prefix_cache=config.rerank.prefix_cache,
                    desc=desc,
                    counter=counter,
                    **options,
                ),
                prompts,
                str(device),
                dtype_name(dtype),
            )

    return score


def _timed(work, prompts: list[Prompt], device: str, dtype: str) -> tuple[pd.DataFrame, dict]:
    """(``work(counter)``'s outputs, the record of that block: device, dtype, prompts, real and computed
    tokens, seconds, tokens/s)."""
    import time

    from recranker_core.llm.scoring import TokenCount

    counter, start = TokenCount(), time.perf_counter()
    outputs = work(counter)
    seconds = time.perf_counter() - start
    return outputs, {
        "device": device,
        "dtype": dtype,
        "prompts": len(prompts),
        "tokens": counter.prompt_tokens,
        "computed_tokens": counter.computed_tokens,
        "seconds": round(seconds, 3),
        "tokens_per_second": round(counter.prompt_tokens / seconds, 1) if seconds else 0.0,
    }
