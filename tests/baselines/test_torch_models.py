"""LightGCN and SASRec (ours, in torch): they learn structure popularity cannot see, repeat exactly
with a seed, and survive a safetensors round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from lenskit.data import ItemList

from recranker_core.baselines.fitting import fit, top_n
from recranker_core.baselines.settings import LightGCNConfig, SASRecConfig
from recranker_core.config import BaselineConfig
from recranker_core.errors import InputError

GROUPS, USERS_PER_GROUP, ITEMS_PER_GROUP, HISTORY = 4, 25, 15, 12


def structured_likes(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train rows, held-out last like per user). Each user likes only items of their group, in the
    group's fixed cyclic order from a random start: collaborative and sequential structure, while
    every item is about equally popular."""
    rng = np.random.default_rng(seed)
    rows = []
    for group in range(GROUPS):
        items = group * ITEMS_PER_GROUP + np.arange(ITEMS_PER_GROUP)
        for u in range(USERS_PER_GROUP):
            user = group * USERS_PER_GROUP + u
            start = rng.integers(ITEMS_PER_GROUP)
            for step in range(HISTORY + 1):
                rows.append((user, int(items[(start + step) % ITEMS_PER_GROUP]), step))
    table = pd.DataFrame(rows, columns=["user_id", "item_id", "seq"])
    table = table.assign(rating=5.0, timestamp=table["seq"], feedback="like")
    last = table.groupby("user_id")["seq"].transform("max") == table["seq"]
    return table[~last], table.loc[last, ["user_id", "item_id"]]


def ndcg_at_10(name: str, config: BaselineConfig, train: pd.DataFrame, held_out: pd.DataFrame) -> float:
    pipeline = fit(name, train, config, seed=7)
    catalogue = np.arange(GROUPS * ITEMS_PER_GROUP)
    seen = train.groupby("user_id")["item_id"].apply(set)
    requests = [
        (user, np.array([i for i in catalogue if i not in seen[user]])) for user in held_out["user_id"]
    ]
    lists = top_n(pipeline, requests, 10).merge(held_out, on=["user_id", "item_id"])
    return float((1 / np.log2(lists["rank"] + 1)).sum() / len(held_out))


CONFIG = BaselineConfig(
    lightgcn=LightGCNConfig(embedding_size=16, learning_rate=0.01),
    sasrec=SASRecConfig(embedding_size=16, epochs=200),
)
QUICK = dataclasses.replace(
    CONFIG,
    lightgcn=CONFIG.lightgcn.model_copy(update={"epochs": 20}),
    sasrec=CONFIG.sasrec.model_copy(update={"epochs": 20}),
)


@pytest.mark.slow  # trains to convergence
@pytest.mark.parametrize("name", ["lightgcn", "sasrec"])
def test_learns_what_popularity_cannot(name):
    train, held_out = structured_likes()
    popular = ndcg_at_10("popular", CONFIG, train, held_out)
    learned = ndcg_at_10(name, CONFIG, train, held_out)
    assert learned > popular + 0.15, (name, learned, popular)


@pytest.mark.slow  # trains to convergence
def test_sasrec_follows_the_order_lightgcn_cannot_see():
    # The next item in the group's cycle is the held-out one: only the sequence tells which.
    train, held_out = structured_likes()
    assert ndcg_at_10("sasrec", CONFIG, train, held_out) > ndcg_at_10("lightgcn", CONFIG, train, held_out)


def test_lightgcn_checks_every_few_epochs_and_stops_patience_epochs_after_its_best():
    from lenskit.data import from_interactions_df
    from lenskit.training import TrainingOptions

    from recranker_core.baselines.lightgcn import LightGCNScorer

    train, _ = structured_likes()
    data = from_interactions_df(train[["user_id", "item_id", "timestamp"]].reset_index(drop=True))
    stopped = LightGCNScorer(embedding_size=16, learning_rate=0.01, epochs=200, eval_every=5, patience=10)
    stopped.train(data, TrainingOptions(rng=1))
    assert stopped.best_epoch_ % 5 == 0 and stopped.epochs_trained_ == stopped.best_epoch_ + 10 < 200
    # The last epoch is always checked, even off the cadence.
    short = LightGCNScorer(embedding_size=16, learning_rate=0.01, epochs=7, eval_every=5, patience=100)
    short.train(data, TrainingOptions(rng=1))
    assert short.epochs_trained_ == 7 and short.best_epoch_ in (5, 7)


@pytest.mark.parametrize("name", ["lightgcn", "sasrec"])
def test_same_seed_same_model_and_the_safetensors_round_trip(name, tmp_path):
    from recranker_core.baselines.models import MODELS

    train, _ = structured_likes()
    first = fit(name, train, QUICK, seed=3).node("scorer").component
    second = fit(name, train, QUICK, seed=3).node("scorer").component
    np.testing.assert_array_equal(first.user_embeddings, second.user_embeddings)
    np.testing.assert_array_equal(first.item_embeddings, second.item_embeddings)
    other = fit(name, train, QUICK, seed=4).node("scorer").component
    assert not np.array_equal(first.item_embeddings, other.item_embeddings)

    first.save(tmp_path / "model.safetensors")
    restored = MODELS[name].build(QUICK).load(tmp_path / "model.safetensors")
    items = ItemList(item_ids=np.arange(GROUPS * ITEMS_PER_GROUP))
    for user in (0, 30, 99):
        np.testing.assert_array_equal(restored(user, items).scores(), first(user, items).scores())
    assert np.isnan(restored(12345, items).scores()).all()  # an unknown user gets no scores
    with pytest.raises(InputError, match="not a saved"):
        MODELS["sasrec" if name == "lightgcn" else "lightgcn"].build(CONFIG).load(
            tmp_path / "model.safetensors"
        )
