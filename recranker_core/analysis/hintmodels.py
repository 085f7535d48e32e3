"""Hint scores for a what-if: what the stored prompts recorded, else the run's model fitted again as the
instructions stage fitted its hint models (every training row, the run's seed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from recranker_core.manifest import Manifest


def refit(run: Path, name: str):
    """Model ``name`` fitted on ``run``'s training rows with its settings and seed (a lenskit pipeline)."""
    from recranker_core.baselines.fitting import fit
    from recranker_core.runfiles import load_split

    manifest = Manifest.read(run)
    config = manifest.config
    return fit(name, load_split(run, manifest).train_rated, config.baselines, config.seed)


def scores(pipeline, user, items: list) -> np.ndarray:
    """``pipeline``'s scores of ``items`` for ``user`` (NaN where it cannot score)."""
    from recranker_core.baselines.fitting import score

    table = score(pipeline, [(user, np.array(list(dict.fromkeys(items))))])
    found = dict(zip(table["item_id"], table["score"]))
    return np.array([found.get(i, np.nan) for i in items], dtype=float)


class HintScores:
    """(model, items) -> the user's scores. The stored prompts' hints (``known``, rounded to 4 places) serve
    when they cover the items and tell them apart; otherwise ``exact(model, items)`` scores them (with the
    model fitted again: see ``refit``), and what it scored is remembered."""

    def __init__(self, known: dict[tuple[str, object], float], exact: Callable[[str, list], np.ndarray]):
        self.known, self.exact = known, exact
        self.scored: dict[tuple[str, object], float] = {}

    def __call__(self, model: str, items: list) -> np.ndarray:
        if any((model, i) not in self.scored for i in items):
            rounded = [self.known.get((model, i)) for i in items]
            if None not in rounded and len(set(rounded)) == len(rounded):
                return np.array(rounded, dtype=float)
            self.scored.update(zip(((model, i) for i in items), self.exact(model, items)))
        return np.array([self.scored[(model, i)] for i in items], dtype=float)
