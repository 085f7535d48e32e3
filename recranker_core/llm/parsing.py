"""Reading free-text answers (the paper's generate-and-parse mode). Each parser returns None on failure."""

from __future__ import annotations

import re

from recranker_core.prompts.templates import LABELS


def parse_rating(text: str, low: int, high: int) -> int | None:
    """The first whole number in the answer, if it lies on the scale."""
    match = re.search(r"-?\d+(?:\.\d+)?", text)
    if match is None:
        return None
    value = float(match.group())
    return int(value) if value == int(value) and low <= value <= high else None


def parse_yes_no(text: str) -> bool | None:
    """True for an answer starting with yes, False for no."""
    word = re.match(r"\s*([A-Za-z]+)", text)
    if word is None:
        return None
    return {"yes": True, "no": False}.get(word.group(1).lower())


def parse_ranking(text: str, n: int) -> list[int] | None:
    """Candidate positions named by their labels "(A)".."(J)", in order, without repeats."""
    letters = re.findall(r"\(([A-Z])\)", text)
    valid = {label[1] for label in LABELS[:n]}
    positions = list(dict.fromkeys(ord(letter) - ord("A") for letter in letters if letter in valid))
    return positions or None
