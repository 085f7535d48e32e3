"""BookCrossing (Ziegler et al. 2005): ``BX-Book-Ratings.csv`` with ``BX-Books.csv`` for the titles.

The dump's own quirks: semicolon-separated, every field quoted, Latin-1 text (some copies were re-saved as
UTF-8, which is read as such), ISBNs as item IDs (text: leading zeros and a final X matter), backslash-
escaped quotes and HTML entities in titles, and a few broken lines in the books file, whose books then show
as ``item <ISBN>``. A rating of 0 records an implicit interaction, not a rating: those rows are dropped, as
the paper's counts (433,671 ratings) drop them. There are no timestamps: every rating gets 0, so the
split's fixed hash order stands in for time (``data.split``), and the sequential scenario is refused.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from recranker_core.data.types import RatingData
from recranker_core.data.validate import (
    check_ids,
    complete_items,
    finish_ratings,
    off_scale,
    read_text_table,
    text_encoding,
    to_number,
)
from recranker_core.errors import InputError

RATINGS_FILE, BOOKS_FILE = "BX-Book-Ratings.csv", "BX-Books.csv"
SCALE = (0, 10)
"""What the dump declares: 1-10 explicit ratings, 0 for an implicit interaction."""
IMPLICIT = 0


def looks_like_bookcrossing(path: Path) -> bool:
    return (path / RATINGS_FILE).is_file() if path.is_dir() else path.name == RATINGS_FILE


def load_bookcrossing(path: Path) -> RatingData:
    ratings_path = path / RATINGS_FILE if path.is_dir() else path
    books_path = ratings_path.parent / BOOKS_FILE
    if not books_path.is_file():
        raise InputError(
            f"{ratings_path.parent}: has {RATINGS_FILE} but not {BOOKS_FILE} (the book titles prompts show)"
        )
    raw = read_text_table(ratings_path, sep=";", encoding=text_encoding(ratings_path))
    raw = _columns(raw, ratings_path, ("User-ID", "ISBN", "Book-Rating"))
    rating = to_number(raw["Book-Rating"], ratings_path, "Book-Rating")
    off_scale(
        rating, raw["Book-Rating"], ratings_path, "column 'Book-Rating'", SCALE, "BookCrossing's", whole=True
    )
    explicit = rating != IMPLICIT
    ratings = pd.DataFrame(
        {
            "user_id": check_ids(raw["User-ID"], ratings_path, "User-ID"),
            "item_id": check_ids(raw["ISBN"], ratings_path, "ISBN", text=True),
            "rating": rating,
            "timestamp": 0,
        }
    )[explicit.to_numpy()]
    if ratings.empty:
        raise InputError(
            f"{ratings_path}: column 'Book-Rating': every rating is 0 (implicit); nothing to rank"
        )
    ratings = finish_ratings(ratings, ratings_path)
    return RatingData(
        name=ratings_path.parent.name,
        source=str(ratings_path.parent),
        ratings=ratings,
        items=complete_items(ratings, _books(books_path), books_path),
        layout="BookCrossing",
        domain="book",
        timed=False,
    )


def _books(path: Path) -> pd.DataFrame:
    encoding = text_encoding(path)
    try:
        table = pd.read_csv(
            path,
            sep=";",
            dtype=str,
            keep_default_na=False,
            encoding=encoding,
            escapechar="\\",
            on_bad_lines="skip",  # the dump's few broken lines: those books show as 'item <ISBN>'
            usecols=lambda column: column in ("ISBN", "Book-Title"),
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(
            f"{path}: cannot read it as BookCrossing's books ({str(exc).splitlines()[0]})"
        ) from None
    table = _columns(table, path, ("ISBN", "Book-Title"))
    return pd.DataFrame(
        {
            "item_id": table["ISBN"].str.strip(),
            "title": table["Book-Title"].map(html.unescape).str.strip(),
            "genres": [[] for _ in range(len(table))],
        }
    )


def _columns(table: pd.DataFrame, path: Path, names: tuple[str, ...]) -> pd.DataFrame:
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise InputError(
            f"{path}: missing column '{missing[0]}' (BookCrossing's are {', '.join(names)}; "
            f"found: {', '.join(map(str, table.columns))})"
        )
    return table
