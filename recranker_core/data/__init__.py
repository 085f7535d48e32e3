"""Loading rating data (the only place raw files are read) and the RecRanker split."""

from __future__ import annotations

from pathlib import Path

from recranker_core.data.types import RatingData
from recranker_core.errors import InputError

EMBEDDED = ("ml-100k",)


def load_dataset(spec: str, items: str | None = None) -> RatingData:
    """Load ``ml-100k`` (embedded), a MovieLens folder or zip, or a ratings CSV (+ items CSV)."""
    try:
        return _load(spec, items)
    except PermissionError as exc:
        raise InputError(f"{exc.filename or spec}: cannot read it (permission denied)") from None


def _load(spec: str, items: str | None) -> RatingData:
    if spec in EMBEDDED:
        if items is not None:
            raise InputError(f"--items {items}: only used with a ratings CSV, not with '{spec}'")
        from recranker_core.data.embedded import load_ml100k

        return load_ml100k()
    path = Path(spec)
    if not path.exists():
        raise InputError(
            f"dataset '{spec}': not a known dataset ({', '.join(EMBEDDED)}) and no such file or folder"
        )
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv"):
        from recranker_core.data.generic import load_csv

        return load_csv(path, Path(items) if items else None)
    if items is not None:
        raise InputError(f"--items {items}: only used with a ratings CSV, not with '{spec}'")
    from recranker_core.data.movielens import load_movielens_path, looks_like_movielens

    if looks_like_movielens(path):
        return load_movielens_path(path)
    inside = (
        [sub for sub in sorted(path.iterdir()) if looks_like_movielens(sub) and sub.is_dir()]
        if path.is_dir()
        else []
    )
    raise InputError(
        f"{path}: not a MovieLens folder or zip (no u.data, ratings.dat or ratings.csv) "
        "and not a .csv/.tsv ratings file" + (f"; did you mean --dataset {inside[0]}?" if inside else "")
    )


__all__ = ["EMBEDDED", "RatingData", "load_dataset"]
