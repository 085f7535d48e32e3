"""Score rerank prompts (test and validation) with the model: one output row per prompt.

``logits`` mode reads label probabilities (see ``scoring``), one user's prompts
that show the same history at a time, so their shared prefix is encoded once. ``generate`` mode lets the
model answer freely and parses the text; a failed parse falls back as the
paper did (pointwise: the middle of the scale; pairwise: no preference;
listwise: unnamed candidates keep their shown order after the named ones) and
is counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recranker_core.llm.parsing import parse_ranking, parse_rating, parse_yes_no
from recranker_core.llm.scoring import (
    LabelScorer,
    LabelTokens,
    TokenCount,
    generate,
    label_tokens,
    prompt_ids,
)
from recranker_core.prompt_record import Prompt, prefix_key
from recranker_core.prompts.templates import LABELS, NO, YES

log = logging.getLogger("recranker")
MAX_NEW_TOKENS = {"pointwise": 4, "pairwise": 4, "listwise": 24}
COLUMNS = ["split", "user_id", "task", "variant", "items", "probs", "raw", "parsed"]


def task_labels(task: str, n_items: int, scale: tuple[int, int] | None = None) -> tuple[str, ...]:
    """The answers a prompt of ``task`` showing ``n_items`` items may give (pointwise needs the scale)."""
    if task == "pointwise":
        return tuple(str(r) for r in range(scale[0], scale[1] + 1))
    if task == "pairwise":
        return (YES, NO)
    return LABELS[:n_items]


def score_prompts(
    model,
    tokenizer,
    prompts: list[Prompt],
    *,
    mode: str,
    scale: tuple[int, int],
    batch_size: int = 64,
    batch_tokens: int = 8192,
    prefix_cache: bool = True,
    desc: str = "rerank",
    counter: TokenCount | None = None,
) -> pd.DataFrame:
    """One row per prompt: split, user_id, task, variant, items, probs, raw, parsed.

    In logits mode every prompt goes to one :class:`LabelScorer` call, which batches them across users;
    a group of prompts that share their prefix is one user's prompts showing the same history (pointwise
    prompts may show ratings)."""
    counter = counter or TokenCount()
    if mode == "logits":
        scorer = LabelScorer(
            model, batch_size=batch_size, batch_tokens=batch_tokens, prefix_cache=prefix_cache
        )
        scorer.counter = counter
        inputs = label_inputs(model, tokenizer, prompts, scale, {})
        keys = [prefix_key(p) for p in prompts]
        scored = inputs.fold(scorer.score(inputs.sequences, inputs.ids, [keys[i] for i in inputs.owners]))
        return pd.DataFrame(
            [_row(p, probs, raw=None, parsed=True) for p, probs in zip(prompts, scored)], columns=COLUMNS
        )
    rows = []
    for prompt in tqdm(prompts, desc=desc, unit="prompt", leave=False):
        ids = model_ids(model, tokenizer, prompt)
        text = generate(model, tokenizer, ids, MAX_NEW_TOKENS[prompt["meta"]["task"]], counter)
        rows.append(answer_row(prompt, text, scale))
    return pd.DataFrame(rows, columns=COLUMNS)


def score_variants(model, tokenizer, prompts: list[Prompt], *, scale: tuple[int, int]) -> list[np.ndarray]:
    """Label probabilities of a prompt and its variants (``prompts[1:]``), each variant reusing the first
    prompt's KV cache up to where its text departs from it (``LabelScorer.score_variants``)."""
    inputs = label_inputs(model, tokenizer, prompts, scale, {})
    scorer, scored = LabelScorer(model), [None] * len(inputs.sequences)
    # One call per step: a variant reuses the first prompt's cache at the same step
    for step in sorted(set(inputs.steps)):
        rows = [i for i, s in enumerate(inputs.steps) if s == step]
        probs = scorer.score_variants([inputs.sequences[i] for i in rows], [inputs.ids[i] for i in rows])
        for i, p in zip(rows, probs):
            scored[i] = p
    return inputs.fold(scored)


def model_ids(model, tokenizer, prompt: Prompt) -> list[int]:
    """The prompt's token ids as ``model`` reads them (collaborative tokens named, see ``llm.collab``)."""
    from recranker_core.llm.collab import marked

    return marked(model, tokenizer, prompt_ids(tokenizer, prompt["messages"]), prompt["meta"])


@dataclass(frozen=True)
class LabelInputs:
    """What the scorer reads for a list of prompts: one sequence per prompt and step of its label set
    (one step where one token tells its labels apart; see ``scoring.LabelTokens``)."""

    sequences: list[list[int]]
    """The prompt's tokens, its labels' shared prefix and the tokens leading to the step."""
    ids: list[tuple[int, ...]]
    """The tokens chosen among at the end of each sequence."""
    owners: list[int]
    """The prompt each sequence belongs to."""
    steps: list[int]
    """The step of its prompt's label set each sequence reads."""
    labels: list[LabelTokens]
    """Each prompt's label set."""

    def fold(self, scored: list[np.ndarray]) -> list[np.ndarray]:
        """Each prompt's label probabilities from the scorer's output for :attr:`sequences`."""
        steps: list[list[np.ndarray]] = [[] for _ in self.labels]
        for owner, probs in zip(self.owners, scored):
            steps[owner].append(probs)
        return [labels.probabilities(own) for labels, own in zip(self.labels, steps)]


def label_inputs(model, tokenizer, prompts: list[Prompt], scale: tuple[int, int], cache: dict) -> LabelInputs:
    """``model``'s token ids of each prompt followed by its labels' shared prefix, once per step of its
    label set; ``cache`` keeps the label tokens per (task, number of items)."""
    inputs = LabelInputs([], [], [], [], [])
    for index, prompt in enumerate(prompts):
        meta = prompt["meta"]
        key = (meta["task"], len(meta["items"]))
        if key not in cache:
            cache[key] = label_tokens(
                tokenizer, prompt["messages"], task_labels(meta["task"], len(meta["items"]), scale)
            )
        labels = cache[key]
        ids = model_ids(model, tokenizer, prompt) + list(labels.prefix)
        for step, (path, choices) in enumerate(labels.steps):
            inputs.sequences.append(ids + list(path))
            inputs.ids.append(choices)
            inputs.owners.append(index)
            inputs.steps.append(step)
        inputs.labels.append(labels)
    return inputs


def answer_row(prompt: Prompt, text: str, scale: tuple[int, int]) -> dict:
    """The output row of a prompt answered in free text (generate mode, by any backend)."""
    meta = prompt["meta"]
    probs, parsed = _parsed_probs(meta["task"], text, scale, len(meta["items"]))
    return _row(prompt, probs, raw=text, parsed=parsed)


def _row(prompt: Prompt, probs: np.ndarray, *, raw: str | None, parsed: bool) -> dict:
    meta = prompt["meta"]
    return {
        "split": meta["split"],
        "user_id": meta["user_id"],
        "task": meta["task"],
        "variant": meta["variant"],
        "items": list(meta["items"]),
        "probs": [round(float(p), 6) for p in probs],
        "raw": raw,
        "parsed": parsed,
    }


def _parsed_probs(task: str, text: str, scale: tuple[int, int], n: int) -> tuple[np.ndarray, bool]:
    """Turn a parsed answer into a label distribution (one-hot, or the documented fallback)."""
    if task == "pointwise":
        size = scale[1] - scale[0] + 1
        rating = parse_rating(text, *scale)
        value = rating if rating is not None else (scale[0] + scale[1]) / 2
        # Put the mass on the rating (split between neighbours for a half-way fallback).
        probs = np.zeros(size)
        low = int(np.floor(value)) - scale[0]
        high = int(np.ceil(value)) - scale[0]
        probs[low] += 0.5
        probs[high] += 0.5
        return probs, rating is not None
    if task == "pairwise":
        answer = parse_yes_no(text)
        return (
            np.array([0.5, 0.5]) if answer is None else np.array([float(answer), float(not answer)])
        ), answer is not None
    positions = parse_ranking(text, n)
    order = (positions or []) + [p for p in range(n) if p not in (positions or [])]
    # Borda weights keep the whole parsed order, so shuffled copies can be averaged.
    probs = np.zeros(n)
    probs[order] = np.arange(n, 0, -1, dtype=float)
    return probs / probs.sum(), positions is not None
