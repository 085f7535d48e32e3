"""Assemble one prompt (chat messages + meta) per example from item ids, scores and a shift.

An example is a dict ``{"messages": [...], "meta": {...}}``: system and user
messages, plus the assistant's answer for training and validation examples.
``meta`` records everything needed to read the prompt back: the task, the user,
the items in shown order, the permutation that produced that order, the history
shown, every hint value, and (train/valid only) the target and the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recranker_core.config import PromptConfig
from recranker_core.prompt_record import Prompt
from recranker_core.prompts import hints, markers, shift, templates

POPULARITY_BUCKETS = ((0.10, "very popular"), (0.30, "popular"), (0.60, "known"), (1.01, "niche"))


@dataclass(frozen=True)
class Catalogue:
    """How items are written in prompts: quoted title, optionally genres and a popularity bucket."""

    titles: dict
    genres: dict
    popularity: dict
    """item -> bucket name, from like counts in the data the phase's hint models learn from."""
    show_genres: bool
    show_popularity: bool

    @classmethod
    def build(cls, items: pd.DataFrame, rows: pd.DataFrame, config: PromptConfig) -> Catalogue:
        """items: item_id, title, genres; rows: the phase's training rows (item_id, feedback), whose likes
        set the popularity buckets."""
        likes = rows.loc[rows["feedback"] == "like"].groupby("item_id").size()
        counts = likes.reindex(items["item_id"]).fillna(0).to_numpy()
        share_above = (-counts).argsort(kind="stable").argsort() / max(len(counts), 1)
        buckets = [next(name for cut, name in POPULARITY_BUCKETS if s < cut) for s in share_above]
        return cls(
            titles=dict(zip(items["item_id"], items["title"])),
            genres=dict(zip(items["item_id"], items["genres"])),
            popularity=dict(zip(items["item_id"], buckets)),
            show_genres=config.genres,
            show_popularity=config.popularity,
        )

    def text(self, item) -> str:
        extras = []
        if self.show_genres and len(self.genres.get(item, [])):
            extras.append(", ".join(self.genres[item]))
        if self.show_popularity:
            extras.append(self.popularity.get(item, "niche"))
        title = f'"{self.titles.get(item, f"item {item}")}"'
        return f"{title} ({'; '.join(extras)})" if extras else title


@dataclass(frozen=True)
class History:
    liked: tuple
    """Liked items in shown order, at most max_liked."""
    disliked: tuple
    """Disliked items in shown order, at most max_disliked (none when fewer than min_disliked)."""
    ratings: dict
    """item -> rating, for the pointwise prompts that show them."""

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, config: PromptConfig, rng: np.random.Generator) -> History:
        """rows: one user's rows (item_id, rating, feedback, seq), already limited to what the prompt may
        show.

        "random": a random draw of each kind, in random order; "recent": the most recent first; the sequential
        scenario: the most recent in time order, newest last."""
        rows = rows.sort_values("seq", ascending=False, kind="stable")
        if config.history == "random" and not config.sequential:
            rows = rows.iloc[rng.permutation(len(rows))]
        liked = tuple(rows.loc[rows["feedback"] == "like", "item_id"].head(config.max_liked))
        disliked = tuple(rows.loc[rows["feedback"] == "dislike", "item_id"].head(config.max_disliked))
        if len(disliked) < max(config.min_disliked, 1):
            disliked = ()
        if config.sequential:
            liked, disliked = liked[::-1], disliked[::-1]
        shown = set(liked) | set(disliked)
        return cls(liked, disliked, {i: r for i, r in zip(rows["item_id"], rows["rating"]) if i in shown})

    def reordered(self, perm: list[int]) -> History:
        """The same history with the liked items shown in order ``perm``."""
        return History(tuple(self.liked[i] for i in perm), self.disliked, self.ratings)


class PromptBuilder:
    def __init__(
        self, config: PromptConfig, catalogue: Catalogue, scale: tuple[int, int], labels: dict[str, str]
    ):
        self.config = config
        self.catalogue = catalogue
        # A config no dataset has filled in (config.with_domain) reads as the paper's movies
        self.domain = config.domain or templates.DEFAULT_DOMAIN
        self.low, self.high = scale
        self.labels = labels
        """model name -> how hints call it."""

    # -- the three tasks -------------------------------------------------------------------------

    def pointwise(
        self,
        head: dict,
        history: History,
        item,
        rng,
        *,
        rating_hint: float | None,
        answer: int | None,
        perm: list[int] | None = None,
    ):
        """head: split, user_id, variant (and draw). The liked history is shown in order ``perm``,
        or in a fresh shuffle when shifting (identity otherwise)."""
        if perm is None:
            perm = shift.permutation(
                len(history.liked), rng, self.config.shift and not self.config.sequential
            )
        question = templates.pointwise(self._candidate(item), self.domain, self.low, self.high)
        hint_lines, hint_meta = [], {}
        if rating_hint is not None:
            hint_lines.append(hints.rating(self.labels[self.config.rating_hint_model], rating_hint))
            hint_meta[self.config.rating_hint_model] = [_number(rating_hint)]
        meta = {
            "task": "pointwise",
            **head,
            "items": [plain(item)],
            "permutation": perm,
            "shifted": "history",
            "hint": hint_meta,
        }
        answer_text = None if answer is None else str(answer)
        shown = history.reordered(perm)
        return self._example(
            shown, question, hint_lines, meta, answer_text, target=item, rated=self.config.pointwise_ratings
        )

    def pairwise(
        self,
        head: dict,
        history: History,
        pair: tuple,
        swap: bool,
        *,
        scores: dict[str, tuple[float, float]],
        positive=None,
    ):
        """pair: the two items in original order; scores: hint model -> (score of pair[0], of pair[1])."""
        perm = [1, 0] if swap else [0, 1]
        first, second = pair[perm[0]], pair[perm[1]]
        question = templates.pairwise(self._candidate(first), self._candidate(second), self.domain)
        hint_lines = [
            hints.pairwise(self.labels[model], pair_scores[perm[0]], pair_scores[perm[1]])
            for model, pair_scores in scores.items()
        ]
        meta = {
            "task": "pairwise",
            **head,
            "items": [plain(first), plain(second)],
            "permutation": perm,
            "shifted": "pair",
            "hint": {model: [_number(s[perm[0]]), _number(s[perm[1]])] for model, s in scores.items()},
        }
        answer = None if positive is None else (templates.YES if first == positive else templates.NO)
        return self._example(history, question, hint_lines, meta, answer, target=positive)

    def listwise(
        self,
        head: dict,
        history: History,
        items: list,
        perm: list[int],
        *,
        scores: dict[str, np.ndarray],
        ranking: list | None = None,
    ):
        """items: candidates in original (base-score) order; scores: hint model -> scores in that order;
        ranking: the answer's items, best first (train/valid); the first is recorded as the target."""
        shown = [items[i] for i in perm]
        question = templates.listwise([self._candidate(i) for i in shown], self.domain, self._top)
        hint_lines, hint_meta = [], {}
        for model, model_scores in scores.items():
            shown_scores = np.asarray(model_scores, dtype=float)[perm]
            top = list(np.argsort(-np.nan_to_num(shown_scores, nan=-np.inf), kind="stable")[: self._top])
            hint_lines.append(hints.listwise(self.labels[model], top))
            hint_meta[model] = [int(p) for p in top]
        meta = {
            "task": "listwise",
            **head,
            "items": [plain(i) for i in shown],
            "permutation": perm,
            "shifted": "candidates",
            "hint": hint_meta,
        }
        answer = None
        if ranking is not None:
            answer = templates.listwise_answer([shown.index(i) for i in ranking[: self._top]])
        target = ranking[0] if ranking else None
        return self._example(history, question, hint_lines, meta, answer, target=target)

    # -- shared -----------------------------------------------------------------------------------

    @property
    def _top(self) -> int:
        return self.config.listwise_answer

    def _candidate(self, item) -> str:
        """An item the task asks about; with collaborative tokens, marked after its title (the markers'
        order is ``markers.entities``)."""
        text = self.catalogue.text(item)
        return f"{text} {markers.MARKER}" if self.config.collab_tokens else text

    def _example(
        self, history: History, question, hint_lines, meta, answer, *, target, rated: bool = False
    ) -> Prompt:
        def texts(items) -> list[str]:
            return [
                self.catalogue.text(i) + (f": {_rating(history.ratings[i])}" if rated else "") for i in items
            ]

        text = templates.history(
            texts(history.liked),
            texts(history.disliked),
            self.domain,
            in_order=self.config.sequential,
            marked=self.config.collab_tokens,
        )
        text += "\n\n" + question
        if hint_lines:
            text += "\n" + "\n".join(hint_lines)
        messages = [
            {"role": "system", "content": templates.SYSTEM.format(domain=self.domain)},
            {"role": "user", "content": text},
        ]
        meta["history"] = {
            "liked": [plain(i) for i in history.liked],
            "disliked": [plain(i) for i in history.disliked],
        }
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
            meta["target"] = plain(target)
            meta["answer"] = answer
        return {"messages": messages, "meta": meta}


def plain(value):
    """numpy scalars -> Python values, for JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _rating(value: float) -> str:
    return f"{value:g}"


def _number(value: float) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 4)
