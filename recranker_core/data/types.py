"""The immutable rating data every loader returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class RatingData:
    """Ratings plus item metadata, already validated and normalised.

    ``ratings`` has columns user_id, item_id, rating (float) and timestamp (int64
    seconds); at most one row per (user, item). ``items`` has item_id, title and
    genres (a list of strings, possibly empty) for every rated item.
    """

    name: str
    """Short name shown in summaries and the dashboard (``ml-100k``, a folder or file name)."""
    source: str
    """Where the data was read from."""
    ratings: pd.DataFrame
    """One row per (user, item): user_id, item_id, rating, timestamp."""
    items: pd.DataFrame
    """One row per item: item_id, title, genres."""
    layout: str = "ratings CSV"
    """The format it was read as (``MovieLens ML-1M``, ``BookCrossing``, ``Amazon 2018``, ...)."""
    domain: str = "item"
    """What its items are called in prompts unless the profile says (``prompts.domain``)."""
    timed: bool = True
    """Whether the ratings carry real times. Without them (BookCrossing) every timestamp is 0, so each
    user's order is the split's fixed hash order, and the sequential scenario is refused."""

    def fingerprint(self) -> str:
        """A content hash of ratings and titles, stable across runs and machines."""
        digest = hashlib.sha256()
        ratings = self.ratings.sort_values(["user_id", "item_id"], kind="stable")
        digest.update(pd.util.hash_pandas_object(ratings, index=False).to_numpy().tobytes())
        items = self.items[["item_id", "title"]].sort_values("item_id", kind="stable")
        digest.update(pd.util.hash_pandas_object(items, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]

    def scale(self) -> tuple[int, int]:
        """The whole-number rating scale prompts ask for (1-5 for MovieLens; half stars widen outward)."""
        return rating_scale(self.ratings["rating"])

    def summary(self) -> dict[str, int | float | str]:
        ratings = self.ratings
        low, high = self.scale()
        return {
            "format": self.layout,
            "users": int(ratings["user_id"].nunique()),
            "items": int(ratings["item_id"].nunique()),
            "ratings": len(ratings),
            "rating_min": float(ratings["rating"].min()),
            "rating_max": float(ratings["rating"].max()),
            "scale": f"{low}-{high}",
            "order": "time" if self.timed else "fixed hash (no timestamps)",
        }


def rating_scale(ratings: pd.Series) -> tuple[int, int]:
    """The whole numbers from the lowest rating down to the highest rating up."""
    return int(np.floor(ratings.min())), int(np.ceil(ratings.max()))
