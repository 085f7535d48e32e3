"""The immutable rating data every loader returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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

    def fingerprint(self) -> str:
        """A content hash of ratings and titles, stable across runs and machines."""
        digest = hashlib.sha256()
        ratings = self.ratings.sort_values(["user_id", "item_id"], kind="stable")
        digest.update(pd.util.hash_pandas_object(ratings, index=False).to_numpy().tobytes())
        items = self.items[["item_id", "title"]].sort_values("item_id", kind="stable")
        digest.update(pd.util.hash_pandas_object(items, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]

    def summary(self) -> dict[str, int | float]:
        ratings = self.ratings
        return {
            "users": int(ratings["user_id"].nunique()),
            "items": int(ratings["item_id"].nunique()),
            "ratings": len(ratings),
            "rating_min": float(ratings["rating"].min()),
            "rating_max": float(ratings["rating"].max()),
        }
