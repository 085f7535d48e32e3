"""Stages of a run and the run directory they fill.

``data`` (load, validate, split), ``baselines`` (fit the conventional recommenders, top-N
candidates) and ``evaluate`` (metrics.json) create a run; ``sample`` (users for instruction data),
``instructions`` (training/validation examples and test prompts), ``train`` (the adapter) and
``rerank`` (LLM rankings, then ``evaluate`` again) add to it. A new run is built in a hidden folder
and moved into place only when its first three stages have finished; later stages write each output
to a temporary name and rename it, then record themselves in the manifest, with fingerprints of
what they read and wrote (``SPECS``), so that `run` redoes exactly the stages that are not done or
whose inputs changed. ``train`` and ``rerank`` also run under `accelerate launch`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

import recranker_core
from recranker_core import rundir
from recranker_core.config import RunConfig, config_from_dict
from recranker_core.data import load_dataset
from recranker_core.data.split import Split, split_likes
from recranker_core.errors import InputError
from recranker_core.evaluation import across_seeds, metrics_document

log = logging.getLogger("recranker")
CREATION_STAGES = ("data", "baselines", "evaluate")
LATER_STAGES = ("sample", "instructions", "train", "rerank")
VERSIONED = (
    "lenskit", "torch", "numpy", "pandas", "pyarrow", "scikit-learn", "transformers", "peft", "accelerate", "streamlit", "vllm",
)
CREATION_SETTINGS = ("seed", "data", "baselines", "evaluation")
"""Settings a run is created with; a different value makes it another run (the others re-run stages)."""


@dataclass(frozen=True)
class StageSpec:
    """What a stage reads and writes. The fingerprints of what it read are recorded with it, so that
    `run` redoes a done stage when they change."""

    reads: tuple[str, ...]
    """Files and folders of the run it reads (one that may be absent counts as such)."""
    settings: tuple[str, ...]
    """Config sections it reads ("seed" for the seed)."""
    writes: tuple[str, ...]
    """Files and folders it writes; a done stage is redone when one of them has gone."""
    version: int = 1
    """Raised when the stage writes something else from the same inputs, so that runs made before redo it."""


_INSTRUCTION = {name: f"{rundir.INSTRUCTIONS}/{name}" for name in rundir.INSTRUCTION_FILES}
SPECS = {
    "data": StageSpec((), ("data",), (rundir.SPLIT, rundir.ITEMS)),
    "baselines": StageSpec(
        (rundir.SPLIT,), ("seed", "baselines"), (rundir.CANDIDATES, rundir.USER_EMBEDDINGS, rundir.RANKINGS)
    ),
    "sample": StageSpec(
        (rundir.SPLIT, rundir.USER_EMBEDDINGS), ("seed", "sampling"), (rundir.SAMPLED_USERS, rundir.USER_SAMPLING), 2
    ),
    "instructions": StageSpec(
        (rundir.SPLIT, rundir.ITEMS, rundir.CANDIDATES, rundir.SAMPLED_USERS),
        ("seed", "baselines", "prompts"),
        (rundir.INSTRUCTIONS, rundir.EVALUATION_USERS),
        2,
    ),
    "train": StageSpec((_INSTRUCTION["train.jsonl"], _INSTRUCTION["valid.jsonl"]), ("seed", "llm"), (rundir.ADAPTER, rundir.TRAIN_LOG)),
    "rerank": StageSpec(
        (_INSTRUCTION["test.jsonl"], _INSTRUCTION["valid-rerank.jsonl"], rundir.ADAPTER, rundir.CANDIDATES, rundir.SPLIT),
        ("baselines", "rerank"),
        (rundir.LLM_OUTPUTS, rundir.TASK_SCORES, rundir.HYBRID, rundir.RANKINGS),
        2,
    ),
    "evaluate": StageSpec(
        (rundir.RANKINGS, rundir.SPLIT, rundir.EVALUATION_USERS), ("seed", "seeds", "evaluation"), (rundir.METRICS,), 2
    ),
}


def written_by(name: str) -> str:
    """The first stage that writes run file or folder ``name``."""
    return next(stage for stage, spec in SPECS.items() if name in spec.writes)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _settings_digest(config: RunConfig, name: str) -> str:
    """Fingerprint of a config section by the values that differ from its defaults, so that a field a
    later version adds (at its default) leaves the stages done before it up to date."""
    if name in ("seed", "seeds"):
        return _digest(getattr(config, name))
    section = getattr(config, name)
    values, defaults = _jsonable(asdict(section)), _jsonable(asdict(type(section)()))
    return _digest({key: value for key, value in values.items() if value != defaults[key]})


def stage_inputs(folder: Path, name: str, config: RunConfig) -> dict[str, str | None]:
    """Fingerprints of what stage ``name`` reads: its files in ``folder`` and its config sections."""
    spec = SPECS[name]
    return (
        {f: rundir.fingerprint(folder / f) for f in spec.reads}
        | {f"config.{s}": _settings_digest(config, s) for s in spec.settings}
        | {"code": spec.version}
    )


def stale_reason(run: Path, manifest: dict[str, Any], name: str) -> str | None:
    """Why `run` must (re)do stage ``name`` of this run, or None when it is done and up to date.

    Stages recorded before fingerprints were (no ``inputs``) count as up to date."""
    record = manifest.get("stages", {}).get(name)
    if not record:
        return "not run yet"
    if record.get("status") != "done":
        return f"it is {record.get('status', 'unknown')}"
    gone = [f for f, value in record.get("outputs", {}).items() if value is not None and not (run / f).exists()]
    if gone:
        return f"{gone[0]} is missing"
    if "inputs" in record:
        now = stage_inputs(run, name, config_from_manifest(manifest, run / rundir.MANIFEST))
        changed = [key for key, value in now.items() if record["inputs"].get(key) != value]
        if changed:
            return f"its inputs changed ({', '.join(changed)})"
    return None


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "recranker_core": recranker_core.__version__}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextmanager
def _stage(
    stages: dict[str, dict[str, Any]], name: str, folder: Path, config: RunConfig, *, writer: bool = True, **inputs: str
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Record a stage in the manifest's ``stages``: running (with its inputs' fingerprints), then done
    (with its outputs') or failed (with the error).

    A failure is written to ``folder``'s manifest at once when there is one (by the ``writer``: the
    main one of several processes), so that `run` and the dashboard see it; the stage's own outputs are
    never half-written (each is staged and renamed)."""
    record: dict[str, Any] = {"status": "running", "started": _now(), "inputs": stage_inputs(folder, name, config) | inputs}
    stages[name] = record
    clock = time.perf_counter()
    log.info("stage %s ...", name)
    try:
        yield record
    except BaseException as exc:
        error = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        record.update(status="failed", ended=_now(), error=error[:500])
        if writer and (folder / rundir.MANIFEST).is_file():
            manifest = rundir.read_json(folder / rundir.MANIFEST)
            manifest.setdefault("stages", {})[name] = record
            rundir.write_json(folder / rundir.MANIFEST, manifest)
        raise
    record.update(status="done", ended=_now(), seconds=round(time.perf_counter() - clock, 3))
    if writer:
        record["outputs"] = {f: rundir.fingerprint(folder / f) for f in SPECS[name].writes}
        log.info("stage %s done in %.1fs", name, record["seconds"])


def create_run(
    dataset: str, out: Path, config: RunConfig, *, items: str | None = None, overwrite: bool = False
) -> bool:
    """Run data, baselines and evaluate into ``out``. Returns False when ``out`` already holds this run (same data and
    creation settings); ``overwrite`` replaces a different run there, once the new one is made."""
    data = load_dataset(dataset, items)
    fingerprint = data.fingerprint()
    if out.exists() and (out / rundir.MANIFEST).is_file():
        try:
            _reuse(out, config, fingerprint)
            return False
        except InputError:
            if not overwrite:
                raise
    elif out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out}: exists and is not a run directory; choose another --out")

    stages: dict[str, dict[str, Any]] = {}
    with rundir.staged_folder(out) as staging:
        with _stage(stages, "data", staging, config, dataset=fingerprint):
            split = split_likes(data.ratings, config.data, name=data.name)
            rundir.write_table(staging / rundir.SPLIT, split.table)
            rundir.write_table(staging / rundir.ITEMS, data.items)
            log.info("split: %s", split.summary())

        with _stage(stages, "baselines", staging, config) as record:
            from recranker_core.baselines.candidates import run_baselines

            result = run_baselines(split, config.baselines, config.seed)
            record["models"] = result.timings
            rundir.write_table(staging / rundir.CANDIDATES, result.candidates)
            rundir.write_table(staging / rundir.USER_EMBEDDINGS, result.user_embeddings)
            rundir.write_table(staging / rundir.RANKINGS, base_rankings(result.candidates))

        with _stage(stages, "evaluate", staging, config):
            rankings = rundir.read_table(staging / rundir.RANKINGS)
            metrics = metrics_document(rankings, split.targets("test"), config.evaluation, config.seed, reference(config))
            rundir.write_json(staging / rundir.METRICS, metrics | {"evaluation_users": "all"})

        rundir.write_json(
            staging / rundir.MANIFEST,
            {
                "format_version": rundir.FORMAT_VERSION,
                "name": out.name,
                "created": _now(),
                "command": " ".join(["python -m recranker_core", *sys.argv[1:]]),
                "profile": config.profile,
                "seed": config.seed,
                "config": config.to_dict(),
                "dataset": {
                    "name": data.name,
                    "source": data.source,
                    "fingerprint": fingerprint,
                    **data.summary(),
                    "split": split.summary(),
                },
                "versions": package_versions(),
                "stages": stages,
            },
        )
    return True


def reference(config: RunConfig) -> str:
    """The method every other one is compared with: the base model whose candidates the LLM reranks."""
    return f"base:{config.baselines.primary}"


def base_rankings(candidates: pd.DataFrame) -> pd.DataFrame:
    """The test candidate lists as rankings of the methods ``base:<model>``."""
    test = candidates[candidates["target"] == "test"]
    return pd.DataFrame(
        {
            "user_id": test["user_id"].to_numpy(),
            "method": "base:" + test["model"].astype(str).to_numpy(),
            "item_id": test["item_id"].to_numpy(),
            "rank": test["rank"].to_numpy(),
        }
    )


def evaluation_truth(run: Path) -> pd.DataFrame:
    """user_id, item_id of the test items every method is evaluated on (the seeded subset, if any)."""
    split = rundir.read_table(run / rundir.SPLIT, columns=["user_id", "item_id", "role"])
    truth = split.loc[split["role"] == "test", ["user_id", "item_id"]]
    subset = run / rundir.EVALUATION_USERS
    if subset.is_file():
        truth = truth[truth["user_id"].isin(rundir.read_table(subset)["user_id"])]
    return truth.reset_index(drop=True)


def evaluate_run(run: Path) -> dict[str, Any]:
    """Recompute metrics.json of an existing run from its rankings and split."""
    manifest, config = _open_run(run)
    stages = manifest.setdefault("stages", {})
    with _stage(stages, "evaluate", run, config):
        truth = evaluation_truth(run)
        rankings = rundir.read_table(run / rundir.RANKINGS)
        rankings = rankings[rankings["user_id"].isin(truth["user_id"])]
        metrics = metrics_document(rankings, truth, config.evaluation, config.seed, reference(config))
        metrics["evaluation_users"] = "random subset" if (run / rundir.EVALUATION_USERS).is_file() else "all"
        rerank = stages.get("rerank", {}).get("summary", {})
        if rerank:
            metrics["validation_pairwise_accuracy"] = rerank["validation_pairwise_accuracy"]
            metrics["validation_users"] = rerank["validation_users"]
            metrics["hybrid_tuned_weights"] = rerank["tuned_weights"]
        if config.seeds > 1 and not manifest.get("replicate"):
            replicas = [run / rundir.REPLICATES / str(k) / rundir.METRICS for k in range(1, config.seeds)]
            documents = [metrics] + [rundir.read_json(path) for path in replicas if path.is_file()]
            metrics["seeds"] = across_seeds(documents, [config.seed + k for k in range(len(documents))])
        rundir.write_json(run / rundir.METRICS, metrics)
    rundir.write_json(run / rundir.MANIFEST, manifest)
    return metrics


LEGACY = {"baselines": {"exclude": "all-rated"}}
"""What settings added later were, in effect, in the runs made before them (their manifests lack the field)."""


def config_from_manifest(manifest: dict[str, Any], where: Path) -> RunConfig:
    raw = dict(manifest.get("config") or {})
    if not raw:
        raise InputError(f"{where}: no 'config' recorded")
    for section, values in LEGACY.items():
        if isinstance(raw.get(section), dict):
            raw[section] = values | raw[section]
    return config_from_dict(
        {k: v for k, v in raw.items() if k != "profile"}, where=str(where), profile=raw.get("profile", "?")
    )


def _reuse(out: Path, config: RunConfig, fingerprint: str) -> None:
    """Refuse ``out`` unless it holds this run (same data and creation settings, created in full); record
    changed settings of the later stages there, so that `run` redoes the stages that read them."""
    wanted = _jsonable(config.to_dict())
    try:
        manifest = rundir.read_json(out / rundir.MANIFEST)
        recorded = _jsonable(config_from_manifest(manifest, out / rundir.MANIFEST).to_dict())  # new fields at their defaults
    except InputError:
        differences = ["an unreadable manifest or config"]
    else:
        differences = [] if manifest.get("dataset", {}).get("fingerprint") == fingerprint else ["data"]
        differences += [key for key in CREATION_SETTINGS if recorded[key] != wanted[key]]
        if not all(manifest.get("stages", {}).get(s, {}).get("status") == "done" for s in CREATION_STAGES):
            differences.append("an unfinished creation")
    if differences:
        raise InputError(f"{out}: holds another run (different {', '.join(differences)}); pass --overwrite to replace it")
    changed = [key for key, value in wanted.items() if key != "profile" and recorded[key] != value]
    if not changed:
        log.info("%s already holds this run (same data and config); nothing to do", out)
        return
    log.info("%s: new settings for %s; the stages that read them will run again", out, ", ".join(changed))
    manifest.update(profile=config.profile, config=wanted)
    rundir.write_json(out / rundir.MANIFEST, manifest)


def _jsonable(value: Any) -> Any:
    """What a value looks like after a JSON round trip (tuples become lists)."""
    return json.loads(json.dumps(value))


def run_all(
    dataset: str, out: Path, config: RunConfig, *, items: str | None = None, overwrite: bool = False,
    until: str | None = None, force: str | None = None,
) -> None:  # fmt: skip
    """Every stage (or those up to ``until``): create the run (or find it up to date), then each later
    stage that is not done or whose inputs changed (see ``stale_reason``); ``force`` redoes that stage
    even if it is up to date. With ``seeds`` > 1 the later stages run again in each replicate folder,
    and the run's metrics then gather them."""
    create_run(dataset, out, config, items=items, overwrite=overwrite)
    replicated = False
    for folder in (out, *replicate_folders(out)):
        for name in (*LATER_STAGES, "evaluate"):
            reason = "--force" if name == force else stale_reason(folder, rundir.read_json(folder / rundir.MANIFEST), name)
            if reason:
                log.info("stage %s%s: running (%s)", name, "" if folder == out else f" of {folder.relative_to(out)}", reason)
                STAGES[name](folder)
                replicated |= folder != out
            if name == until:
                break
    if replicated:
        evaluate_run(out)


def replicate_folders(run: Path) -> list[Path]:
    """The folders seeds/1 .. seeds/N-1 of a run with ``seeds`` = N: its creation outputs (linked) with the run's
    config and ``replicate`` = k, in which the later stages run with seed + k. Made where missing; each time given
    the run's current config, so that changed settings redo their stages there too."""
    manifest = rundir.read_json(run / rundir.MANIFEST)
    folders = []
    for k in range(1, config_from_manifest(manifest, run / rundir.MANIFEST).seeds):
        folder = run / rundir.REPLICATES / str(k)
        if not (folder / rundir.MANIFEST).is_file():
            with rundir.staged_folder(folder) as staging:
                for name in (rundir.SPLIT, rundir.ITEMS, rundir.CANDIDATES, rundir.USER_EMBEDDINGS, rundir.METRICS):
                    rundir.link_or_copy(run / name, staging / name)
                rundir.write_table(staging / rundir.RANKINGS, base_rankings(rundir.read_table(staging / rundir.CANDIDATES)))
                stages = {name: manifest["stages"][name] for name in CREATION_STAGES}
                rundir.write_json(staging / rundir.MANIFEST, {**manifest, "stages": stages, "replicate": k})
        child = rundir.read_json(folder / rundir.MANIFEST)
        rundir.write_json(folder / rundir.MANIFEST, {**child, "profile": manifest["profile"], "config": manifest["config"]})
        folders.append(folder)
    return folders


def stream_seed(config: RunConfig, manifest: dict[str, Any]) -> int:
    """The seed of the seed-dependent LLM stages: the run's, plus k in replicate folder k."""
    return config.seed + int(manifest.get("replicate", 0))


def load_split(run: Path, manifest: dict[str, Any]) -> Split:
    table = rundir.read_table(run / rundir.SPLIT)
    return Split(table=table, users_too_few_likes=manifest.get("dataset", {}).get("split", {}).get("users_too_few_likes", 0))


def _open_run(run: Path, after: str | None = None) -> tuple[dict[str, Any], RunConfig]:
    """The manifest and config of an existing run whose stage ``after`` is done."""
    if not (run / rundir.MANIFEST).is_file():
        raise InputError(f"{run}: not a run directory (no {rundir.MANIFEST})")
    manifest = rundir.read_json(run / rundir.MANIFEST)
    if after and manifest.get("stages", {}).get(after, {}).get("status") != "done":
        raise InputError(f"{run}: run the '{after}' stage first (python -m recranker_core {after} --run {run})")
    return manifest, config_from_manifest(manifest, run / rundir.MANIFEST)


def sample_stage(run: Path) -> dict[str, Any]:
    """Cluster the eligible users and draw the users that instruction data is built from."""
    import numpy as np

    from recranker_core.instructions import eligible_users
    from recranker_core.sampling import cluster_users, sample_users
    from recranker_core.seeds import rng_for

    manifest, config = _open_run(run)
    stages = manifest.setdefault("stages", {})
    with _stage(stages, "sample", run, config) as record:
        split = load_split(run, manifest)
        eligible = eligible_users(split)
        embeddings = rundir.read_table(run / rundir.USER_EMBEDDINGS).set_index("user_id")["embedding"]
        eligible = eligible[eligible["user_id"].isin(embeddings.index)].reset_index(drop=True)
        if eligible.empty:
            raise InputError(f"{run}: no user has two training likes; nothing to sample from")
        vectors = np.stack(embeddings.loc[eligible["user_id"]].to_numpy())
        eligible["cluster"] = cluster_users(vectors, config.sampling.clusters, stream_seed(config, manifest))
        kept = int(split.table.loc[split.table["role"] == "test", "user_id"].nunique())
        rng = rng_for(stream_seed(config, manifest), "sampling")
        sample = sample_users(eligible, config.sampling, rng, ineligible=kept - len(eligible))
        rundir.write_table(run / rundir.SAMPLED_USERS, sample.draws)
        rundir.write_table(run / rundir.USER_SAMPLING, sample.population)
        record["summary"] = sample.summary
        log.info("sample: %s", sample.summary)
    rundir.write_json(run / rundir.MANIFEST, manifest)
    return sample.summary


def instructions_stage(run: Path) -> dict[str, Any]:
    """Write instructions/train.jsonl, valid.jsonl and test.jsonl from the sampled users."""
    from recranker_core.instructions import build_instructions

    manifest, config = _open_run(run, after="sample")
    stages = manifest.setdefault("stages", {})
    with _stage(stages, "instructions", run, config) as record:
        result = build_instructions(
            load_split(run, manifest),
            rundir.read_table(run / rundir.ITEMS),
            rundir.read_table(run / rundir.CANDIDATES),
            rundir.read_table(run / rundir.SAMPLED_USERS),
            config,
            stream_seed(config, manifest),
        )
        rundir.write_jsonl_folder(
            run / rundir.INSTRUCTIONS,
            dict(zip(rundir.INSTRUCTION_FILES, (result.train, result.valid, result.test, result.valid_rerank))),
        )
        subset = run / rundir.EVALUATION_USERS
        if result.evaluation_users is None:
            subset.unlink(missing_ok=True)
        else:
            rundir.write_table(subset, pd.DataFrame({"user_id": result.evaluation_users}))
        record["summary"] = result.summary
        log.info("instructions: %s", result.summary)
    rundir.write_json(run / rundir.MANIFEST, manifest)
    return result.summary


STAGES = {"sample": sample_stage, "instructions": instructions_stage, "evaluate": evaluate_run}


def processes():
    """accelerate's view of the processes this stage runs in: one, or those `accelerate launch` started
    (on GPUs: one per GPU; without GPUs: CPU processes talking over gloo)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def set_threads(config: RunConfig) -> None:
    """torch's CPU threads: ``[rerank] threads``, or the cores shared out among the launched processes."""
    import torch

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    torch.set_num_threads(config.rerank.threads or max(1, (os.cpu_count() or 1) // launched))


def train_stage(run: Path) -> dict[str, Any] | None:
    """LoRA-tune (or fully fine-tune) the model on instructions/train.jsonl; save into adapter/.

    Under `accelerate launch` every process trains its share of each batch (the Trainer's data
    parallelism) and the main process alone writes; returns the summary there, None elsewhere."""
    from recranker_core.llm.models import resolve_model
    from recranker_core.llm.training import train

    manifest, config = _open_run(run, after="instructions")
    stages = manifest.setdefault("stages", {})
    set_threads(config)
    state = processes()
    folder = run / rundir.INSTRUCTIONS
    with _stage(stages, "train", run, config, writer=state.is_main_process) as record:
        model_dir = resolve_model(config.llm.model)
        examples = rundir.read_jsonl(folder / "train.jsonl"), rundir.read_jsonl(folder / "valid.jsonl")
        checkpoints = run / rundir.TRAIN_PARTIAL
        if state.is_main_process:
            _resume_folder(checkpoints, record["inputs"], str(model_dir))
        state.wait_for_everyone()
        with rundir.staged_folder(run / rundir.ADAPTER) if state.is_main_process else nullcontext() as partial:
            summary = train(model_dir, *examples, config.llm, partial, stream_seed(config, manifest), checkpoints=checkpoints)
        summary["processes"] = state.num_processes
        record.update(summary={k: v for k, v in summary.items() if k != "log"}, model=str(model_dir))
        if state.is_main_process:
            rundir.write_json(run / rundir.TRAIN_LOG, {"log": summary["log"]})
            log.info(
                "train: %d examples, %d steps, validation loss %.3f -> %.3f",
                summary["examples"], summary["steps"], summary["valid_loss_before"], summary["valid_loss_after"],
            )  # fmt: skip
    if not state.is_main_process:
        return None
    rundir.write_json(run / rundir.MANIFEST, manifest)
    shutil.rmtree(checkpoints)
    return summary


def load_tuned(run: Path, manifest: dict[str, Any], config: RunConfig):
    """(model, tokenizer) of a trained run: the base model with the run's adapter, or its full fine-tune."""
    from recranker_core.llm.models import load

    if config.llm.full_finetune:
        return load(run / rundir.ADAPTER)
    return load(Path(manifest["stages"]["train"]["model"]), run / rundir.ADAPTER)


def _user_blocks(prompts: list[dict], users: int) -> list[list[dict]]:
    """The prompts cut into blocks of ``users`` consecutive users (a user's prompts stay together)."""
    groups = [list(group) for _, group in itertools.groupby(prompts, key=lambda p: (p["meta"]["split"], p["meta"]["user_id"]))]
    return [[p for group in groups[i : i + users] for p in group] for i in range(0, len(groups), users)]


def _resume_folder(folder: Path, *inputs: Any) -> Path:
    """A folder of partial work that lets a stopped stage resume; emptied when the inputs it was
    made from (anything JSON can hold) have changed."""
    key = _digest(inputs)
    stamp = folder / "key.txt"
    if folder.is_dir() and (not stamp.is_file() or stamp.read_text() != key):
        shutil.rmtree(folder)
    if folder.is_dir():
        log.info("resuming from the partial work in %s", folder)
    else:
        folder.mkdir()
        stamp.write_text(key)
    return folder


def _score_blocks(run: Path, manifest: dict[str, Any], config: RunConfig, prompts: list[dict], state, key: Any) -> tuple[pd.DataFrame, list[int]]:
    """Every rerank prompt's outputs (tuned, and untuned for zeroshot:*), scored in blocks of users.

    Each block is saved in .rerank-partial/ as it is done, so a stopped stage resumes; the blocks not
    saved yet are shared out among the processes, and every process then reads them all back in
    order (the folder is the gather: one machine, or a run folder on shared storage). Also returns
    how many blocks each process scored."""
    from accelerate.utils import gather_object

    score = _scorer(run, manifest, config, state.device)  # first, so that a missing adapter leaves no trace
    blocks = _user_blocks(prompts, config.rerank.checkpoint_users)
    partial = run / rundir.RERANK_PARTIAL
    if state.is_main_process:
        _resume_folder(partial, key)
    state.wait_for_everyone()
    families = ("tuned", "zeroshot") if config.rerank.zeroshot else ("tuned",)
    saved = {(f, i): partial / f"{f}-{i:05d}.parquet" for f in families for i in range(len(blocks))}
    todo = [block for block, path in saved.items() if not path.is_file()]
    with state.split_between_processes(todo) as mine:
        for family, index in mine:
            scored = score(family, blocks[index], f"{family} {index + 1}/{len(blocks)}")
            rundir.write_table(saved[family, index], scored.assign(family=family))
        per_process = gather_object([len(mine)])
    state.wait_for_everyone()
    return pd.concat([rundir.read_table(path) for path in saved.values()], ignore_index=True), per_process


def _scorer(run: Path, manifest: dict[str, Any], config: RunConfig, device):
    """``score(family, prompts, desc) -> outputs``, with the models loaded once: the tuned one, whose
    adapter is switched off for "zeroshot" (or the base model beside a full fine-tune)."""
    from recranker_core.llm.models import load, load_tokenizer
    from recranker_core.llm.rerank import score_prompts

    scale = load_split(run, manifest).rating_scale()
    base = Path(manifest["stages"]["train"]["model"])
    if config.rerank.backend == "vllm":
        from recranker_core.llm import vllm_backend

        tuned = run / rundir.ADAPTER
        tokenizer = load_tokenizer(tuned if config.llm.full_finetune else base)
        answers = vllm_backend.VLLMAnswers(
            base, tuned, lora_rank=None if config.llm.full_finetune else config.llm.lora_r, zeroshot=config.rerank.zeroshot, seed=config.seed
        )
        return lambda family, prompts, desc: answers.score(family, tokenizer, prompts, scale)

    tuned, tokenizer = load_tuned(run, manifest, config)
    tuned.to(device)
    untuned: dict[str, Any] = {}

    def score(family: str, prompts: list[dict], desc: str) -> pd.DataFrame:
        model, context = tuned, nullcontext()
        if family == "zeroshot" and config.llm.full_finetune:
            if not untuned:
                untuned["model"] = load(base)[0].to(device)
            model = untuned["model"]
        elif family == "zeroshot":
            context = tuned.disable_adapter()
        with context:
            return score_prompts(
                model, tokenizer, prompts, mode=config.rerank.mode, scale=scale, batch_size=config.rerank.batch_size,
                prefix_cache=config.rerank.prefix_cache, desc=desc,
            )  # fmt: skip

    return score


def rerank_stage(run: Path) -> dict[str, Any] | None:
    """Score the test and validation rerank prompts (tuned, and untuned for zeroshot:*), rank, tune the hybrid.

    Under `accelerate launch` the users are shared out among the processes (see ``_score_blocks``) and
    the main process alone ranks and writes; returns the summary there, None elsewhere."""
    from recranker_core.ranking import rank_outputs

    manifest, config = _open_run(run, after="train")
    if config.rerank.backend == "vllm":
        from recranker_core.llm.vllm_backend import require

        require()
    stages = manifest.setdefault("stages", {})
    set_threads(config)
    state = processes()
    folder = run / rundir.INSTRUCTIONS
    with _stage(stages, "rerank", run, config, writer=state.is_main_process) as record:
        prompts = rundir.read_jsonl(folder / "test.jsonl") + rundir.read_jsonl(folder / "valid-rerank.jsonl")
        outputs, per_process = _score_blocks(run, manifest, config, prompts, state, record["inputs"])
        if not state.is_main_process:
            return None
        rundir.write_table(run / rundir.LLM_OUTPUTS, outputs)
        split = load_split(run, manifest)
        scale = split.rating_scale()
        candidates = rundir.read_table(run / rundir.CANDIDATES)
        result = rank_outputs(
            outputs, candidates, split.targets("valid"), config.baselines.primary, tuple(config.rerank.hybrid_weights), scale
        )
        rundir.write_table(run / rundir.TASK_SCORES, result.table)
        ranked = result.rankings
        rankings = rundir.read_table(run / rundir.RANKINGS)
        rankings = rankings[rankings["method"].str.startswith("base:")]
        test_ranked = ranked[ranked["split"] == "test"][["user_id", "method", "item_id", "rank"]]
        rundir.write_table(run / rundir.RANKINGS, pd.concat([rankings, test_ranked], ignore_index=True))
        parse = outputs.groupby(["family", "task"])["parsed"].agg(lambda s: round(1 - float(s.mean()), 6))
        rundir.write_json(
            run / rundir.HYBRID,
            {
                "paper_weights": list(config.rerank.hybrid_weights),
                "tuned_weights": list(result.tuned_weights),
                "tuned_on": "mean NDCG@5 of the tuned model's hybrid over the validation rerank users",
                "validation_users": result.validation_users,
                "grid": result.grid,
            },
        )
        record["summary"] = {
            "mode": config.rerank.mode,
            "prompts": len(prompts),
            "test_users": int(result.table.loc[result.table["split"] == "test", "user_id"].nunique()),
            "validation_users": result.validation_users,
            "tuned_weights": list(result.tuned_weights),
            "validation_pairwise_accuracy": {k: round(float(v), 4) for k, v in result.accuracy.items()},
            "parse_failure_rate": {f"{f}:{t}": v for (f, t), v in parse.items()},
            "blocks_per_process": per_process,
        }
        log.info("rerank: %s", record["summary"])
    rundir.write_json(run / rundir.MANIFEST, manifest)
    shutil.rmtree(run / rundir.RERANK_PARTIAL)
    evaluate_run(run)
    return record["summary"]


STAGES.update({"train": train_stage, "rerank": rerank_stage})
