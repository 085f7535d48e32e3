"""The prompt record: one line of an instruction file, a chat and the meta that reads it back.

Typed dicts rather than classes, because a record's JSON line is its storage: the files stay exactly
what they were, and every reader sees which keys it may rely on. ``rundir.read_prompts`` checks the
required keys when a file is read; :func:`user_text` and :func:`history_line` are the one way to
reach into the chat.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

Task = Literal["pointwise", "pairwise", "listwise"]
Item = int | str
"""An item id as the files hold it (MovieLens ids are ints; other datasets' may be strings)."""


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class Seen(TypedDict):
    """The history a prompt showed, in the order shown."""

    liked: list[Item]
    disliked: list[Item]


class PromptMeta(TypedDict):
    task: Task
    split: str
    """Which phase it belongs to: "train", "valid", "test" or "valid-rerank"."""
    user_id: Item
    draw: int | None
    """The sampled draw (train and valid); None for rerank prompts."""
    variant: str
    """Which prompt of its user and task, e.g. "candidate 3", "pair 1-4 ba", "copy 0", "vs dislike"."""
    items: list[Item]
    """The items asked about, in the order shown."""
    permutation: list[int]
    """The shift: the order shown, as positions of the unshifted order."""
    shifted: Literal["history", "pair", "candidates"]
    hint: dict[str, list[float]]
    """Hint model -> the numbers its hint line shows (ratings, pair scores or top positions)."""
    history: Seen
    negatives: NotRequired[str]
    """How negatives were drawn (train and valid only)."""
    target: NotRequired[Item]
    """The item the answer is about (examples with an answer only)."""
    answer: NotRequired[str]


class Prompt(TypedDict):
    messages: list[Message]
    """System, user and (for training examples) assistant."""
    meta: PromptMeta


REQUIRED = ("split", "user_id", "task", "items", "variant")
"""The meta keys every stage relies on; a file whose lines lack one is refused when read."""


def user_text(prompt: Prompt) -> str:
    """What the user turn says: the history, the question and the hints."""
    return prompt["messages"][1]["content"]


def history_line(prompt: Prompt) -> str:
    """The user turn's first line, the history, which all of a user's rerank prompts share."""
    return user_text(prompt).split("\n", 1)[0]


def prefix_key(prompt: Prompt) -> tuple:
    """What a group of prompts sharing their prefix has in common: the phase, the user and the history
    shown (pointwise prompts may show ratings, so it is the text, not the user alone)."""
    meta = prompt["meta"]
    return meta["split"], meta["user_id"], history_line(prompt)
