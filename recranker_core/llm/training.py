"""Instruction tuning on the chat-format JSONL: LoRA (peft) or full fine-tuning, via the HF Trainer.

The loss covers only the assistant's answer (and its end-of-turn token), and the output matrix is applied
only at the positions that predict an answer token (about 1% of them: the vocabulary's logits at every
position cost a fifth of the FLOPs and gigabytes per step); batches are grouped by length, so padding
stays near zero. The three tasks are mixed in one seeded order. With ``llm.rank_loss``, a ranking loss is
added for the pairwise and listwise examples: the softmax cross-entropy of the right answer's label among
the labels the prompt shows, read at the answer's first distinct token exactly as scoring reads it (for
two labels, the RankNet logistic loss; the rows it reads are built in ``train_rows``). The adapter (or
the full model) is saved as safetensors.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from recranker_core import launch, terminal
from recranker_core.errors import InputError
from recranker_core.llm.train_rows import IGNORE, context_length, mixed_subset, tokenize_examples
from recranker_core.llm_settings import LLMConfig

log = logging.getLogger("recranker")


def ranking_loss(logits, position, ids, target):
    """Mean softmax cross-entropy of each ranked row's target label among its labels' logits (``logits``:
    batch x positions x vocabulary; ``position``: the position of each row to read)."""
    import torch

    keep = target >= 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    rows = logits[keep.nonzero().squeeze(1), position[keep]]
    chosen = rows.gather(1, ids[keep].clamp(min=0)).float().masked_fill(ids[keep] < 0, float("-inf"))
    return torch.nn.functional.cross_entropy(chosen, target[keep])


def answer_loss(model, inputs: dict, num_items=None, rank_weight: float = 0.0, processes: int = 1):
    """The language-model loss on the answers (as the Trainer's own: summed over answer tokens, divided by
    ``num_items``, else their mean) plus ``rank_weight`` times :func:`ranking_loss`, with the output matrix
    applied only at the positions that predict an answer token in some row of the batch."""
    import torch

    labels = inputs["labels"]
    targets = labels[:, 1:]  # what each position predicts
    kept = (targets != IGNORE).any(0).nonzero().squeeze(1)
    model_inputs = {k: inputs[k] for k in ("input_ids", "attention_mask")}
    logits = model(**model_inputs, logits_to_keep=kept).logits
    chosen = targets[:, kept]
    loss = torch.nn.functional.cross_entropy(
        logits.float().flatten(0, 1), chosen.flatten(), ignore_index=IGNORE, reduction="sum"
    )
    loss = loss / (num_items if num_items is not None else (chosen != IGNORE).sum().clamp(min=1))
    if num_items is not None:
        loss = loss * processes  # the Trainer's num_items counts every process's tokens
    if rank_weight and "rank_target" in inputs:
        position = torch.searchsorted(kept, inputs["rank_position"].clamp(min=0))
        ids, target = inputs["rank_ids"], inputs["rank_target"]
        loss = loss + rank_weight * ranking_loss(logits, position.clamp(max=len(kept) - 1), ids, target)
    return loss, logits


def train(
    model_dir: Path,
    train_examples: list[dict],
    valid_examples: list[dict],
    config: LLMConfig,
    out: Path | None,
    seed: int,
    checkpoints: Path | None = None,
    vectors=None,
) -> dict[str, Any]:
    """Fit and save into ``out`` (adapter_model.safetensors, or model.safetensors when full fine-tuning;
    None: not saved, for the other processes of an `accelerate launch`).

    With ``vectors`` (``llm.collab.Vectors``), the examples' collaborative tokens read them through a
    projector trained with the adapter and saved beside it.

    With ``checkpoints`` (and ``config.checkpoint_steps``), the Trainer saves its state there every
    ``checkpoint_steps`` steps and resumes from the latest one found. Launched in several processes,
    each takes ``batch_size / processes`` examples of every step, so a step still sees ``batch_size``."""
    from transformers import set_seed

    from recranker_core.llm.device import default_device, dtype_name, resolve_dtype

    set_seed(seed)
    dtype = resolve_dtype(config.dtype, default_device())
    model, tokenizer = _trainable(model_dir, config, dtype)
    collab = None
    if vectors is not None:
        from recranker_core.llm import collab as tokens

        collab = tokens.attach(model, vectors, tokenizer)
    tokenizer.padding_side = "right"  # rank_position counts from the start of each row
    longest = config.max_length or context_length(model.config)
    (train_rows, valid_rows), skipped = _rows(
        tokenizer, (train_examples, valid_examples), config, seed, longest, collab
    )
    scratch = tempfile.TemporaryDirectory(prefix="recranker-trainer-")
    saving = checkpoints is not None and config.checkpoint_steps > 0
    trainer, history = build_trainer(
        model,
        tokenizer,
        (train_rows, valid_rows),
        config,
        str(checkpoints) if saving else scratch.name,
        seed,
        saving=saving,
        collab=collab,
        checkpointing=_needs_checkpointing(model_dir, config, train_rows),
    )
    result, losses = _fit(trainer, checkpoints if saving else None, collab, config, bool(valid_rows))
    scratch.cleanup()
    if out is not None:
        _save(model, tokenizer, collab, out, config.full_finetune)
    return {
        "examples": len(train_rows),
        "skipped_too_long": skipped,
        "max_length": longest,
        "valid_examples": len(valid_rows),
        **losses,
        "trainable_parameters": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "device": str(trainer.args.device),
        "dtype": dtype_name(dtype),
        **_throughput(trainer, result, train_rows, config.epochs),
        "log": history,
    }


def _rows(tokenizer, examples: tuple[list, list], config: LLMConfig, seed: int, longest: int, collab):
    """((training rows, validation rows), how many examples were too long): the configured number of each,
    mixed in one seeded order (the validation draw follows the training one); an InputError when no
    training example fits ``longest`` tokens."""
    rng = np.random.default_rng(seed)
    ranked = config.rank_loss > 0
    rows, skipped = [], 0
    for kept, limit in zip(examples, (config.train_examples, config.valid_examples)):
        subset = mixed_subset(kept, limit, rng)
        tokenized, too_long = tokenize_examples(tokenizer, subset, longest, ranked, collab)
        rows.append(tokenized)
        skipped += too_long
    if not rows[0]:
        limit = f"llm.max_length = {longest}" if config.max_length else f"the model's context of {longest}"
        raise InputError(f"no training example fits {limit} tokens; show less history (prompts.max_liked)")
    return (rows[0], rows[1]), skipped


def _fit(trainer, checkpoints: Path | None, collab, config: LLMConfig, validated: bool):
    """(the Trainer's result, the summary's steps and losses): trains, resuming from the latest checkpoint
    in ``checkpoints`` (None: none kept), with the validation loss measured before (where asked) and after
    when there are validation rows."""
    before = trainer.evaluate()["eval_loss"] if validated and config.valid_loss_before else float("nan")
    resume = last_checkpoint(checkpoints) if checkpoints is not None else None
    if resume and collab is not None:
        _resume_projector(collab, resume)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    after = trainer.evaluate()["eval_loss"] if validated else float("nan")
    return result, {
        "steps": int(result.global_step),
        "train_loss": round(float(result.training_loss), 5),
        "valid_loss_before": round(float(before), 5),
        "valid_loss_after": round(float(after), 5),
    }


def _save(model, tokenizer, collab, out: Path, full_finetune: bool) -> None:
    """The adapter (or, fully fine-tuned, the model with its tokenizer) and any projector, in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    if full_finetune:
        tokenizer.save_pretrained(out)
    if collab is not None:
        collab.save(out)


def _throughput(trainer, result, rows: list[dict], epochs: float) -> dict[str, Any]:
    """The summary's token counts (real, and with the padding the Trainer counted) and speed."""
    seconds = float(result.metrics.get("train_runtime", 0.0))
    real = int(sum(len(r["input_ids"]) for r in rows) * epochs)
    padding = trainer.tokens["computed"] / max(1, trainer.tokens["real"])
    return {
        "train_tokens": real,
        "computed_tokens": round(real * padding),
        "seconds": round(seconds, 2),
        "tokens_per_second": round(real / seconds, 1) if seconds else 0.0,
    }


def _needs_checkpointing(model_dir: Path, config: LLMConfig, rows: list[dict]) -> bool:
    """Whether a step of the longest examples needs gradient checkpointing to fit the device's memory."""
    from recranker_core.llm.checks import needs_checkpointing

    tokens = max(1, config.batch_size // launch.world_size()) * max(len(r["input_ids"]) for r in rows)
    needed = needs_checkpointing(model_dir, config, tokens)
    if needed:
        log.info("gradient checkpointing: a batch of %d tokens would not fit the device's memory", tokens)
    return needed


def build_trainer(
    model, tokenizer, rows: tuple[list, list], config: LLMConfig, output_dir: str, seed: int, **options
):
    """(the Trainer of :func:`train` on ``rows`` (training, validation), the list its log records go into):
    batches grouped by length, the loss of :func:`answer_loss`, bfloat16 autocast with bfloat16 weights
    (``llm.dtype``). ``options``: ``saving`` (checkpoints in ``output_dir``), ``collab`` (a projector saved
    in them), ``checkpointing`` (gradient checkpointing)."""
    from transformers import DataCollatorForSeq2Seq, TrainerCallback

    from recranker_core.llm.device import dtype_name, resolve_dtype

    train_rows, valid_rows = rows
    launched = launch.world_size()
    per_process = max(1, config.batch_size // launched)
    steps = math.ceil(len(train_rows) / (per_process * launched) * config.epochs)
    bf16 = dtype_name(resolve_dtype(config.dtype)) == "bfloat16"
    args = _arguments(config, output_dir, steps, per_process, seed, bf16, **options)
    history: list[dict] = []

    class Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                history.append(
                    {"step": state.global_step, **{k: round(float(v), 5) for k, v in logs.items()}}
                )

        def on_step_end(self, args, state, control, **kwargs):
            terminal.check()  # a stop whose exception a finaliser swallowed ends here, within one step

    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE)
    kind = _answer_trainer(config.rank_loss)
    if options.get("collab") is not None:
        kind = _saving_projector(kind, options["collab"])
    trainer = kind(
        model=model,
        args=args,
        train_dataset=_ListDataset(train_rows),
        eval_dataset=_ListDataset(valid_rows),
        data_collator=_with_rank_fields(collator) if config.rank_loss > 0 else collator,
        callbacks=[Record()],
    )
    if args.disable_tqdm:  # the Trainer then prints each log record instead of drawing a bar
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer, history


def _trainable(model_dir: Path, config: LLMConfig, dtype=None):
    """(model, tokenizer): the model ready to train, with LoRA adapters on the configured layers unless
    fully fine-tuned. The frozen weights are kept in ``dtype``; a full fine-tune keeps float32 master
    weights (bfloat16 then only in autocast), since AdamW steps in bfloat16 round away small updates."""
    from recranker_core.llm.models import load

    if config.full_finetune:
        model, tokenizer = load(model_dir, trainable=True)
        model.train()
        return model, tokenizer
    model, tokenizer = load(model_dir, trainable=True, dtype=dtype)
    from peft import LoraConfig, get_peft_model

    layers = model.config.num_hidden_layers
    top = list(range(max(0, layers - config.lora_layers), layers)) if config.lora_layers else None
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        layers_to_transform=top,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora), tokenizer


def _arguments(
    config: LLMConfig, output_dir: str, steps: int, per_process: int, seed: int, bf16: bool, **options
):
    import torch
    from transformers import TrainingArguments

    saving, checkpointing = options.get("saving", False), options.get("checkpointing", False)
    return TrainingArguments(
        activation_checkpointing=checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        output_dir=output_dir,
        per_device_train_batch_size=per_process,
        per_device_eval_batch_size=per_process,
        prediction_loss_only=True,  # only the loss is read; kept logits filled a GPU's memory
        train_sampling_strategy="group_by_length",
        learning_rate=config.learning_rate,
        max_steps=steps,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, steps // 20),
        logging_steps=max(1, steps // 20),
        eval_strategy="steps" if config.eval_every else "no",
        eval_steps=config.eval_every or None,
        save_strategy="steps" if saving else "no",
        save_steps=config.checkpoint_steps if saving else None,
        save_total_limit=1 if saving else None,
        report_to=[],
        seed=seed,
        data_seed=seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=bf16,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=not log.isEnabledFor(logging.INFO),  # `-q`
    )


def _with_rank_fields(collator):
    """The padding collator, plus the rank_* fields as tensors (label lists padded with -1)."""
    import torch

    def collate(rows: list[dict]) -> dict:
        batch = collator([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
        width = max(1, *(len(r["rank_ids"]) for r in rows))
        batch["rank_ids"] = torch.tensor([r["rank_ids"] + [-1] * (width - len(r["rank_ids"])) for r in rows])
        batch["rank_position"] = torch.tensor([r["rank_position"] for r in rows])
        batch["rank_target"] = torch.tensor([r["rank_target"] for r in rows])
        return batch

    return collate


def _answer_trainer(rank_weight: float):
    """A Trainer class whose loss is :func:`answer_loss` (with ``rank_weight`` times the ranking loss), and
    which counts the real and computed (padded) tokens it trains on."""
    from transformers import Trainer

    class AnswerTrainer(Trainer):
        loss_is_scaled_for_ga = True  # answer_loss divides by the accumulated batch's answer tokens

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.tokens = {"real": 0, "computed": 0}

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training:
                self.tokens["real"] += int(inputs["attention_mask"].sum())
                self.tokens["computed"] += int(inputs["input_ids"].numel())
            processes = self.accelerator.num_processes if self.args.average_tokens_across_devices else 1
            loss, logits = answer_loss(model, inputs, num_items_in_batch, rank_weight, processes)
            return (loss, {"logits": logits}) if return_outputs else loss

    return AnswerTrainer


def _saving_projector(trainer: type, collab) -> type:
    """``trainer`` (a Trainer class) whose checkpoints hold the projector beside the adapter, written with
    it and so before the state file that marks a checkpoint whole: a resumed run continues both."""

    class SavingProjector(trainer):
        def _save(self, output_dir=None, state_dict=None):
            super()._save(output_dir, state_dict)
            collab.save(Path(output_dir or self.args.output_dir))

    return SavingProjector


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The latest whole checkpoint of the Trainer's in ``checkpoints``. The Trainer writes trainer_state.json
    last; a checkpoint without it, or with one that does not parse (a kill while it was being written), was
    cut short by a stop, and is removed (its folder would be the one the Trainer's own search resumes from,
    and fails on)."""
    whole = None
    for folder in sorted(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1])):
        if _readable_json(folder / "trainer_state.json"):
            whole = folder
        else:
            log.warning("%s: a checkpoint cut short by a stop; removed", folder)
            shutil.rmtree(folder)
    return whole


def _readable_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _resume_projector(collab, checkpoint: Path) -> None:
    """The projector as the checkpoint the Trainer resumes from holds it."""
    from recranker_core.llm.collab import FILE

    saved = checkpoint / FILE
    if not saved.is_file():
        raise InputError(
            f"{checkpoint}: the checkpoint has no {FILE}; remove {checkpoint.parent} to start afresh"
        )
    collab.load(saved)


class _ListDataset:
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]
