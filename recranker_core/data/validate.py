"""Reading delimited files and checking ratings, with one-line errors.

Every check raises :class:`InputError` with the file, the column, the line and
the value, so the CLI can print it and exit 2.
"""

from __future__ import annotations

import csv
import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from recranker_core.errors import InputError

log = logging.getLogger("recranker")

# A data row's line number in a file with one header line.
HEADER_LINES = 1


def read_text_table(path: Path, *, sep: str, header: bool = True, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a delimited file as strings, mapping every failure to one clear line."""
    if not path.is_file():
        raise InputError(f"{path}: {'a folder, not a file' if path.is_dir() else 'file not found'}")
    try:
        with warnings.catch_warnings():
            # A row longer than the header: pandas would make its first column the index (index_col=False
            # stops that) and drop the rest with only a warning, which this makes an error.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                path,
                sep=sep,
                dtype=str,
                keep_default_na=False,
                header=0 if header else None,
                index_col=False,
                encoding=encoding,
                quotechar='"',
                engine="c",
            )
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: file is empty") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: {_bad_byte(path, encoding)}") from None
    except pd.errors.ParserWarning:
        raise InputError(f"{path}: {_long_line(path, sep, encoding)}") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: cannot parse as a table ({str(exc).splitlines()[0]})") from None
    if header:
        table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise InputError(f"{path}: no data rows")
    return table


def _bad_byte(path: Path, encoding: str) -> str:
    """Where a file stops being ``encoding`` text: its line and byte (pandas names an offset in a chunk)."""
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return f"not {encoding} text: line {line}, byte 0x{data[exc.start]:02x} (save the file as UTF-8)"
    return f"not {encoding} text"


def _long_line(path: Path, sep: str, encoding: str) -> str:
    """The first line with more fields than the header (a separator at a line's end alone is dropped)."""
    with path.open(encoding=encoding, newline="") as handle:
        rows = csv.reader(handle, delimiter=sep, quotechar='"')
        width = len(next(rows))
        for number, row in enumerate(rows, start=2):
            if len(row) > width:
                return f"line {number} has {len(row)} fields, the header {width}"
    return "a line has more fields than the header"


def pick_columns(
    table: pd.DataFrame, path: Path, wanted: Mapping[str, Sequence[str]], required: Sequence[str]
) -> pd.DataFrame:
    """Rename the first matching alias (case-insensitive) of each wanted column to its canonical name."""
    by_lower = {c.lower(): c for c in table.columns}
    chosen = {}
    for canonical, aliases in wanted.items():
        found = next((by_lower[a.lower()] for a in aliases if a.lower() in by_lower), None)
        if found is not None:
            chosen[found] = canonical
        elif canonical in required:
            raise InputError(
                f"{path}: missing column '{canonical}' (accepted names: {', '.join(aliases)}; "
                f"found: {', '.join(map(str, table.columns))})"
            )
    return table[list(chosen)].rename(columns=chosen)


RATING_MAX = 100
"""The largest rating accepted: 0-100 scales are the widest in use; a rating of 1e9 broke the linear
algebra of the base models."""
TIMESTAMP_MAX = 2**53
"""The largest timestamp (in absolute value): integers past it do not survive parsing as numbers exactly,
and 1e30 had become a negative number; seconds and milliseconds since 1970 fit easily."""


def to_number(
    values: pd.Series,
    path: Path | str,
    column: str,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> pd.Series:
    """Parse a column of strings as numbers (at least ``minimum`` and at most ``maximum``, if given); name
    the first bad line if any."""
    numbers = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers)
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: column '{column}', line {position + 1 + HEADER_LINES}: "
            f"{values.iloc[position]!r} is not a number"
        )
    if minimum is not None and (numbers < minimum).any():
        position = int(np.flatnonzero((numbers < minimum).to_numpy())[0])
        raise InputError(
            f"{path}: column '{column}', line {position + 1 + HEADER_LINES}: "
            f"{values.iloc[position]!r} is below {minimum:g} (out of any rating scale)"
        )
    if maximum is not None and (numbers.abs() > maximum).any():
        position = int(np.flatnonzero((numbers.abs() > maximum).to_numpy())[0])
        raise InputError(
            f"{path}: column '{column}', line {position + 1 + HEADER_LINES}: "
            f"{values.iloc[position]!r} is beyond {maximum:,.0f} (out of any {column} this tool reads)"
        )
    if integer:
        if (numbers != np.floor(numbers)).any():
            position = int(np.flatnonzero((numbers != np.floor(numbers)).to_numpy())[0])
            raise InputError(
                f"{path}: column '{column}', line {position + 1 + HEADER_LINES}: "
                f"{values.iloc[position]!r} is not a whole number"
            )
        return numbers.astype("int64")
    return numbers.astype("float64")


def check_ids(values: pd.Series, path: Path | str, column: str, *, text: bool = False) -> pd.Series:
    """IDs must be non-empty; all-integer IDs become int64 so they sort and join as numbers, unless they
    are ``text`` (ISBNs, ASINs: a leading zero is part of the ID)."""
    stripped = values.str.strip()
    empty = stripped == ""
    if empty.any():
        position = int(np.flatnonzero(empty.to_numpy())[0])
        raise InputError(f"{path}: column '{column}', line {position + 1 + HEADER_LINES}: empty value")
    if not text and stripped.str.fullmatch(r"-?\d{1,18}").all():
        return stripped.astype("int64")
    return stripped


def off_scale(
    numbers: pd.Series,
    values: pd.Series,
    path: Path | str,
    where: str,
    scale: tuple[float, float],
    whose: str,
    *,
    whole: bool = False,
    first_line: int = 1 + HEADER_LINES,
) -> None:
    """Refuse the first rating outside the ``scale`` a format declares (or, ``whole``, not a whole number);
    ``where`` names the column or field."""
    bad = (numbers < scale[0]) | (numbers > scale[1])
    if whole:
        bad |= numbers != np.floor(numbers)
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{path}: {where}, line {position + first_line}: {values.iloc[position]!r} is outside "
            f"{whose} {scale[0]:g}-{scale[1]:g} scale"
        )


def text_encoding(path: Path) -> str:
    """UTF-8 where the bytes are UTF-8, else Latin-1 (older dumps such as BookCrossing's); UTF-16 and binary
    files, which Latin-1 would read as garbage, are refused."""
    if not path.is_file():
        raise InputError(f"{path}: {'a folder, not a file' if path.is_dir() else 'file not found'}")
    data = path.read_bytes()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data:
        kind = "UTF-16 text" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "binary (a NUL byte)"
        raise InputError(f"{path}: {kind}, not UTF-8 or Latin-1 text (save the file as UTF-8)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def finish_ratings(ratings: pd.DataFrame, path: Path | str) -> pd.DataFrame:
    """Reject exact duplicates; keep only the latest rating of an item a user rated twice."""
    ratings = ratings.reset_index(drop=True)
    key = ["user_id", "item_id", "timestamp"]
    dup = ratings.duplicated(key, keep=False)
    if dup.any():
        lines = np.flatnonzero(dup.to_numpy())[:2] + 1 + HEADER_LINES
        first = int(lines[0] - 1 - HEADER_LINES)
        row = ", ".join(str(ratings.at[first, column]) for column in key)
        raise InputError(
            f"{path}: duplicate (user, item, timestamp) ({row}) at lines {lines[0]} and {lines[1]}"
        )
    ratings = ratings.sort_values(["user_id", "item_id", "timestamp"], kind="stable")
    rerated = ratings.duplicated(["user_id", "item_id"], keep="last")
    if rerated.any():
        log.warning(
            "%s: %d ratings of an item the same user rated again later; kept the latest of each",
            path,
            int(rerated.sum()),
        )
        ratings = ratings[~rerated]
    return ratings.reset_index(drop=True)


def complete_items(ratings: pd.DataFrame, items: pd.DataFrame | None, path: Path | str) -> pd.DataFrame:
    """One row per rated item; items with no title get 'item <id>' and a warning."""
    rated = pd.DataFrame({"item_id": ratings["item_id"].unique()})
    if items is None:
        items = pd.DataFrame({"item_id": rated["item_id"], "title": "", "genres": [[]] * len(rated)})
    # Join on the IDs' text so that "7" in an items file matches 7 in the ratings.
    items = items.assign(key=items["item_id"].astype(str)).drop(columns="item_id")
    items = items.drop_duplicates("key", keep="first")
    merged = rated.assign(key=rated["item_id"].astype(str)).merge(items, on="key", how="left")
    title = merged["title"].fillna("").astype(str).str.strip()
    untitled = title == ""
    if untitled.any():
        example = merged.loc[untitled, "item_id"].iloc[0]
        log.warning(
            "%s: %d items have no title (e.g. item %s); shown as 'item <id>'",
            path,
            int(untitled.sum()),
            example,
        )
        title = title.where(~untitled, "item " + merged["item_id"].astype(str))
    genres = merged["genres"].apply(lambda g: list(g) if isinstance(g, (list, tuple, np.ndarray)) else [])
    return (
        pd.DataFrame({"item_id": merged["item_id"], "title": title, "genres": genres})
        .sort_values("item_id", kind="stable")
        .reset_index(drop=True)
    )
