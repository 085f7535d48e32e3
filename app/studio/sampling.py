"""Who the instruction data was built from: all eligible users against the sampled ones."""

from __future__ import annotations

import numpy as np
import pandas as pd

ALL, SAMPLED = "all eligible users", "sampled draws"
BEFORE, AFTER = "in the adaptive pool (before the penalty)", "in the final sample (after the penalty)"


def activity(users: pd.DataFrame, draws: pd.DataFrame) -> pd.DataFrame:
    """train_likes and group: one row per eligible user, and one per sampling draw.

    users: user_sampling.parquet; draws: sampled_users.parquet."""
    likes = users.set_index("user_id")["train_likes"]
    return pd.concat(
        [
            pd.DataFrame({"train_likes": likes.to_numpy(), "group": ALL}),
            pd.DataFrame({"train_likes": draws["user_id"].map(likes).to_numpy(), "group": SAMPLED}),
        ],
        ignore_index=True,
    )


def projection(embeddings: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """user_id, x, y (first two principal components of the user embeddings), cluster, times_sampled,
    sampled."""
    rows = users.merge(embeddings, on="user_id")
    matrix = np.vstack(rows["embedding"].to_numpy()).astype(float)
    # Two components by SVD: importing scikit-learn's PCA would cost the page seconds.
    centered = matrix - matrix.mean(axis=0)
    _, _, components = np.linalg.svd(centered, full_matrices=False)
    xy = centered @ components[:2].T
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    return pd.DataFrame(
        {
            "user_id": rows["user_id"],
            "x": xy[:, 0],
            "y": xy[:, 1],
            "cluster": rows["cluster"].astype(str),
            "times_sampled": rows["times_sampled"],
            "sampled": rows["times_sampled"] > 0,
        }
    )


def duplicates(users: pd.DataFrame) -> pd.DataFrame:
    """times, users, stage: how many users appear 0, 1, 2, ... times in the pool and in the sample."""
    frames = []
    for column, stage in (("pool_count", BEFORE), ("times_sampled", AFTER)):
        counts = users[column].value_counts().sort_index()
        frames.append(pd.DataFrame({"times": counts.index, "users": counts.to_numpy(), "stage": stage}))
    return pd.concat(frames, ignore_index=True)
