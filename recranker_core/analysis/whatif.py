"""What-if on a user's stored test prompts: change what the model sees (history, hints, candidates), write
the prompts again with the builder the instructions stage used, and attribute a prompt's score to each
history item and hint (leave one out).

A ``Scenario`` is what a user's prompts show; ``stored`` reads it back from the prompts' meta, an edit is a
changed copy, and ``rewrite`` turns it into prompts. Rewriting the stored scenario gives the stored prompts
back (tested), so every difference an analyst sees comes from the edit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recranker_core.baselines.models import MODELS
from recranker_core.config import PromptConfig
from recranker_core.errors import InputError
from recranker_core.instructions.phase import labels
from recranker_core.prompt_record import Prompt
from recranker_core.prompts.builder import Catalogue, History, PromptBuilder

ScoreLookup = Callable[[str, list], np.ndarray]
"""(model, items) -> that model's scores of the items for the user (NaN where it cannot score)."""


@dataclass(frozen=True)
class Scenario:
    """What one user's test prompts show."""

    liked: tuple
    """Liked history items, in the order shown."""
    disliked: tuple
    """Disliked history items, in the order shown."""
    candidates: tuple
    """The candidates in base order: pointwise prompt k rates the k-th, pair "a-b" compares the a-th and
    b-th, listwise copies show them in their stored permutations."""
    rating_hint: str
    """The model whose predicted rating pointwise prompts show ("" for none)."""
    pair_hints: tuple[str, ...]
    """The models whose preference pairwise prompts show."""
    list_hints: tuple[str, ...]
    """The models whose top five listwise prompts show."""


@dataclass(frozen=True)
class Writer:
    """What writing a user's prompts needs besides the scenario: the run's settings and data."""

    config: PromptConfig
    catalogue: Catalogue
    """How items are written, as the test prompts wrote them (likes counted on the training rows)."""
    scale: tuple[int, int]
    ratings: dict
    """item -> the user's rating (training and validation rows), for pointwise prompts that show ratings."""
    scores: ScoreLookup


def stored(prompts: list[Prompt]) -> Scenario:
    """The scenario a user's stored test prompts show."""
    first = prompts[0]["meta"]

    def of(task: str, key: str) -> list:
        return [p["meta"][key] for p in prompts if p["meta"]["task"] == task]

    def models(task: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m for hint in of(task, "hint") for m in hint))

    pointwise = sorted(zip(of("pointwise", "variant"), of("pointwise", "items")), key=lambda v: _index(v[0]))
    candidates = tuple(items[0] for _, items in pointwise) or _listwise_base_order(prompts)
    return Scenario(
        liked=tuple(first["history"]["liked"]),
        disliked=tuple(first["history"]["disliked"]),
        candidates=candidates,
        rating_hint=next(iter(models("pointwise")), ""),
        pair_hints=models("pairwise"),
        list_hints=models("listwise"),
    )


def check(
    scenario: Scenario, known: set, models: dict[str, bool], name: Callable[[object], str] = str
) -> None:
    """Raise an InputError naming what makes ``scenario`` unscorable. known: the catalogue's items;
    models: the run's hint models -> whether it predicts ratings; name: how to call an item."""
    if not scenario.liked:
        raise InputError("keep at least one liked item: the prompts need a history")
    history = scenario.liked + scenario.disliked
    for what, items in (("history", history), ("candidates", scenario.candidates)):
        unknown = [i for i in items if i not in known]
        if unknown:
            raise InputError(f"not in the catalogue ({what}): {', '.join(map(str, unknown))}")
        twice = sorted({i for i in items if items.count(i) > 1}, key=str)
        if twice:
            raise InputError(f"listed twice in the {what}: {', '.join(map(name, twice))}")
    both = sorted(set(history) & set(scenario.candidates), key=str)
    if both:
        raise InputError(f"both in the history and a candidate: {', '.join(map(name, both))}")
    hints = (*scenario.pair_hints, *scenario.list_hints, *filter(None, [scenario.rating_hint]))
    unfitted = [m for m in hints if m not in models]
    if unfitted:
        raise InputError(f"not a model of this run: {', '.join(unfitted)}")
    if scenario.rating_hint and not models[scenario.rating_hint]:
        raise InputError(f"{scenario.rating_hint} does not predict ratings")


def rewrite(prompts: list[Prompt], scenario: Scenario, writer: Writer) -> list[Prompt]:
    """``prompts`` (a user's stored test prompts) written again to show ``scenario``, in the same order and
    with the same variants."""
    config = dataclasses.replace(writer.config, rating_hint_model=scenario.rating_hint)
    builder = PromptBuilder(config, writer.catalogue, writer.scale, labels())
    ratings = {
        **{i: writer.scale[1] for i in scenario.liked},
        **{i: writer.scale[0] for i in scenario.disliked},
    }
    history = History(scenario.liked, scenario.disliked, ratings | writer.ratings)
    candidates, scores = list(scenario.candidates), writer.scores
    identity = list(range(len(scenario.liked)))
    out = []
    for prompt in prompts:
        meta = prompt["meta"]
        head = {key: meta[key] for key in ("split", "user_id", "draw", "variant")}
        if meta["task"] == "pointwise":
            item = candidates[_index(meta["variant"])]
            hint = float(scores(scenario.rating_hint, [item])[0]) if scenario.rating_hint else None
            out.append(
                builder.pointwise(head, history, item, None, rating_hint=hint, answer=None, perm=identity)
            )
        elif meta["task"] == "pairwise":
            a, b = (int(n) - 1 for n in meta["variant"].split()[1].split("-"))
            pair = (candidates[a], candidates[b])
            hints = {m: tuple(scores(m, list(pair))) for m in scenario.pair_hints}
            out.append(builder.pairwise(head, history, pair, meta["variant"].endswith("ba"), scores=hints))
        else:
            hints = {m: scores(m, candidates) for m in scenario.list_hints}
            out.append(builder.listwise(head, history, candidates, meta["permutation"], scores=hints))
    return out


def known_scores(prompts: list[Prompt]) -> dict[tuple[str, object], float]:
    """(model, item) -> score, as far as the stored prompts recorded them (pointwise and pairwise hints
    keep the scores; listwise ones only the top five), so most edits need no model fitted again."""
    known = {}
    for prompt in prompts:
        meta = prompt["meta"]
        if meta["task"] in ("pointwise", "pairwise"):
            for model, values in meta["hint"].items():
                known.update({(model, i): np.nan if v is None else v for i, v in zip(meta["items"], values)})
    return known


def without_each(scenario: Scenario) -> tuple[list[Scenario], pd.DataFrame]:
    """The scenario without each history item and without its hints, for attribution, with one row per
    left-out part (item, kind): the item's id, or None for the hints."""
    rows, edits = [], []
    for kind in ("liked", "disliked"):
        for item in getattr(scenario, kind):
            rows.append((item, kind))
            edits.append(
                dataclasses.replace(
                    scenario, **{kind: tuple(i for i in getattr(scenario, kind) if i != item)}
                )
            )
    if scenario.rating_hint or scenario.pair_hints or scenario.list_hints:
        rows.append((None, "hint"))
        edits.append(dataclasses.replace(scenario, rating_hint="", pair_hints=(), list_hints=()))
    items, kinds = zip(*rows)
    return edits, pd.DataFrame({"item": pd.Series(items, dtype=object), "kind": kinds})


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
    part raised it). ``scores``: the full prompt's, then one per part, as ``without_each`` orders them."""
    return parts.assign(without=scores[1:], influence=scores[0] - np.asarray(scores[1:]))


def hint_models(names) -> dict[str, bool]:
    """The run's models (``names``, those its baselines stage fitted) -> whether each predicts ratings:
    any of them can give the pairwise and listwise hints, only those can give the pointwise one."""
    return {name: MODELS[name].explicit for name in names}


def writer(
    split: pd.DataFrame, items: pd.DataFrame, config: PromptConfig, user, scores: ScoreLookup
) -> Writer:
    """How the instructions stage wrote ``user``'s test prompts: the catalogue from the split's training
    rows and ``items`` (the titles the model read), the user's training and validation ratings."""
    from recranker_core.data.split import Split

    whole = Split(split, 0)
    rows = split[(split["user_id"] == user) & split["role"].isin(["train", "valid"])]
    return Writer(
        config=config,
        catalogue=Catalogue.build(items, whole.train_rated, config),
        scale=whole.rating_scale(),
        ratings=dict(zip(rows["item_id"], rows["rating"])),
        scores=scores,
    )


def _index(variant: str) -> int:
    """'candidate 3' -> 2."""
    return int(variant.split()[-1]) - 1


def _listwise_base_order(prompts: list[Prompt]) -> tuple:
    """The candidates in base order, read from a listwise prompt (its permutation maps shown to base)."""
    meta = next(p["meta"] for p in prompts if p["meta"]["task"] == "listwise")
    order = [None] * len(meta["items"])
    for shown, original in enumerate(meta["permutation"]):
        order[original] = meta["items"][shown]
    return tuple(order)


def moved(stored: pd.DataFrame, edited: pd.DataFrame, item, methods: list[str]) -> str:
    """One line on what an edit did to ``item`` (the held-out one) in each of ``methods``: "the held-out item
    moved from 8 to 3 in listwise; stayed at 5 in hybrid" (rankings rows: method, item_id, rank)."""

    def rank(table: pd.DataFrame, method: str):
        rows = table[(table["method"] == method) & (table["item_id"] == item)]
        return int(rows["rank"].iloc[0]) if len(rows) else None

    parts = []
    for method in methods:
        before, after = rank(stored, method), rank(edited, method)
        if before is None or after is None:
            continue
        verb = f"stayed at {after}" if before == after else f"moved from {before} to {after}"
        parts.append(f"{verb} in {method}")
    return "The held-out item " + "; ".join(parts) + "." if parts else ""
