"""Hints from conventional recommenders, as sentences in the prompt."""

from __future__ import annotations

import math

from recranker_core.prompts.templates import LABELS


def rating(model: str, value: float) -> str:
    if math.isnan(value):
        return f"Hint: {model} has no prediction."
    return f"Hint: {model} predicts {value:.1f}."


def pairwise(model: str, first: float, second: float) -> str:
    if math.isnan(first) or math.isnan(second) or first == second:
        return f"Hint: {model} scores both the same."
    return f"Hint: {model} prefers the {'first' if first > second else 'second'}."


def listwise(model: str, top_positions: list[int]) -> str:
    return f"Hint: {model} ranks {' '.join(LABELS[p] for p in top_positions)} highest."
