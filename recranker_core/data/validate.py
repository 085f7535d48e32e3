"""Reading delimited files and checking ratings, with one-line errors.

Every reader hands its ratings, as read and indexed by their line in the source file, to
:func:`check_ratings`, the one place the values are checked; every check raises :class:`InputError` with
the file, the column (or field), the line and the value, so the CLI can print it and exit 2.
"""

from __future__ import annotations

import csv
import io
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recranker_core.errors import InputError

log = logging.getLogger("recranker")


def read_text_table(
    path: Path,
    *,
    sep: str,
    header: bool = True,
    encoding: str = "utf-8",
    data: bytes | None = None,
    usecols: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Read a delimited file (or ``data``, the bytes of the file ``path`` names, such as a zip member) as
    strings, mapping every failure to one clear line. The index is each row's line in the file: blank lines
    are skipped, as pandas skips them, but counted, so that every message names the line an editor shows."""
    if data is None:
        if not path.is_file():
            raise InputError(f"{path}: {'a folder, not a file' if path.is_dir() else 'file not found'}")
        data = path.read_bytes()
    leading = _leading_blank_lines(data) if header else 0
    try:
        with warnings.catch_warnings():
            # A row longer than the header: pandas would make its first column the index (index_col=False
            # stops that) and drop the rest with only a warning, which this makes an error.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                io.BytesIO(data),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                header=0 if header else None,
                skiprows=leading,
                # Kept so that every row is one line of the file (two, if a quoted field holds a line
                # break); the blank ones are dropped below, once their lines are counted.
                skip_blank_lines=False,
                index_col=False,
                usecols=usecols,
                encoding=encoding,
                quotechar='"',
                engine="c",
            )
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: file is empty") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: {_bad_byte(data, encoding)}") from None
    except pd.errors.ParserWarning:
        raise InputError(f"{path}: {_long_line(data, sep, encoding)}") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: cannot parse as a table ({str(exc).splitlines()[0]})") from None
    header_lines = (1 + sum(str(c).count("\n") for c in table.columns)) if header else 0
    table.index = _line_numbers(table, data, first=leading + header_lines + 1)
    table = table[~_blank_rows(table, data, sep)]
    if header:
        table.columns = [str(c).strip() for c in table.columns]
    if table.empty:
        raise InputError(f"{path}: no data rows")
    return table


def _leading_blank_lines(data: bytes) -> int:
    """Blank lines before a header, which pandas would otherwise take for the header."""
    count = 0
    for line in io.BytesIO(data):
        if line.strip(b" \t\r\n"):
            break
        count += 1
    return count


LINE_BREAK = r"\r\n|\r|\n"


def _line_numbers(table: pd.DataFrame, data: bytes, first: int) -> np.ndarray:
    """Each row's line: one line a row, plus the line breaks inside quoted fields of the rows before it."""
    lines = first + np.arange(len(table), dtype="int64")
    if b'"' not in data or table.empty:
        return lines  # only a quoted field can hold a line break
    breaks = sum(table[column].str.count(LINE_BREAK).to_numpy() for column in table.columns)
    return lines + np.concatenate([[0], np.cumsum(breaks)[:-1]]).astype("int64")


def _blank_rows(table: pd.DataFrame, data: bytes, sep: str) -> np.ndarray:
    """Rows read from lines that hold nothing but spaces: pandas skips those lines (not a line of
    separators, which holds empty fields), so they are no rows here either."""
    blank = np.zeros(len(table), dtype=bool)
    if table.empty:
        return blank
    # A line without a separator fills the first field alone; only those rows need their line looked at.
    empty = np.ones(len(table), dtype=bool)
    for column in table.columns[1:]:
        empty &= table[column].to_numpy() == ""
    candidates = np.flatnonzero(empty)
    empty[candidates] = table.iloc[candidates, 0].str.strip().to_numpy() == ""
    if not empty.any():
        return blank
    texts = _physical_lines(data, table.index[empty])
    spaces = b" \r" if sep == "\t" else b" \t\r"
    blank[np.flatnonzero(empty)] = [not text.strip(spaces) for text in texts]
    return blank


def _physical_lines(data: bytes, numbers: Sequence[int]) -> list[bytes]:
    """The bytes of lines ``numbers`` (counted from 1; a line ends at \\n, \\r\\n or \\r, as pandas reads)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    after = np.append(raw[1:], 0)
    ends = np.flatnonzero((raw == 0x0A) | ((raw == 0x0D) & (after != 0x0A)))
    starts = np.concatenate([[0], ends + 1])
    ends = np.append(ends, len(data))
    return [data[starts[n - 1] : ends[n - 1]] for n in numbers]


def _bad_byte(data: bytes, encoding: str) -> str:
    """Where a file stops being ``encoding`` text: its line and byte (pandas names an offset in a chunk)."""
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return f"not {encoding} text: line {line}, byte 0x{data[exc.start]:02x} (save the file as UTF-8)"
    return f"not {encoding} text"


def _long_line(data: bytes, sep: str, encoding: str) -> str:
    """The first line with more fields than the header (a separator at a line's end alone is dropped)."""
    rows = csv.reader(io.StringIO(data.decode(encoding), newline=""), delimiter=sep, quotechar='"')
    width = next((len(row) for row in rows if row), 0)
    for row in rows:
        if len(row) > width:
            return f"line {rows.line_num} has {len(row)} fields, the header {width}"
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


@dataclass(frozen=True)
class Fields:
    """How a format names its four values, and what it declares about them, for :func:`check_ratings`."""

    user: str = "user_id"
    item: str = "item_id"
    rating: str = "rating"
    time: str | None = "timestamp"
    """None: the format has no timestamps, and every rating gets 0."""
    kind: str = "column"
    """What messages call them: a ``column`` of a table, a ``field`` of a JSON object."""
    user_ids: str = "auto"
    """``auto``: all-integer IDs become int64, so they sort and join as numbers; ``text``: kept as text
    (ISBNs, ASINs: a leading zero is part of the ID); ``integer``: anything else is refused."""
    item_ids: str = "auto"
    scale: tuple[float, float] | None = None
    """The scale the format declares; without one, any rating from 0 to RATING_MAX."""
    whose: str = ""
    """Names the scale in messages (``BookCrossing's``)."""
    whole: bool = False
    """Ratings on the scale are whole numbers."""


def check_ratings(raw: pd.DataFrame, path: Path | str, fields: Fields) -> pd.DataFrame:
    """The checks every reader's ratings pass, in one place: IDs present (and integers where the format
    says), ratings finite numbers on the format's scale (or 0 to RATING_MAX), timestamps whole numbers within
    TIMESTAMP_MAX. ``raw`` holds user_id, item_id, rating and (unless ``fields.time`` is None) timestamp as
    read, text or None, indexed by each row's line in ``path``; the result has the same index, for
    :func:`finish_ratings` to name duplicates by."""
    where = {name: f"{fields.kind} '{name}'" for name in (fields.user, fields.item, fields.rating)}
    users = check_ids(raw["user_id"], path, where[fields.user], kind=fields.user_ids)
    items = check_ids(raw["item_id"], path, where[fields.item], kind=fields.item_ids)
    rating = _ratings(raw["rating"], path, where[fields.rating], fields)
    if fields.time is None:
        timestamp = pd.Series(0, index=raw.index, dtype="int64")
    else:
        label = f"{fields.kind} '{fields.time}'"
        timestamp = to_number(
            raw["timestamp"], path, label, noun="timestamp", integer=True, maximum=TIMESTAMP_MAX
        )
    return pd.DataFrame({"user_id": users, "item_id": items, "rating": rating, "timestamp": timestamp})


def _ratings(values: pd.Series, path: Path | str, where: str, fields: Fields) -> pd.Series:
    if fields.scale is None:
        return to_number(values, path, where, noun="rating", minimum=0, maximum=RATING_MAX)
    numbers = to_number(values, path, where, noun="rating")
    off_scale(numbers, values, path, where, fields.scale, fields.whose, whole=fields.whole)
    return numbers


def _refuse(values: pd.Series, bad: pd.Series | np.ndarray, path: Path | str, where: str, what: str) -> None:
    """Name the first line where ``bad`` holds, its value and ``what`` is wrong with it."""
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: {where}, line {values.index[position]}: {values.iloc[position]!r} {what}")


def _present(values: pd.Series, path: Path | str, where: str) -> pd.Series:
    """The values as stripped text; a missing one (a JSON null, a short line) or an empty one is refused."""
    missing = values.isna().to_numpy()
    if missing.any():
        line = values.index[int(np.flatnonzero(missing)[0])]
        raise InputError(f"{path}: {where}, line {line}: no value (null)")
    stripped = values.astype(str).str.strip()
    empty = (stripped == "").to_numpy()
    if empty.any():
        line = values.index[int(np.flatnonzero(empty)[0])]
        raise InputError(f"{path}: {where}, line {line}: empty value")
    return stripped


def to_number(
    values: pd.Series,
    path: Path | str,
    where: str,
    *,
    noun: str = "value",
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> pd.Series:
    """Parse a column of strings (indexed by line) as finite numbers, at least ``minimum`` and at most
    ``maximum`` in absolute value if given; name the first bad line if any."""
    numbers = pd.to_numeric(values, errors="coerce")  # surrounding spaces allowed
    if numbers.isna().any():
        _present(values, path, where)  # a missing or empty value, named as such
    _refuse(values, numbers.isna() | ~np.isfinite(numbers), path, where, "is not a number")
    if minimum is not None:
        _refuse(values, numbers < minimum, path, where, f"is below {minimum:g} (out of any rating scale)")
    if maximum is not None:
        beyond = f"is beyond {maximum:,.0f} (out of any {noun} this tool reads)"
        _refuse(values, numbers.abs() > maximum, path, where, beyond)
    if integer:
        _refuse(values, numbers != np.floor(numbers), path, where, "is not a whole number")
        return numbers.astype("int64")
    return numbers.astype("float64")


def check_ids(values: pd.Series, path: Path | str, where: str, *, kind: str = "auto") -> pd.Series:
    """IDs must be present and non-empty; ``kind`` as in :class:`Fields`. Each distinct ID is looked at
    once: users and items repeat in every rating, and text is slow to check one row at a time."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    texts = pd.Series(distinct, dtype=object).astype(str).str.strip()
    if (codes < 0).any() or (texts == "").to_numpy()[codes].any():
        _present(values, path, where)  # names the first missing or empty one
    integers = texts.str.fullmatch(r"-?\d{1,18}").to_numpy()
    if kind == "integer":
        _refuse(values, ~integers[codes], path, where, "is not a whole number (this format's IDs are)")
    if kind != "text" and integers.all():
        return pd.Series(texts.astype("int64").to_numpy()[codes], index=values.index)
    return pd.Series(texts.to_numpy()[codes], index=values.index, dtype=object)


def off_scale(
    numbers: pd.Series,
    values: pd.Series,
    path: Path | str,
    where: str,
    scale: tuple[float, float],
    whose: str,
    *,
    whole: bool = False,
) -> None:
    """Refuse the first rating outside the ``scale`` a format declares (or, ``whole``, not a whole number);
    ``where`` names the column or field."""
    bad = (numbers < scale[0]) | (numbers > scale[1])
    if whole:
        bad |= numbers != np.floor(numbers)
    _refuse(values, bad, path, where, f"is outside {whose} {scale[0]:g}-{scale[1]:g} scale")


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
    """Reject exact duplicates, naming both lines (``ratings`` is indexed by line, as :func:`check_ratings`
    leaves it); keep only the latest rating of an item a user rated twice; drop the lines."""
    key = ["user_id", "item_id", "timestamp"]
    dup = ratings.duplicated(key, keep=False).to_numpy()
    if dup.any():
        first = [ratings[column].iloc[int(np.flatnonzero(dup)[0])] for column in key]
        same = np.logical_and.reduce([(ratings[c] == v).to_numpy() for c, v in zip(key, first)])
        lines = ratings.index[same][:2]
        row = ", ".join(map(str, first))
        raise InputError(
            f"{path}: duplicate (user, item, timestamp) ({row}) at lines {lines[0]} and {lines[1]}"
        )
    ratings = ratings.sort_values(key, kind="stable")
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
