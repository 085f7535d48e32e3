"""Instruction tuning on the chat-format JSONL: LoRA (peft) or full fine-tuning, via the HF Trainer.

The loss covers only the assistant's answer (and its end-of-turn token); the
three tasks are mixed in one seeded order. The adapter (or the full model) is
saved as safetensors.
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


def tokenize_examples(tokenizer, examples: list[dict], max_length: int) -> tuple[list[dict], int]:
    """input_ids / labels per example with the prompt masked out; also the count skipped as too long."""
    rows, skipped = [], 0
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
        rows.append({"input_ids": full_ids, "labels": labels})
    return rows, skipped


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
) -> dict[str, Any]:
    """Fit and save into ``out`` (adapter_model.safetensors, or model.safetensors when full fine-tuning;
    None: not saved, for the other processes of an `accelerate launch`).

    With ``checkpoints`` (and ``config.checkpoint_steps``), the Trainer saves its state there every
    ``checkpoint_steps`` steps and resumes from the latest one found. Launched in several processes,
    each takes ``batch_size / processes`` examples of every step, so a step still sees ``batch_size``."""
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, set_seed

    set_seed(seed)
    model, tokenizer = _trainable(model_dir, config)
    rng = np.random.default_rng(seed)
    train_rows, skipped_train = tokenize_examples(
        tokenizer, mixed_subset(train_examples, config.train_examples, rng), config.max_length
    )
    valid_rows, skipped_valid = tokenize_examples(
        tokenizer, mixed_subset(valid_examples, config.valid_examples, rng), config.max_length
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

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_ListDataset(train_rows),
        eval_dataset=_ListDataset(valid_rows),
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE),
        callbacks=[Record()],
    )
    before = trainer.evaluate()["eval_loss"] if valid_rows else float("nan")
    resume = saving and any(checkpoints.glob("checkpoint-*/trainer_state.json"))
    result = trainer.train(resume_from_checkpoint=resume or None)
    after = trainer.evaluate()["eval_loss"] if valid_rows else float("nan")
    scratch.cleanup()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out, safe_serialization=True)
        if config.full_finetune:
            tokenizer.save_pretrained(out)
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


class _ListDataset:
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]
