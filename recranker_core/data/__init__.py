"""Loading rating data (the only place raw files are read) and the RecRanker split."""

from __future__ import annotations

from pathlib import Path

from recranker_core.data.types import RatingData
from recranker_core.errors import InputError

EMBEDDED = ("ml-100k",)


def load_dataset(spec: str, items: str | None = None) -> RatingData:
    """Load ``ml-100k`` (embedded), a MovieLens folder or zip, or a ratings CSV (+ items CSV)."""
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
    raise InputError(
        f"{path}: not a MovieLens folder or zip (no u.data, ratings.dat or ratings.csv) "
        "and not a .csv/.tsv ratings file"
    )


__all__ = ["EMBEDDED", "RatingData", "load_dataset"]
