"""Amazon reviews: the 2018 release (McAuley lab; 5-core ``<Category>_5.json``) and the 2023 one
(``<Category>.jsonl``), each with its metadata file (``meta_<Category>.json`` / ``.jsonl``) for titles and
categories, optionally gzipped. One JSON object per line; a line that is not JSON is refused, never
evaluated as Python (the 2014 release's metadata was Python literals).

* 2018: ``reviewerID``, ``asin``, ``overall`` (1-5), ``unixReviewTime`` (seconds); metadata ``asin``,
  ``title``, ``category`` (a path, department first).
* 2023: ``user_id``, ``parent_asin`` (the item, as the release's own benchmarks group variants),
  ``rating`` (1-5), ``timestamp`` (milliseconds, kept as seconds); metadata ``parent_asin``, ``title``,
  ``categories`` (a path, department first).

An item's genre is the first category below the department ("Literature & Fiction" under "Books"), one per
item, for slices and diversity: the whole path would make every item share the department. The same review
written twice (same user, item and time, as the raw files hold) is kept once.
"""

from __future__ import annotations

import gzip
import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recranker_core.data.types import RatingData
from recranker_core.data.validate import Fields, check_ratings, complete_items, finish_ratings
from recranker_core.errors import InputError

log = logging.getLogger("recranker")
SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
SCALE = (1, 5)
COLUMNS = ("user_id", "item_id", "rating", "timestamp")


@dataclass(frozen=True)
class Release:
    name: str
    user: str
    item: str
    rating: str
    time: str
    per_second: int
    """Timestamp units per second."""
    categories: str


RELEASES = (
    Release("Amazon 2018", "reviewerID", "asin", "overall", "unixReviewTime", 1, "category"),
    Release("Amazon 2023", "user_id", "parent_asin", "rating", "timestamp", 1000, "categories"),
)


def is_json_lines(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(SUFFIXES)


def reviews_in(folder: Path) -> list[Path]:
    """The review files in ``folder`` (JSON lines that are not metadata)."""
    return sorted(p for p in folder.iterdir() if is_json_lines(p) and not p.name.startswith("meta_"))


def load_amazon(path: Path) -> RatingData:
    reviews = _reviews_file(path)
    lines, rows = _records(reviews)
    release = _release(rows[0], lines[0], reviews)
    fields = (release.user, release.item, release.rating, release.time)
    missing = next(((n, f) for n, r in zip(lines, rows) for f in fields if f not in r), None)
    if missing:
        raise InputError(
            f"{reviews}: line {missing[0]}: no field '{missing[1]}' (an {release.name} review has it)"
        )
    ratings = _ratings(rows, lines, release, reviews)
    meta = _meta_file(reviews)
    items = _items(_records(meta)[1], release, meta)
    return RatingData(
        name=_stem(reviews),
        source=f"{reviews} + {meta}",
        ratings=ratings,
        items=complete_items(ratings, items, meta),
        layout=release.name,
        domain="product",
    )


def _reviews_file(path: Path) -> Path:
    if path.is_file():
        if path.name.startswith("meta_"):
            raise InputError(f"{path}: a metadata file; pass the reviews file beside it with --dataset")
        return path
    found = reviews_in(path)
    if len(found) != 1:
        raise InputError(
            f"{path}: {len(found)} Amazon review files ({', '.join(p.name for p in found)}); "
            "pass one with --dataset"
        )
    return found[0]


def _meta_file(reviews: Path) -> Path:
    stem = _stem(reviews).removesuffix("_5")
    candidates = [reviews.parent / f"meta_{stem}{suffix}" for suffix in SUFFIXES]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise InputError(
            f"{reviews}: no metadata file meta_{stem}.json(l)[.gz] beside it (the titles prompts show)"
        )
    return found


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _records(path: Path) -> tuple[list[int], list[dict]]:
    """Every line of a JSON-lines file as an object, with its line number (blank lines are skipped but
    counted); the first line that is not one is named."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    lines, rows = [], []
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise InputError(f"{path}: line {number} is not JSON ({line.strip()[:40]!r})") from None
                if not isinstance(row, dict):
                    raise InputError(f"{path}: line {number} is not a JSON object ({line.strip()[:40]!r})")
                lines.append(number)
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read it ({exc})") from None
    if not rows:
        raise InputError(f"{path}: file is empty")
    return lines, rows


def _release(first: dict, line: int, path: Path) -> Release:
    for release in RELEASES:
        if release.user in first and release.item in first:
            return release
    raise InputError(
        f"{path}: line {line} has neither reviewerID and asin (Amazon 2018) nor user_id and parent_asin "
        f"(Amazon 2023); found: {', '.join(list(first)[:8])}"
    )


def _ratings(rows: list[dict], lines: list[int], release: Release, path: Path) -> pd.DataFrame:
    raw = pd.DataFrame(
        {
            column: [_text(r[field]) for r in rows]
            for column, field in zip(COLUMNS, (release.user, release.item, release.rating, release.time))
        },
        index=lines,
        dtype=object,
    )
    ratings = check_ratings(raw, path, _fields(release))
    ratings["timestamp"] = ratings["timestamp"] // release.per_second
    twice = ratings.duplicated(["user_id", "item_id", "timestamp"])
    if twice.any():
        log.warning(
            "%s: %d reviews written twice (same user, item and time); kept once", path, int(twice.sum())
        )
        ratings = ratings[~twice]
    return finish_ratings(ratings, path)


def _text(value) -> str | None:
    """A JSON value as the text the checks read (a null stays missing, so that it is refused, not 'None')."""
    return None if value is None else str(value)


def _fields(release: Release) -> Fields:
    return Fields(
        user=release.user,
        item=release.item,
        rating=release.rating,
        time=release.time,
        kind="field",
        user_ids="text",
        item_ids="text",
        scale=SCALE,
        whose="Amazon's",
    )


def _items(rows: list[dict], release: Release, path: Path) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "item_id": [str(r.get(release.item, "")).strip() for r in rows],
            "title": [html.unescape(str(r.get("title") or "")).strip() for r in rows],
            "genres": [_genre(r.get(release.categories)) for r in rows],
        }
    )
    return table[table["item_id"] != ""]


def _genre(path) -> list[str]:
    """The first category below the department, if the item has one."""
    if not isinstance(path, list) or len(path) < 2:
        return []
    return [html.unescape(str(path[1])).strip()]
