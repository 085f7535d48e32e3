"""One template per task. Answers are exactly what the scoring code reads:
a rating digit (pointwise), "Yes." / "No." (pairwise), candidate labels "(A) (B) ..." (listwise)."""

from __future__ import annotations

from string import ascii_uppercase

from recranker_core.prompts.markers import MARKER

DEFAULT_DOMAIN = "movie"
"""What items are called where neither the profile nor the dataset says (the paper's MovieLens)."""
SYSTEM = "You are a {domain} recommender. From a user's ratings you judge which {domain}s they will like."
YES, NO = "Yes.", "No."
LABELS = tuple(f"({letter})" for letter in ascii_uppercase)

# Kept short on purpose: on a CPU every prompt token costs about 4 ms.


def history(
    liked: list[str], disliked: list[str], domain: str, in_order: bool = False, marked: bool = False
) -> str:
    liked_text = ", ".join(liked) if liked else "None."
    disliked_text = ", ".join(disliked) if disliked else "None."
    order = " (in the order rated, most recent last)" if in_order else ""
    text = (
        f"The user liked these {domain}s{order}: {liked_text}\n"
        f"The user disliked these {domain}s{order}: {disliked_text}"
    )
    return text + (f"\n{USER_VECTOR} {MARKER}" if marked else "")


USER_VECTOR = "The user's preference vector:"


def pointwise(item: str, domain: str, low: int, high: int) -> str:
    return f"Rate the {domain} {item} for this user from {low} to {high}. Answer with one number."


def pairwise(first: str, second: str, domain: str) -> str:
    return f"Does the user prefer the {domain} {first} to the {domain} {second}? Answer {YES} or {NO}"


def listwise(candidates: list[str], domain: str, answer: int) -> str:
    lines = "\n".join(f"{LABELS[i]} {text}" for i, text in enumerate(candidates))
    return (
        f"Candidate {domain}s:\n{lines}\n"
        f"Rank them for the user. Answer with the top {answer} labels, best first."
    )


def listwise_answer(positions: list[int]) -> str:
    return " ".join(LABELS[p] for p in positions)
