"""Loading rating data (the only place raw files are read) and the RecRanker split."""

from __future__ import annotations

from pathlib import Path

from recranker_core.data.types import RatingData
from recranker_core.errors import InputError

EMBEDDED = ("ml-100k",)


def load_dataset(spec: str, items: str | None = None) -> RatingData:
    """Load ``ml-100k`` (embedded), a MovieLens folder or zip, a BookCrossing folder, Amazon reviews (JSON
    lines with their metadata beside them), or a ratings CSV (+ items CSV)."""
    try:
        return _load(spec, items)
    except PermissionError as exc:
        raise InputError(f"{exc.filename or spec}: cannot read it (permission denied)") from None


def _load(spec: str, items: str | None) -> RatingData:
    if spec in EMBEDDED:
        _no_items(items, spec)
        from recranker_core.data.embedded import load_ml100k

        return load_ml100k()
    path = Path(spec)
    if not path.exists():
        raise InputError(
            f"dataset '{spec}': not a known dataset ({', '.join(EMBEDDED)}) and no such file or folder"
        )
    from recranker_core.data import amazon, bookcrossing, movielens

    if bookcrossing.looks_like_bookcrossing(path):
        _no_items(items, spec)
        return bookcrossing.load_bookcrossing(path)
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv"):
        from recranker_core.data.generic import load_csv

        return load_csv(path, Path(items) if items else None)
    _no_items(items, spec)
    if amazon.is_json_lines(path) or (path.is_dir() and amazon.reviews_in(path)):
        return amazon.load_amazon(path)
    if movielens.looks_like_movielens(path):
        return movielens.load_movielens_path(path)
    inside = [sub for sub in sorted(path.iterdir()) if sub.is_dir() and _known(sub)] if path.is_dir() else []
    raise InputError(
        f"{path}: not a dataset this tool reads (a MovieLens folder or zip with u.data, ratings.dat or "
        f"ratings.csv; a BookCrossing folder with {bookcrossing.RATINGS_FILE}; Amazon reviews as JSON lines; "
        "a .csv/.tsv ratings file)" + (f"; did you mean --dataset {inside[0]}?" if inside else "")
    )


def _known(folder: Path) -> bool:
    from recranker_core.data import amazon, bookcrossing, movielens

    return (
        bookcrossing.looks_like_bookcrossing(folder)
        or bool(amazon.reviews_in(folder))
        or movielens.looks_like_movielens(folder)
    )


def _no_items(items: str | None, spec: str) -> None:
    if items is not None:
        raise InputError(f"--items {items}: only used with a ratings CSV, not with '{spec}'")


__all__ = ["EMBEDDED", "RatingData", "load_dataset"]
