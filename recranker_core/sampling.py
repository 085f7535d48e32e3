"""Which users the instruction data is built from (RecRanker's adaptive user sampling).

* uniform: N draws, each user equally likely.
* importance: N draws with replacement, weight ln(#training likes).
* clustering: KMeans on the base model's user embeddings; each cluster gets a
  quota of the N draws in proportion to its size (largest remainder), drawn
  uniformly inside the cluster.
* adaptive: an importance draw of importance_fraction * N and a clustering
  draw of clustering_fraction * N are pooled; a user appearing c times in the
  pool gives each of its entries weight penalty^(c - 1); N entries are then
  drawn from the pool.

``replacement`` (the official code's draws, the default): uniform, in-cluster and
final draws are with replacement. Without it they are without replacement while
users (or pool entries) last, so users repeat less often.

Eligible users have at least two training likes: one is held out as the
training target, and the prompt needs at least one liked item before it. So
ln(#likes) >= ln 2 > 0 for everyone eligible; users with a single training like
are not sampled at all (they are counted in the summary).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recranker_core.config import SamplingConfig

MIN_TRAIN_LIKES = 2


@dataclass(frozen=True)
class Sample:
    draws: pd.DataFrame
    """One row per draw: draw, user_id, source (importance/clustering/uniform), cluster, pool_count."""
    population: pd.DataFrame
    """One row per eligible user: user_id, train_likes, cluster, pool_count, times_sampled."""
    summary: dict[str, int | float | str]
    """method, eligible and ineligible users, draws, distinct users, pool size and duplicates."""


def cluster_users(embeddings: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    k = min(clusters, len(embeddings))
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(embeddings).astype("int64")


def sample_users(
    population: pd.DataFrame, config: SamplingConfig, rng: np.random.Generator, ineligible: int = 0
) -> Sample:
    """population: user_id, train_likes, cluster (eligible users only)."""
    users = population["user_id"].to_numpy()
    weights = np.log(population["train_likes"].to_numpy(dtype=float))
    clusters = population["cluster"].to_numpy()
    n = config.n_users

    def draw(method: str, size: int) -> pd.DataFrame:
        if method == "uniform":
            index = rng.choice(len(users), size=size, replace=config.replacement or size > len(users))
        elif method == "importance":
            index = rng.choice(len(users), size=size, replace=True, p=weights / weights.sum())
        else:
            index = _clustering(clusters, size, rng, config.replacement)
        return pd.DataFrame({"index": index, "source": method})

    if config.method == "adaptive":
        pool = pd.concat(
            [
                draw("importance", round(config.importance_fraction * n)),
                draw("clustering", round(config.clustering_fraction * n)),
            ],
            ignore_index=True,
        )
        counts = pool["index"].map(pool["index"].value_counts()).to_numpy()
        # Relative to the least repeated entry, so that a pool of many repeats does not underflow to 0.
        entry_weight = config.repetition_penalty ** (counts - counts.min())
        size = n if config.replacement else min(n, len(pool))
        chosen = rng.choice(
            len(pool), size=size, replace=config.replacement, p=entry_weight / entry_weight.sum()
        )
        draws = pool.iloc[np.sort(chosen)].reset_index(drop=True)
    else:
        draws = pool = draw(config.method, n)

    pool_counts = np.bincount(pool["index"], minlength=len(users))
    times = np.bincount(draws["index"], minlength=len(users))
    result = pd.DataFrame(
        {
            "draw": np.arange(len(draws)),
            "user_id": users[draws["index"].to_numpy()],
            "source": draws["source"].to_numpy(),
            "cluster": clusters[draws["index"].to_numpy()],
            "pool_count": pool_counts[draws["index"].to_numpy()],
        }
    )
    population = population.assign(pool_count=pool_counts, times_sampled=times)
    return Sample(
        draws=result,
        population=population,
        summary={
            "method": config.method,
            "eligible_users": len(users),
            "ineligible_users": ineligible,
            "draws": len(result),
            "distinct_users": int((times > 0).sum()),
            "pool_entries": len(pool),
            "pool_duplicates": int(len(pool) - (pool_counts > 0).sum()),
            "sample_duplicates": int(len(result) - (times > 0).sum()),
        },
    )


def _clustering(clusters: np.ndarray, size: int, rng: np.random.Generator, replacement: bool) -> np.ndarray:
    labels, sizes = np.unique(clusters, return_counts=True)
    quotas = cluster_quotas(sizes, size)
    picked = []
    for label, quota in zip(labels, quotas):
        members = np.flatnonzero(clusters == label)
        picked.append(rng.choice(members, size=quota, replace=replacement or quota > len(members)))
    return np.concatenate(picked) if picked else np.array([], dtype=int)


def cluster_quotas(sizes: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` draws over clusters in proportion to their sizes (largest remainder)."""
    exact = sizes / sizes.sum() * total
    quotas = np.floor(exact).astype(int)
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[: total - quotas.sum()]] += 1
    return quotas
