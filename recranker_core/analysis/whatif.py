"""What-if on a stored prompt: leave history items or the hint out, score the edited prompt as the
rerank stage does, and attribute the prompt's score to each history item and the hint (leave one out).

Edits work on the prompt's text, the very text the model read: a history line is the list of quoted
titles (with ratings in pointwise prompts) after "The user liked/disliked these movies:", and a hint
is a line that starts with "Hint:"."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recranker_core.errors import InputError

ENTRY = re.compile(r'"(.*?)"(?:: (\d+))?(?:, |$)')
HISTORY = {"liked": "The user liked these ", "disliked": "The user disliked these "}
NONE = "None."


@dataclass(frozen=True)
class Edit:
    """What to change in a prompt."""

    leave_out: tuple[str, ...] = ()
    """Titles of history items to leave out (as the prompt writes them)."""
    hint: bool = True
    """Keep the hint line(s)."""


def history(prompt: dict) -> dict[str, list[str]]:
    """The titles of the prompt's liked and disliked history, in the order shown."""
    found = {kind: [] for kind in HISTORY}
    for line in _text(prompt).split("\n"):
        for kind, start in HISTORY.items():
            if line.startswith(start):
                found[kind] = [m.group(1) for m in ENTRY.finditer(line.split(": ", 1)[1])]
    return found


def edited(prompt: dict, edit: Edit) -> dict:
    """A copy of ``prompt`` with ``edit`` applied; an InputError names an unknown title or a history left
    without likes."""
    shown = history(prompt)
    unknown = set(edit.leave_out) - set(shown["liked"]) - set(shown["disliked"])
    if unknown:
        raise InputError(f"not in this prompt's history: {', '.join(sorted(unknown))}")
    if shown["liked"] and set(shown["liked"]) <= set(edit.leave_out):
        raise InputError("keep at least one liked item: the prompt needs a history")
    lines = []
    for line in _text(prompt).split("\n"):
        if line.startswith("Hint:") and not edit.hint:
            continue
        kind = next((k for k, start in HISTORY.items() if line.startswith(start)), None)
        if kind:
            head, entries = line.split(": ", 1)
            kept = [
                m.group(0).removesuffix(", ")
                for m in ENTRY.finditer(entries)
                if m.group(1) not in edit.leave_out
            ]
            line = f"{head}: {', '.join(kept) if kept else NONE}"
        lines.append(line)
    result = copy.deepcopy(prompt)
    result["messages"][1]["content"] = "\n".join(lines)
    return result


def variants(prompt: dict) -> tuple[list[dict], pd.DataFrame]:
    """The prompt, then the prompt without each history item and without its hint: the prompts to score
    for attribution, and one row per left-out part (part, kind)."""
    shown = history(prompt)
    parts = [(title, kind) for kind in HISTORY for title in shown[kind]]
    prompts = [prompt] + [edited(prompt, Edit(leave_out=(title,))) for title, _ in parts]
    if any(line.startswith("Hint:") for line in _text(prompt).split("\n")):
        parts.append(("the hint", "hint"))
        prompts.append(edited(prompt, Edit(hint=False)))
    return prompts, pd.DataFrame(parts, columns=["part", "kind"])


def prompt_score(task: str, probs: np.ndarray, scale: tuple[int, int], position: int = 0) -> float:
    """What the rerank stage reads from a prompt's label probabilities: the expected rating (pointwise),
    P(Yes) (pairwise), or the probability of the label at ``position`` (listwise)."""
    probs = np.asarray(probs, dtype=float)
    if task == "pointwise":
        return float(np.dot(probs, np.arange(scale[0], scale[1] + 1)) / probs.sum())
    if task == "pairwise":
        return float(probs[0] / probs.sum())
    return float(probs[position] / probs.sum())


def attribution(scores: list[float], parts: pd.DataFrame) -> pd.DataFrame:
    """``parts`` with ``influence``: the full prompt's score minus the score without that part (> 0: the
    part raised it). ``scores``: the full prompt's, then one per part, as ``variants`` orders them."""
    return parts.assign(without=scores[1:], influence=scores[0] - np.asarray(scores[1:]))


def _text(prompt: dict) -> str:
    return prompt["messages"][1]["content"]
