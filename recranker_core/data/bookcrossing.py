"""BookCrossing (Ziegler et al. 2005): ``BX-Book-Ratings.csv`` with ``BX-Books.csv`` for the titles.

The dump's own quirks: semicolon-separated, every field quoted, Latin-1 text (some copies were re-saved as
UTF-8, which is read as such), ISBNs as item IDs (text: leading zeros and a final X matter), backslash-
escaped quotes and HTML entities in titles, and a few broken lines in the books file, whose books then show
as ``item <ISBN>``. A rating of 0 records an implicit interaction, not a rating: those rows are dropped, as
the paper's counts (433,671 ratings) drop them. There are no timestamps: every rating gets 0, so the
split's fixed hash order stands in for time (``data.split``), and the sequential scenario is refused.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

import pandas as pd

from recranker_core.data.types import RatingData
from recranker_core.data.validate import (
    Fields,
    check_ratings,
    complete_items,
    finish_ratings,
    read_text_table,
    text_encoding,
)
from recranker_core.errors import InputError

RATINGS_FILE, BOOKS_FILE = "BX-Book-Ratings.csv", "BX-Books.csv"
SCALE = (0, 10)
"""What the dump declares: 1-10 explicit ratings, 0 for an implicit interaction."""
IMPLICIT = 0
RATING_COLUMNS, BOOK_COLUMNS = ("User-ID", "ISBN", "Book-Rating"), ("ISBN", "Book-Title")
FIELDS = Fields(
    user="User-ID",
    item="ISBN",
    rating="Book-Rating",
    time=None,
    item_ids="text",
    scale=SCALE,
    whose="BookCrossing's",
    whole=True,
)
SEPARATORS = (";", ",")


def looks_like_bookcrossing(path: Path) -> bool:
    return (path / RATINGS_FILE).is_file() if path.is_dir() else path.name == RATINGS_FILE


def load_bookcrossing(path: Path) -> RatingData:
    ratings_path = path / RATINGS_FILE if path.is_dir() else path
    books_path = ratings_path.parent / BOOKS_FILE
    if not books_path.is_file():
        raise InputError(
            f"{ratings_path.parent}: has {RATINGS_FILE} but not {BOOKS_FILE} (the book titles prompts show)"
        )
    encoding = text_encoding(ratings_path)
    sep = _separator(ratings_path, encoding, RATING_COLUMNS)
    raw = read_text_table(ratings_path, sep=sep, encoding=encoding)
    raw = raw[list(RATING_COLUMNS)].set_axis(["user_id", "item_id", "rating"], axis=1)
    ratings = check_ratings(raw, ratings_path, FIELDS)
    ratings = ratings[(ratings["rating"] != IMPLICIT).to_numpy()]
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


def _separator(path: Path, encoding: str, names: tuple[str, ...]) -> str:
    """``;``, as the dump was published, or ``,``, as its widely shared copies have it: the one that splits
    the header into BookCrossing's column names."""
    with path.open(encoding=encoding, newline="") as handle:
        number, header = next(((n, line) for n, line in enumerate(handle, 1) if line.strip()), (1, ""))
    found = {}
    for sep in SEPARATORS:
        found[sep] = [field.strip() for field in next(csv.reader([header], delimiter=sep, quotechar='"'))]
        if all(name in found[sep] for name in names):
            return sep
    sep = max(SEPARATORS, key=lambda s: len(found[s]))
    missing = next(name for name in names if name not in found[sep])
    raise InputError(
        f"{path}: line {number}: missing column '{missing}' (BookCrossing's are {', '.join(names)}, "
        f"separated by ';' as published or ','; found: {header.strip()[:120]!r})"
    )


def _books(path: Path) -> pd.DataFrame:
    encoding = text_encoding(path)
    sep = _separator(path, encoding, BOOK_COLUMNS)
    try:
        table = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            encoding=encoding,
            escapechar="\\",
            on_bad_lines="skip",  # the dump's few broken lines: those books show as 'item <ISBN>'
            usecols=lambda column: column.strip() in BOOK_COLUMNS,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(
            f"{path}: cannot read it as BookCrossing's books ({str(exc).splitlines()[0]})"
        ) from None
    table.columns = [column.strip() for column in table.columns]
    return pd.DataFrame(
        {
            "item_id": table["ISBN"].str.strip(),
            "title": table["Book-Title"].map(html.unescape).str.strip(),
            "genres": [[] for _ in range(len(table))],
        }
    )
