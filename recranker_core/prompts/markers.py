"""Collaborative tokens in prompts (``prompts.collab_tokens``): where they stand and what they name.

A prompt marks the user once (after the history) and each item its task asks about (after the title),
in that order; the LLM reads the base model's vector of that user or item there (``llm.collab``). The
vectors come from the models of the prompt's phase, so training prompts never carry a vector learnt
from their held-out answer.
"""

from __future__ import annotations

MARKER = "<|cf|>"
"""One token (added to every tokenizer) that a projected vector replaces before the LLM reads it."""
TRAIN, FULL = "train", "full"
"""The vector phases: the train phase's models (without the held-out items) and those fitted on all
training rows (validation examples and every rerank prompt)."""


def phase(split: str) -> str:
    """The vector phase of a prompt of ``split`` (meta["split"])."""
    return TRAIN if split == "train" else FULL


def entities(meta: dict) -> list[tuple[str, str]]:
    """(kind, id) of each marker of a prompt, in text order: the user, then the items in shown order."""
    return [("user", str(meta["user_id"])), *(("item", str(item)) for item in meta["items"])]
