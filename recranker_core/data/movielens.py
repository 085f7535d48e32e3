"""A user's own MovieLens download (ml-100k, ml-1m, ml-10m, ml-latest(-small), ...), folder or zip.

lenskit's ``load_movielens`` detects the version and parses ratings, titles and
(except for ML-100K) genres; ML-100K keeps its genres as flag columns, which
lenskit's loader reads but does not attach, so we take them from its movie table.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from recranker_core.data.types import RatingData
from recranker_core.data.validate import complete_items, finish_ratings
from recranker_core.errors import InputError

log = logging.getLogger("recranker")


def looks_like_movielens(path: Path) -> bool:
    if path.is_file():
        return path.suffix == ".zip"
    return any((path / name).is_file() for name in ("u.data", "ratings.dat", "ratings.csv"))


def load_movielens_path(path: Path) -> RatingData:
    from lenskit.data import load_movielens

    try:
        dataset = load_movielens(path)
        ratings = dataset.interaction_table(format="pandas", original_ids=True)
        titles = dataset.entities("item").attribute("title").pandas()
        genres = _genres(dataset, path)
    except InputError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable MovieLens dataset ({first})") from None

    if "rating" not in ratings.columns or "timestamp" not in ratings.columns:
        raise InputError(f"{path}: MovieLens ratings without a rating or timestamp column")
    timestamp = ratings["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(timestamp):
        timestamp = timestamp.astype("datetime64[s]").astype("int64")
    ratings = pd.DataFrame(
        {
            "user_id": ratings["user_id"].astype("int64"),
            "item_id": ratings["item_id"].astype("int64"),
            "rating": ratings["rating"].astype("float64"),
            "timestamp": timestamp.astype("int64"),
        }
    )
    ratings = finish_ratings(ratings, path)
    items = pd.DataFrame({"item_id": titles.index.astype("int64"), "title": titles.to_numpy()})
    items["genres"] = items["item_id"].map(genres).apply(lambda g: g if isinstance(g, list) else [])
    items["title"] = items["title"].fillna("")
    return RatingData(
        name=path.stem if path.is_file() else path.name,
        source=str(path),
        ratings=ratings,
        items=complete_items(ratings, items, path),
    )


def _genres(dataset, path: Path) -> dict[int, list[str]]:
    attributes = dataset.entities("item").attributes
    if "genres" in attributes:
        series = dataset.entities("item").attribute("genres").pandas()
        return {int(k): [str(g) for g in v] for k, v in series.items() if v is not None}
    if dataset.name != "ml-100k" and not (path.is_dir() and (path / "u.item").is_file()):
        return {}
    # ML-100K: genre flag columns, read by lenskit's (private) loader, which is pinned with lenskit.
    from lenskit.data.movielens import _ml_detect_and_open

    with _ml_detect_and_open(path) as ml:
        genre_names = ml.genres().tolist()
        movies = ml.movies_df(genre_names)
    flags = movies[genre_names].astype(bool).to_numpy()
    return {
        int(item): [g for g, on in zip(genre_names, row) if on and g != "unknown"]
        for item, row in zip(movies["item_id"], flags)
    }
