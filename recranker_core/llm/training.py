"""Instruction tuning on the chat-format JSONL: LoRA (peft) or full fine-tuning, via the HF Trainer.

The loss covers only the assistant's answer (and its end-of-turn token); the
three tasks are mixed in one seeded order. With ``llm.rank_loss``, a ranking
loss is added for the pairwise and listwise examples: the softmax cross-entropy
of the right answer's label among the labels the prompt shows, read at the
answer's first distinct token exactly as scoring reads it (for two labels, the
RankNet logistic loss). The adapter (or the full model) is saved as safetensors.
"""

from __future__ import annotations

import logging
import math
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
    """Mean softmax cross-entropy of each ranked row's target label among its labels' logits."""
    import torch

    keep = target >= 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    rows = logits[keep.nonzero().squeeze(1), position[keep]]
    chosen = rows.gather(1, ids[keep].clamp(min=0)).float().masked_fill(ids[keep] < 0, float("-inf"))
    return torch.nn.functional.cross_entropy(chosen, target[keep])


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
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, set_seed

    set_seed(seed)
    model, tokenizer = _trainable(model_dir, config)
    collab = None
    if vectors is not None:
        from recranker_core.llm import collab as tokens

        collab = tokens.attach(model, vectors, tokenizer)
    tokenizer.padding_side = "right"  # rank_position counts from the start of each row
    rng = np.random.default_rng(seed)
    ranked = config.rank_loss > 0
    train_rows, skipped_train = tokenize_examples(
        tokenizer, mixed_subset(train_examples, config.train_examples, rng), config.max_length, ranked, collab
    )
    valid_rows, skipped_valid = tokenize_examples(
        tokenizer, mixed_subset(valid_examples, config.valid_examples, rng), config.max_length, ranked, collab
    )
    if not train_rows:
        raise InputError(f"no training example fits llm.max_length = {config.max_length} tokens")
    launched = launch.world_size()
    per_process = max(1, config.batch_size // launched)
    steps = math.ceil(len(train_rows) / (per_process * launched) * config.epochs)
    scratch = tempfile.TemporaryDirectory(prefix="recranker-trainer-")
    saving = checkpoints is not None and config.checkpoint_steps > 0
    args = _arguments(config, str(checkpoints) if saving else scratch.name, steps, per_process, seed, saving)
    history: list[dict] = []

    class Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                history.append(
                    {"step": state.global_step, **{k: round(float(v), 5) for k, v in logs.items()}}
                )

    collator = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE)
    kind = _ranking_trainer(config.rank_loss) if ranked else Trainer
    trainer = (_saving_projector(kind, collab) if collab is not None else kind)(
        model=model,
        args=args,
        train_dataset=_ListDataset(train_rows),
        eval_dataset=_ListDataset(valid_rows),
        data_collator=_with_rank_fields(collator) if ranked else collator,
        callbacks=[Record()],
    )
    before = trainer.evaluate()["eval_loss"] if valid_rows else float("nan")
    resume = saving and any(checkpoints.glob("checkpoint-*/trainer_state.json"))
    if resume and collab is not None:
        _resume_projector(collab, checkpoints)
    result = trainer.train(resume_from_checkpoint=resume or None)
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
    return {
        "examples": len(train_rows),
        "skipped_too_long": skipped_train + skipped_valid,
        "valid_examples": len(valid_rows),
        "steps": int(result.global_step),
        "train_loss": round(float(result.training_loss), 5),
        "valid_loss_before": round(float(before), 5),
        "valid_loss_after": round(float(after), 5),
        "trainable_parameters": int(trainable),
        "train_tokens": int(sum(len(r["input_ids"]) for r in train_rows) * config.epochs),
        "seconds": round(float(result.metrics.get("train_runtime", 0.0)), 2),
        "log": history,
    }


def _trainable(model_dir: Path, config: LLMConfig):
    """(model, tokenizer): the model ready to train, with LoRA adapters on the configured layers unless
    fully fine-tuned."""
    from recranker_core.llm.models import load

    model, tokenizer = load(model_dir, trainable=True)
    if config.full_finetune:
        model.train()
        return model, tokenizer
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


def _arguments(config: LLMConfig, output_dir: str, steps: int, per_process: int, seed: int, saving: bool):
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=per_process,
        per_device_eval_batch_size=per_process,
        prediction_loss_only=True,  # only the loss is read; kept logits filled a GPU's memory
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
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=False,
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


def _ranking_trainer(weight: float):
    """A Trainer class whose loss is the language-model loss plus ``weight`` times :func:`ranking_loss`."""
    from transformers import Trainer

    class RankingTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            fields = [inputs.pop(k) for k in ("rank_position", "rank_ids", "rank_target")]
            loss, outputs = super().compute_loss(model, inputs, True, num_items_in_batch)
            loss = loss + weight * ranking_loss(outputs.logits, *fields)
            return (loss, outputs) if return_outputs else loss

    return RankingTrainer


def _saving_projector(trainer: type, collab) -> type:
    """``trainer`` (a Trainer class) whose checkpoints hold the projector beside the adapter, written with
    it and so before the state file that marks a checkpoint whole: a resumed run continues both."""

    class SavingProjector(trainer):
        def _save(self, output_dir=None, state_dict=None):
            super()._save(output_dir, state_dict)
            collab.save(Path(output_dir or self.args.output_dir))

    return SavingProjector


def _resume_projector(collab, checkpoints: Path) -> None:
    """The projector as the checkpoint the Trainer resumes from holds it."""
    from transformers.trainer_utils import get_last_checkpoint

    from recranker_core.llm.collab import FILE

    saved = Path(get_last_checkpoint(str(checkpoints))) / FILE
    if not saved.is_file():
        raise InputError(
            f"{saved.parent}: the checkpoint has no {FILE}; remove {checkpoints} to start afresh"
        )
    collab.load(saved)


class _ListDataset:
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]
