"""One prompt as the model saw it: its parts marked (history, hints, the shifted part), the shown
order against the original one, and what the model answered."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd

from recranker_core.llm.rerank import task_labels
from recranker_core.prompt_record import Prompt
from recranker_core.prompts import markers, templates

CANDIDATE_LINE = re.compile(r"^\([A-Z]\) ")
STYLES = {
    "system": "color:#6b7280",
    "history": "",
    "question": "",
    # Light backgrounds carry their own dark text, so that they read in the dark theme too.
    "shifted": "background:#d3f9d8;color:#1f2430;border-radius:3px",
    "hint": "background:#dbe4ff;color:#1f2430;border-radius:3px",
    "collab": "background:#ffe8cc;color:#1f2430;border:1px solid #f59f00;border-radius:3px;font-weight:600",
}
LEGEND = {
    "shifted": "shifted (order permuted for this prompt)",
    "hint": "hint from a conventional recommender",
    "collab": "collaborative token: the base model's vector",
}


def prompt_users(prompts: list[Prompt]) -> pd.DataFrame:
    """user_id and a label ("user 7 · 18 prompts") for every user with prompts, in file order."""
    counts = pd.Series([p["meta"]["user_id"] for p in prompts]).value_counts(sort=False)
    return pd.DataFrame(
        {"user_id": counts.index.tolist(), "label": [f"user {u} · {n} prompts" for u, n in counts.items()]}
    )


def segments(prompt: Prompt) -> list[tuple[str, str]]:
    """(kind, text) lines of the prompt: system, history, question, shifted or hint.

    The shifted part is what the prompt's permutation reordered (the liked history, the pair,
    or the candidate list); it is marked only when the permutation is not the identity."""
    meta = prompt["meta"]
    permutation = list(meta.get("permutation", []))
    shifted = meta.get("shifted") if permutation != sorted(permutation) else None
    parts: list[tuple[str, str]] = []
    for message in prompt["messages"]:
        if message["role"] == "system":
            parts.append(("system", message["content"]))
            continue
        if message["role"] != "user":
            continue
        for line in message["content"].split("\n"):
            if line.startswith("Hint:"):
                kind = "hint"
            elif line.startswith("The user liked"):
                kind = "shifted" if shifted == "history" else "history"
            elif line.startswith(("The user disliked", templates.USER_VECTOR)):
                kind = "history"
            elif CANDIDATE_LINE.match(line):
                kind = "shifted" if shifted == "candidates" else "question"
            elif line.startswith("Does the user prefer"):
                kind = "shifted" if shifted == "pair" else "question"
            else:
                kind = "question"
            parts.append((kind, line))
    return parts


def has_markers(prompt: Prompt) -> bool:
    """Whether the prompt carries collaborative tokens (``prompts.collab_tokens``)."""
    return any(markers.MARKER in message["content"] for message in prompt["messages"])


def to_html(parts: list[tuple[str, str]], meta: dict | None = None) -> str:
    """The prompt's parts, styled; with the prompt's ``meta``, each collaborative token is a chip naming the
    user or item whose vector the model reads there."""
    names = iter(f"{kind} {key}" for kind, key in markers.entities(meta)) if meta else iter(())
    chip = re.escape(html.escape(markers.MARKER))

    def named(_match) -> str:
        return f'<span style="{STYLES["collab"]}">⟨{html.escape(next(names, "?"))}⟩</span>'

    lines = [
        f'<span style="{STYLES[kind]}">{re.sub(chip, named, html.escape(text))}</span>'
        for kind, text in parts
    ]
    body = "<br>".join(lines)
    return (
        '<div style="font-family:ui-monospace,Menlo,monospace;font-size:0.85rem;line-height:1.5;'
        'border:1px solid #e3e7ef;border-radius:6px;padding:0.8rem;white-space:pre-wrap">'
        f"{body}</div>"
    )


def legend_html(marked: bool = False) -> str:
    """The legend of the styles; the collaborative token's only for a ``marked`` prompt."""
    chips = [
        f'<span style="{STYLES[kind]};padding:0 0.4rem">{html.escape(text)}</span>'
        for kind, text in LEGEND.items()
        if marked or kind != "collab"
    ]
    return '<div style="font-size:0.8rem">' + " &nbsp; ".join(chips) + "</div>"


def shown_order(prompt: Prompt, titles: dict, target) -> pd.DataFrame:
    """The items in shown order: shown position, label, title, original position, target."""
    meta = prompt["meta"]
    items = list(meta["items"])
    permutation = list(meta.get("permutation", range(len(items))))
    if meta.get("shifted") == "history":  # pointwise shifts the history, not the one item
        permutation = [0]
    labels = (
        task_labels("listwise", len(items))
        if meta["task"] == "listwise"
        else [f"{i + 1}." for i in range(len(items))]
    )
    return pd.DataFrame(
        {
            "shown": range(1, len(items) + 1),
            "label": labels,
            "title": [titles.get(item, f"item {item}") for item in items],
            "original position": [p + 1 for p in permutation[: len(items)]],
            "target": [item == target for item in items],
        }
    )


def answer_table(task: str, probs, scale: tuple[int, int]) -> pd.DataFrame:
    """The label distribution the model gave: label, probability (pointwise: ratings; pairwise:
    Yes./No.; listwise: one label per shown candidate)."""
    probs = np.asarray(probs, dtype=float)
    return pd.DataFrame({"label": list(task_labels(task, len(probs), scale)), "probability": probs})
