"""Instruction tuning on the chat-format JSONL: LoRA (peft) or full fine-tuning, via the HF Trainer.

The loss covers only the assistant's answer (and its end-of-turn token), and the output matrix is applied
only at the positions that predict an answer token (about 1% of them: the vocabulary's logits at every
position cost a fifth of the FLOPs and gigabytes per step); batches are grouped by length, so padding
stays near zero. The three tasks are mixed in one seeded order. With ``llm.rank_loss``, a ranking loss is
added for the pairwise and listwise examples: the softmax cross-entropy of the right answer's label among
the labels the prompt shows, read at the answer's first distinct token exactly as scoring reads it (for
two labels, the RankNet logistic loss). The adapter (or the full model) is saved as safetensors.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from recranker_core import launch
from recranker_core.config import LLMConfig
from recranker_core.errors import InputError

log = logging.getLogger("recranker")
IGNORE = -100
RANKED = ("pairwise", "listwise")
"""The tasks whose answer picks among shown labels, which the ranking loss covers."""


def tokenize_examples(
    tokenizer, examples: list[dict], max_length: int, ranked: bool = False, collab=None
) -> tuple[list[dict], int]:
    """input_ids / labels per example with the prompt masked out (and, when ``ranked``, the ranking loss's
    ``rank_*`` fields); also the count skipped as too long. With ``collab`` (``llm.collab.CollabTokens``),
    the input ids name the vectors of the collaborative tokens."""
    rows, skipped, tokens = [], 0, {}
    for example in examples:
        messages = example["messages"]
        prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
        if len(full_ids) > max_length or full_ids[: len(prompt_ids)] != prompt_ids:
            skipped += 1
            continue
        labels = [IGNORE] * len(prompt_ids) + full_ids[len(prompt_ids) :]
        inputs = collab.mark(full_ids, example["meta"]) if collab is not None else full_ids
        row = {"input_ids": inputs, "labels": labels}
        rows.append(
            row | rank_fields(tokenizer, example, len(prompt_ids), full_ids, tokens) if ranked else row
        )
    return rows, skipped


def rank_fields(tokenizer, example: dict, start: int, full_ids: list[int], tokens: dict) -> dict:
    """rank_position (where the logits predict the answer's first distinct token), rank_ids (the shown
    labels' tokens there) and rank_target (the answer's label among them); -1 / [] when the example is
    not ranked or its answer does not start with one of its labels. ``tokens`` caches label sets."""
    from recranker_core.llm.rerank import task_labels
    from recranker_core.llm.scoring import label_tokens

    meta = example["meta"]
    none = {"rank_position": -1, "rank_ids": [], "rank_target": -1}
    if meta["task"] not in RANKED:
        return none
    key = (meta["task"], len(meta["items"]))
    if key not in tokens:
        tokens[key] = label_tokens(tokenizer, example["messages"], task_labels(*key))
    label = tokens[key]
    position = start + len(label.prefix)
    if full_ids[start:position] != list(label.prefix) or full_ids[position] not in label.ids:
        return none
    return {
        "rank_position": position - 1,
        "rank_ids": list(label.ids),
        "rank_target": label.ids.index(full_ids[position]),
    }


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


def mixed_subset(examples: list[dict], limit: int, rng: np.random.Generator) -> list[dict]:
    """Up to ``limit`` examples (0 = all), tasks interleaved evenly, in a seeded order."""
    by_task: dict[str, list[dict]] = {}
    for index in rng.permutation(len(examples)):
        by_task.setdefault(examples[index]["meta"]["task"], []).append(examples[index])
    interleaved = [e for group in _round_robin(list(by_task.values())) for e in group]
    return interleaved[:limit] if limit else interleaved


def _round_robin(groups: list[list[dict]]):
    for i in range(max((len(g) for g in groups), default=0)):
        yield [g[i] for g in groups if i < len(g)]


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
    rng = np.random.default_rng(seed)
    ranked = config.rank_loss > 0
    longest = config.max_length or context_length(model.config)
    train_rows, skipped_train = tokenize_examples(
        tokenizer, mixed_subset(train_examples, config.train_examples, rng), longest, ranked, collab
    )
    valid_rows, skipped_valid = tokenize_examples(
        tokenizer, mixed_subset(valid_examples, config.valid_examples, rng), longest, ranked, collab
    )
    if not train_rows:
        limit = f"llm.max_length = {longest}" if config.max_length else f"the model's context of {longest}"
        raise InputError(f"no training example fits {limit} tokens; show less history (prompts.max_liked)")
    scratch = tempfile.TemporaryDirectory(prefix="recranker-trainer-")
    saving = checkpoints is not None and config.checkpoint_steps > 0
    folder = str(checkpoints) if saving else scratch.name
    trainer, history = build_trainer(
        model,
        tokenizer,
        (train_rows, valid_rows),
        config,
        folder,
        seed,
        saving=saving,
        collab=collab,
        checkpointing=_needs_checkpointing(model_dir, config, train_rows),
    )
    before = trainer.evaluate()["eval_loss"] if valid_rows and config.valid_loss_before else float("nan")
    resume = last_checkpoint(checkpoints) if saving else None
    if resume and collab is not None:
        _resume_projector(collab, resume)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    after = trainer.evaluate()["eval_loss"] if valid_rows else float("nan")
    scratch.cleanup()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out, safe_serialization=True)
        if config.full_finetune:
            tokenizer.save_pretrained(out)
        if collab is not None:
            collab.save(out)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    seconds = float(result.metrics.get("train_runtime", 0.0))
    real = int(sum(len(r["input_ids"]) for r in train_rows) * config.epochs)
    padding = trainer.tokens["computed"] / max(1, trainer.tokens["real"])
    return {
        "examples": len(train_rows),
        "skipped_too_long": skipped_train + skipped_valid,
        "max_length": longest,
        "valid_examples": len(valid_rows),
        "steps": int(result.global_step),
        "train_loss": round(float(result.training_loss), 5),
        "valid_loss_before": round(float(before), 5),
        "valid_loss_after": round(float(after), 5),
        "trainable_parameters": int(trainable),
        "device": str(trainer.args.device),
        "dtype": dtype_name(dtype),
        "train_tokens": real,
        "computed_tokens": round(real * padding),
        "seconds": round(seconds, 2),
        "tokens_per_second": round(real / seconds, 1) if seconds else 0.0,
        "log": history,
    }


def _needs_checkpointing(model_dir: Path, config: LLMConfig, rows: list[dict]) -> bool:
    """Whether a step of the longest examples needs gradient checkpointing to fit the device's memory."""
    from recranker_core.llm.checks import needs_checkpointing

    tokens = max(1, config.batch_size // launch.world_size()) * max(len(r["input_ids"]) for r in rows)
    needed = needs_checkpointing(model_dir, config, tokens)
    if needed:
        log.info("gradient checkpointing: a batch of %d tokens would not fit the device's memory", tokens)
    return needed


def context_length(config) -> int:
    """The longest sequence the model reads (its position embeddings' count)."""
    return int(getattr(config.get_text_config(), "max_position_embeddings", 0) or 2048)


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
    last; a checkpoint without it was cut short by a stop, and is removed (its folder would be the one the
    Trainer's own search resumes from, and fails on)."""
    whole = None
    for folder in sorted(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1])):
        if (folder / "trainer_state.json").is_file():
            whole = folder
        else:
            log.warning("%s: a checkpoint cut short by a stop; removed", folder)
            shutil.rmtree(folder)
    return whole


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
