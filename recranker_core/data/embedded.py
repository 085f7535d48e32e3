"""MovieLens-100K as shipped inside the ``recbole==1.2.1`` wheel (read as files, never imported).

RecBole's atomic files are tab-separated with typed headers (``user_id:token``);
titles come without their year ("Full Monty, The" + 1997), which we put back
the way MovieLens shows them: "Full Monty, The (1997)".
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from recranker_core.data.movielens import FIELDS
from recranker_core.data.types import RatingData
from recranker_core.data.validate import (
    check_ids,
    check_ratings,
    complete_items,
    finish_ratings,
    read_text_table,
)
from recranker_core.errors import InputError

# RecBole writes this placeholder (sic) where MovieLens has no title, year or genre.
UNKNOWN = {"unkonwn", "unknown", ""}


def ml100k_dir() -> Path:
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "dataset 'ml-100k': the recbole==1.2.1 wheel that ships it is not installed "
            "(run `make setup`, or pass a MovieLens folder or zip with --dataset)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k"


def load_ml100k() -> RatingData:
    folder = ml100k_dir()
    inter_path, item_path = folder / "ml-100k.inter", folder / "ml-100k.item"
    inter = _strip_types(read_text_table(inter_path, sep="\t"))
    ratings = finish_ratings(check_ratings(inter, inter_path, FIELDS), inter_path)

    raw = _strip_types(read_text_table(item_path, sep="\t"))
    title = raw["movie_title"].str.strip()
    year = raw["release_year"].str.strip()
    known_year = ~year.str.lower().isin(UNKNOWN)
    title = title.where(title.str.lower().isin(UNKNOWN) | ~known_year, title + " (" + year + ")")
    title = title.where(~title.str.lower().isin(UNKNOWN), "")
    genres = raw["class"].str.split().apply(lambda gs: [g for g in gs if g.lower() not in UNKNOWN])
    items = pd.DataFrame(
        {
            "item_id": check_ids(raw["item_id"], item_path, "column 'item_id'"),
            "title": title,
            "genres": genres,
        }
    )
    return RatingData(
        name="ml-100k",
        source=f"recbole==1.2.1 wheel: {folder}",
        ratings=ratings,
        items=complete_items(ratings, items, item_path),
        layout="MovieLens ML-100K (embedded)",
        domain="movie",
    )


def _strip_types(table: pd.DataFrame) -> pd.DataFrame:
    """``user_id:token`` -> ``user_id``."""
    return table.rename(columns=lambda c: c.split(":", 1)[0])
