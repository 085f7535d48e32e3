"""Beyond-accuracy metrics of the ranked lists: coverage, popularity (average popularity, long tail,
novelty), diversity and calibration at k = 3 and 5, with percentile-bootstrap intervals and paired
differences from the reference method. Definitions: docs/run-format.md, "Beyond accuracy".

Per-user metrics are averaged over the users a method has lists for; coverage is a set metric (distinct
items over every list). A method's difference from the reference is over the users both have lists for,
with the same resamples as its value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from recranker_core.config import EvaluationConfig
from recranker_core.evaluation import interval, resamples

KS = (3, 5)
"""List lengths the beyond-accuracy metrics are read at."""
HEAD_SHARE = 0.2
"""The most popular share of the items rated in training: what ``tail@k`` counts the lists outside of."""
CALIBRATION_ALPHA = 0.01
"""Steck's smoothing of the list's genre distribution with the user's, so that KL stays finite."""
NAMES = ("coverage", "arp", "tail", "novelty", "ild", "miscalibration")
"""The metrics, each read at every k of :data:`KS` (``coverage@3``, ...)."""


@dataclass(frozen=True)
class Catalogue:
    """What the metrics read of the items and of the training ratings, by item position."""

    items: pd.Index
    """Every item of items.parquet; positions index the arrays below."""
    popularity: np.ndarray
    """Share of the users with a training rating who rated each item in training."""
    tail: np.ndarray
    """Whether each item is outside the :data:`HEAD_SHARE` most popular items rated in training."""
    genres: np.ndarray
    """items x genres, 1 where the item has the genre."""
    taste: sparse.csr_matrix
    """users x genres: each user's training genre distribution (rows of :attr:`users`)."""
    users: pd.Index

    @classmethod
    def build(cls, split: pd.DataFrame, items: pd.DataFrame) -> Catalogue:
        """From split.parquet (its ``train`` rows) and items.parquet."""
        index = pd.Index(items["item_id"])
        train = split[split["role"] == "train"]
        users = pd.Index(np.sort(train["user_id"].unique()))
        counts = (
            train.groupby("item_id")["user_id"].nunique().reindex(index, fill_value=0).to_numpy(dtype=float)
        )
        popularity = counts / max(1, len(users))
        rated = np.flatnonzero(counts > 0)
        # The least popular first, ties by item order (RecBole's TailPercentage rule): the last HEAD_SHARE
        # of the items rated in training are the head; items never rated in training are in the tail.
        order = rated[np.lexsort((rated, counts[rated]))]
        tail = np.ones(len(index), dtype=bool)
        tail[order[int(len(order) * (1 - HEAD_SHARE)) :]] = False
        names = sorted({g for genres in items["genres"] for g in genres})
        column = {g: j for j, g in enumerate(names)}
        genres = np.zeros((len(index), len(names)))
        for i, item_genres in enumerate(items["genres"]):
            genres[i, [column[g] for g in item_genres]] = 1.0
        rows = users.get_indexer(train["user_id"])
        cols = index.get_indexer(train["item_id"])
        rated_by = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(index)))
        taste = sparse.csr_matrix(rated_by @ _shares(genres))
        return cls(index, popularity, tail, genres, _normalised(taste), users)


def _shares(genres: np.ndarray) -> np.ndarray:
    """Each item's genres sharing its weight of 1 equally (Steck's p(g|i))."""
    sizes = genres.sum(axis=1, keepdims=True)
    return np.divide(genres, sizes, out=np.zeros_like(genres), where=sizes > 0)


def _normalised(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    return sparse.csr_matrix(
        sparse.diags(np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)) @ matrix
    )


def list_metrics(lists: np.ndarray, users: np.ndarray, catalogue: Catalogue) -> dict[str, np.ndarray]:
    """Per user (a row of ``lists``: item positions, best first, -1 past the list's end): arp, tail,
    novelty, ild and miscalibration of that list."""
    present = lists >= 0
    safe = np.where(present, lists, 0)
    length = present.sum(axis=1)
    pop = catalogue.popularity[safe]
    # An item nobody rated in training counts as rated by one user, so that its novelty is finite.
    novelty = -np.log2(np.maximum(pop, 1.0 / max(1, len(catalogue.users))))
    return {
        "arp": _mean(pop, present, length),
        "tail": _mean(catalogue.tail[safe].astype(float), present, length),
        "novelty": _mean(novelty, present, length),
        "ild": _ild(catalogue.genres[safe], present),
        "miscalibration": _miscalibration(safe, present, users, catalogue),
    }


def _mean(values: np.ndarray, present: np.ndarray, length: np.ndarray) -> np.ndarray:
    return np.where(present, values, 0.0).sum(axis=1) / np.maximum(length, 1)


def _ild(genres: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Mean pairwise Jaccard distance of the listed items' genre sets (0 for two items without genres)."""
    inter = np.einsum("ukg,ulg->ukl", genres, genres)
    sizes = genres.sum(axis=2)
    union = sizes[:, :, None] + sizes[:, None, :] - inter
    distance = np.where(union > 0, 1.0 - inter / np.where(union > 0, union, 1.0), 0.0)
    pairs = present[:, :, None] & present[:, None, :] & ~np.eye(present.shape[1], dtype=bool)
    count = pairs.sum(axis=(1, 2))
    return np.where(count > 0, (distance * pairs).sum(axis=(1, 2)) / np.maximum(count, 1), np.nan)


def _miscalibration(
    safe: np.ndarray, present: np.ndarray, users: np.ndarray, catalogue: Catalogue
) -> np.ndarray:
    """Steck's KL(p || q~) of the user's training genre distribution p from the list's, q~ = (1 - alpha) q
    + alpha p; NaN for users without training genres."""
    shares = _shares(catalogue.genres)[safe] * present[:, :, None]
    q = shares.sum(axis=1)
    q = np.divide(
        q, q.sum(axis=1, keepdims=True), out=np.zeros_like(q), where=q.sum(axis=1, keepdims=True) > 0
    )
    rows = catalogue.users.get_indexer(users)
    p = np.zeros_like(q)
    known = rows >= 0
    p[known] = catalogue.taste[rows[known]].toarray()
    mixed = (1 - CALIBRATION_ALPHA) * q + CALIBRATION_ALPHA * p
    terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(mixed > 0, mixed, 1.0)), 0.0)
    return np.where(p.sum(axis=1) > 0, terms.sum(axis=1), np.nan)


def beyond_document(
    rankings: pd.DataFrame,
    catalogue: Catalogue,
    users: np.ndarray,
    config: EvaluationConfig,
    seed: int,
    reference: str | None = None,
) -> dict[str, dict]:
    """metrics.json's ``beyond``: method -> {"coverage@3": {value, ci_low, ci_high, users, delta}, ...} over
    the evaluated ``users`` (sorted, as the accuracy metrics draw them), resampled as the accuracy metrics
    are (same seed); ``delta`` against ``reference`` over the users both have lists for."""
    users = np.asarray(users)
    # How often each resample draws each user: the same draws as the accuracy metrics', counted once.
    draws = resamples(len(users), config, seed)
    offsets = draws + len(users) * np.arange(len(draws))[:, None]
    weights = np.bincount(offsets.ravel(), minlength=draws.size).reshape(draws.shape)
    per_method = {method: _per_user(rows, users, catalogue) for method, rows in rankings.groupby("method")}
    result: dict[str, dict] = {}
    for method, values in per_method.items():
        result[method] = {}
        for name, (x, lists) in values.items():
            entry = _statistic(x, lists, weights, catalogue, config.ci_level)
            if reference in per_method and method != reference:
                ref_x, ref_lists = per_method[reference][name]
                both = ~np.isnan(x) & ~np.isnan(ref_x)
                entry["delta"] = _statistic(
                    np.where(both, x, np.nan),
                    lists,
                    weights,
                    catalogue,
                    config.ci_level,
                    minus=(np.where(both, ref_x, np.nan), ref_lists),
                )
            result[method][name] = entry
    return result


def _per_user(rows: pd.DataFrame, users: np.ndarray, catalogue: Catalogue) -> dict[str, tuple]:
    """name@k -> (per-user value, NaN where the user has no list; the users' top-k lists as a users x items
    indicator, for coverage)."""
    rows = rows[rows["user_id"].isin(users)].sort_values(["user_id", "rank"])
    longest = max(KS)
    lists = np.full((len(users), longest), -1)
    position = pd.Index(users).get_indexer(rows["user_id"])
    order = rows.groupby("user_id").cumcount().to_numpy()
    keep = order < longest
    lists[position[keep], order[keep]] = catalogue.items.get_indexer(rows["item_id"])[keep]
    listed = (lists >= 0).any(axis=1)
    out = {}
    for k in KS:
        top = lists[:, :k]
        metrics = list_metrics(top, users, catalogue)
        cells = np.argwhere(top >= 0)
        indicator = sparse.csr_matrix(
            (np.ones(len(cells)), (cells[:, 0], top[cells[:, 0], cells[:, 1]])),
            shape=(len(users), len(catalogue.items)),
        )
        coverage = np.where(listed, 0.0, np.nan)  # a set metric: only which users count matters per user
        out[f"coverage@{k}"] = (coverage, indicator)
        for name, values in metrics.items():
            out[f"{name}@{k}"] = (np.where(listed, values, np.nan), None)
    return out


def _statistic(x, lists, weights, catalogue, level, minus=None) -> dict:
    """The value over the users where ``x`` is not NaN, its resamples (rows of ``weights``) and its
    interval; ``minus`` (the reference's x and lists on the same users) makes it a paired difference with a
    p-value."""
    valid = ~np.isnan(x)
    values = np.where(valid, x, 0.0)
    boot = _estimate(weights, values, valid, lists, catalogue, minus)
    full = _estimate(np.ones((1, len(x))), values, valid, lists, catalogue, minus)[0]
    if lists is not None:
        # A resample holds fewer distinct users, so fewer distinct items: coverage's resamples are shifted
        # to centre on the value (else the interval would lie below it).
        boot = boot - boot.mean() + full
    entry = interval(float(full), boot, level, p_value=minus is not None)
    if minus is None:
        entry["users"] = int(valid.sum())
    return entry


def _estimate(weights, values, valid, lists, catalogue, minus) -> np.ndarray:
    """Per row of ``weights`` (how often each user is drawn): the weighted mean over valid users, or for
    coverage the share of items in the drawn valid users' lists; minus the reference's on the same users."""
    drawn = weights * valid
    if lists is not None:
        estimate = np.asarray(((drawn > 0).astype(float) @ lists > 0).sum(axis=1)).ravel() / len(
            catalogue.items
        )
    else:
        estimate = (drawn @ values) / np.maximum(drawn.sum(axis=1), 1)
    if minus is None:
        return estimate
    ref_x, ref_lists = minus
    ref_valid = ~np.isnan(ref_x)
    return estimate - _estimate(
        weights, np.where(ref_valid, ref_x, 0.0), ref_valid, ref_lists, catalogue, None
    )
