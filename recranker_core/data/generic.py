"""The generic format: a ratings CSV (user, item, rating, timestamp) and an optional items CSV.

Column names are matched case-insensitively against the aliases below; files
ending in ``.tsv`` are tab-separated, everything else comma-separated, UTF-8.
Genres in the items file are separated by ``|``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recranker_core.data.types import RatingData
from recranker_core.data.validate import (
    Fields,
    check_ids,
    check_ratings,
    complete_items,
    finish_ratings,
    pick_columns,
    read_text_table,
)

RATING_COLUMNS = {
    "user_id": ("user_id", "user", "userId", "uid"),
    "item_id": ("item_id", "item", "itemId", "movieId", "iid"),
    "rating": ("rating", "score"),
    "timestamp": ("timestamp", "time", "ts", "unix_time"),
}
ITEM_COLUMNS = {
    "item_id": RATING_COLUMNS["item_id"],
    "title": ("title", "name", "movie_title"),
    "genres": ("genres", "genre", "categories"),
}
ITEMS_BESIDE = "items.csv"


def load_csv(ratings_path: Path, items_path: Path | None = None) -> RatingData:
    if (
        items_path is None
        and (ratings_path.parent / ITEMS_BESIDE).is_file()
        and ratings_path.name != ITEMS_BESIDE
    ):
        items_path = ratings_path.parent / ITEMS_BESIDE
    raw = read_text_table(ratings_path, sep=_sep(ratings_path))
    raw = pick_columns(raw, ratings_path, RATING_COLUMNS, required=tuple(RATING_COLUMNS))
    ratings = finish_ratings(check_ratings(raw, ratings_path, Fields()), ratings_path)

    items = None
    if items_path is not None:
        table = read_text_table(items_path, sep=_sep(items_path))
        table = pick_columns(table, items_path, ITEM_COLUMNS, required=("item_id", "title"))
        genres = table["genres"] if "genres" in table else pd.Series("", index=table.index)
        items = pd.DataFrame(
            {
                "item_id": check_ids(table["item_id"], items_path, "column 'item_id'"),
                "title": table["title"],
                "genres": genres.apply(lambda s: [g.strip() for g in s.split("|") if g.strip()]),
            }
        )
    return RatingData(
        name=ratings_path.stem,
        source=str(ratings_path) + (f" + {items_path}" if items_path else ""),
        ratings=ratings,
        items=complete_items(ratings, items, items_path or ratings_path),
    )


def _sep(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","
