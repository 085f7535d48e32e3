"""The rows instruction tuning trains on: each chat example tokenized with its prompt masked out of the
labels (and, for the ranking loss, where its answer's label is read among the shown ones), and the
examples of the three tasks mixed in one seeded order."""

from __future__ import annotations

import numpy as np

from recranker_core.prompt_record import Prompt

IGNORE = -100
RANKED = ("pairwise", "listwise")
"""The tasks whose answer picks among shown labels, which the ranking loss covers."""


def tokenize_examples(
    tokenizer, examples: list[Prompt], max_length: int, ranked: bool = False, collab=None
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


def rank_fields(tokenizer, example: Prompt, start: int, full_ids: list[int], tokens: dict) -> dict:
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


def mixed_subset(examples: list[Prompt], limit: int, rng: np.random.Generator) -> list[Prompt]:
    """Up to ``limit`` examples (0 = all), tasks interleaved evenly, in a seeded order."""
    by_task: dict[str, list[Prompt]] = {}
    for index in rng.permutation(len(examples)):
        by_task.setdefault(examples[index]["meta"]["task"], []).append(examples[index])
    interleaved = [e for group in _round_robin(list(by_task.values())) for e in group]
    return interleaved[:limit] if limit else interleaved


def _round_robin(groups: list[list[Prompt]]):
    for i in range(max((len(g) for g in groups), default=0)):
        yield [g[i] for g in groups if i < len(g)]


def context_length(config) -> int:
    """The longest sequence the model reads (its position embeddings' count)."""
    return int(getattr(config.get_text_config(), "max_position_embeddings", 0) or 2048)
