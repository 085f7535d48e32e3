"""User sampling: the repetition penalty measured, cluster quotas, importance weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recranker_core.config import SamplingConfig
from recranker_core.sampling import cluster_quotas, cluster_users, sample_users


@pytest.fixture(scope="module")
def population():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "user_id": np.arange(940),
            "train_likes": rng.integers(2, 300, 940),
            "cluster": rng.integers(0, 10, 940),
        }
    )


def duplicates(population, penalty: float, seed: int) -> int:
    config = SamplingConfig(repetition_penalty=penalty)
    return sample_users(population, config, np.random.default_rng(seed)).summary["sample_duplicates"]


def test_repetition_penalty_reduces_duplicates_against_the_unweighted_pooled_draw(population):
    # Same seeds, so each pair shares its pool and differs only in the final draw.
    seeds = range(100)
    unweighted = np.array([duplicates(population, 1.0, s) for s in seeds])
    paper = np.array([duplicates(population, 0.95, s) for s in seeds])
    strong = np.array([duplicates(population, 0.5, s) for s in seeds])
    for penalised in (paper, strong):
        diff = unweighted - penalised
        assert diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(len(diff)), diff.mean()
    assert (unweighted - strong).mean() > (unweighted - paper).mean()


def test_adaptive_draws_n_from_the_pool_of_both_draws(population):
    sample = sample_users(population, SamplingConfig(n_users=500), np.random.default_rng(3))
    assert sample.summary["pool_entries"] == 600 and len(sample.draws) == 500
    assert set(sample.draws["source"]) == {"importance", "clustering"}
    counts = sample.draws["user_id"].value_counts()
    assert (sample.population.set_index("user_id").loc[counts.index, "times_sampled"] == counts).all()
    # pool_count of each draw is how often that user is in the pool
    assert (sample.draws["pool_count"] >= 1).all()
    assert sample.summary["sample_duplicates"] == 500 - sample.draws["user_id"].nunique()


def test_many_more_draws_than_users_still_penalise_repeats(population):
    # 0.95 ** (repeats - 1) underflows to 0 for every pool entry once each user is in it ~15,000 times.
    few = population.head(20)
    sample = sample_users(few, SamplingConfig(n_users=1_000_000), np.random.default_rng(1))
    assert len(sample.draws) == 1_000_000
    users = sample.population.set_index("user_id")
    assert users["times_sampled"].idxmax() == users["pool_count"].idxmin()  # the least repeated wins


def test_cluster_quotas_follow_cluster_sizes():
    sizes = np.array([500, 250, 125, 100, 25])
    quotas = cluster_quotas(sizes, 333)
    assert quotas.sum() == 333
    assert np.all(np.abs(quotas - sizes / sizes.sum() * 333) < 1)


def test_clustering_draw_meets_the_quotas(population):
    sample = sample_users(
        population, SamplingConfig(method="clustering", n_users=600), np.random.default_rng(1)
    )
    drawn = sample.draws["cluster"].value_counts().sort_index()
    sizes = population["cluster"].value_counts().sort_index()
    assert drawn.to_numpy().tolist() == cluster_quotas(sizes.to_numpy(), 600).tolist()


def test_importance_favours_active_users(population):
    sample = sample_users(
        population, SamplingConfig(method="importance", n_users=20_000), np.random.default_rng(2)
    )
    times = sample.population.set_index("user_id")["times_sampled"]
    expected = np.log(population.set_index("user_id")["train_likes"])
    expected = expected / expected.sum() * 20_000
    assert np.corrcoef(times, expected)[0, 1] > 0.5


def test_kmeans_clusters_are_deterministic_and_separate_obvious_groups():
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0, 0.1, (30, 4)), rng.normal(5, 0.1, (30, 4))])
    labels = cluster_users(points, 2, seed=1)
    assert len(set(labels[:30])) == 1 and len(set(labels[30:])) == 1 and labels[0] != labels[-1]
    assert (cluster_users(points, 2, seed=1) == labels).all()


def test_official_draws_are_with_replacement_and_the_option_without_is_kept():
    population = pd.DataFrame({"user_id": np.arange(6), "train_likes": 10, "cluster": [0, 0, 0, 1, 1, 1]})
    drawn = {}
    for replacement in (True, False):
        config = SamplingConfig(n_users=40, replacement=replacement)
        drawn[replacement] = [sample_users(population, config, np.random.default_rng(s)) for s in range(20)]
    # Without replacement the final draw takes each pool entry at most once, so no user exceeds its pool count
    # and N stops at the pool's size; with replacement neither holds.
    for sample in drawn[False]:
        assert (sample.population["times_sampled"] <= sample.population["pool_count"]).all()
    assert any((s.population["times_sampled"] > s.population["pool_count"]).any() for s in drawn[True])
    assert all(len(s.draws) == 40 for s in drawn[True])
    clusters = SamplingConfig(method="clustering", n_users=3, replacement=False)
    for seed in range(10):  # a quota within its cluster's size draws distinct users without replacement
        picked = sample_users(population, clusters, np.random.default_rng(seed)).draws["user_id"]
        assert picked.is_unique
