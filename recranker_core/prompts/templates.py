"""One template per task. Answers are exactly what the scoring code reads:
a rating digit (pointwise), "Yes." / "No." (pairwise), candidate labels "(A) (B) ..." (listwise)."""

from __future__ import annotations

from string import ascii_uppercase

SYSTEM = (
    "You are a recommender system. From a user's rating history you judge how much the user "
    "will like {domain}s they have not seen yet."
)
YES, NO = "Yes.", "No."
LABELS = tuple(f"({letter})" for letter in ascii_uppercase)


def history(liked: list[str], disliked: list[str], domain: str) -> str:
    liked_text = ", ".join(liked) if liked else "None."
    disliked_text = ", ".join(disliked) if disliked else "None."
    return f"The user liked these {domain}s: {liked_text}\nThe user disliked these {domain}s: {disliked_text}"


def pointwise(item: str, domain: str, low: int, high: int) -> str:
    return (
        f"How would the user rate the {domain} {item} on a scale from {low} to {high}?\n"
        f"Answer with a single number from {low} to {high}."
    )


def pairwise(first: str, second: str, domain: str) -> str:
    return (
        f"Would the user prefer the {domain} {first} over the {domain} {second}?\n"
        f"Answer {YES} or {NO}"
    )


def listwise(candidates: list[str], domain: str, answer: int) -> str:
    lines = "\n".join(f"{LABELS[i]} {text}" for i, text in enumerate(candidates))
    return (
        f"Candidate {domain}s:\n{lines}\n"
        f"Rank the candidates for the user. Answer with the labels of the top {answer}, best first, "
        f"separated by spaces."
    )


def listwise_answer(positions: list[int]) -> str:
    return " ".join(LABELS[p] for p in positions)
