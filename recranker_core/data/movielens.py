"""A user's own MovieLens download (ml-100k, ml-1m, ml-10m, ml-latest(-small), ...), folder or zip.

lenskit's loaders parse ratings, titles and (except for ML-100K) genres; ML-100K keeps its genres as
flag columns, which lenskit's loader reads but does not attach, so we take them from its movie table.
Which loader reads a folder or zip is decided here, from the files it holds (lenskit's own detection
trusts the folder's name and a zip's first entry, and fails with a traceback on the rest).
"""

from __future__ import annotations

import logging
import posixpath
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import pandas as pd

from recranker_core.data.types import RatingData
from recranker_core.data.validate import (
    Fields,
    check_ratings,
    complete_items,
    finish_ratings,
    pick_columns,
    read_text_table,
)
from recranker_core.errors import InputError

log = logging.getLogger("recranker")

RATINGS_FILES = ("u.data", "ratings.dat", "ratings.csv")
"""The file that marks each MovieLens layout (ML-100K; ML-1M and ML-10M; ML-20M and later)."""
LAYOUTS = {
    # version: (its name in messages, the files its download holds, required: its ratings file first)
    "ml-100k": ("ML-100K", ("u.data", "u.item", "u.genre", "u.user")),
    "ml-1m": ("ML-1M", ("ratings.dat", "movies.dat", "users.dat")),
    "ml-10m": ("ML-10M", ("ratings.dat", "movies.dat", "tags.dat")),
    "ml-latest": ("ML-20M or later", ("ratings.csv", "movies.csv", "tags.csv")),
}


def looks_like_movielens(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".zip"
    return any((path / name).is_file() for name in RATINGS_FILES)


SCALE = (0.5, 5)
"""MovieLens's stars: 1-5, in half stars from ML-10M on."""
FIELDS = Fields(user_ids="integer", item_ids="integer", scale=SCALE, whose="MovieLens's")
RATINGS_READ = {
    # version: (ratings file, separator, header, columns kept, their names)
    "ml-100k": ("u.data", "\t", False, None, FIELDS),
    # UserID::MovieID::Rating::Timestamp, read as fields between single colons, the empty ones left out
    "ml-1m": ("ratings.dat", ":", False, [0, 2, 4, 6], FIELDS),
    "ml-10m": ("ratings.dat", ":", False, [0, 2, 4, 6], FIELDS),
    "ml-latest": ("ratings.csv", ",", True, None, replace(FIELDS, user="userId", item="movieId")),
}
COLUMNS = ("user_id", "item_id", "rating", "timestamp")


def load_movielens_path(path: Path) -> RatingData:
    with _open(path) as ml:
        try:
            raw, where, fields = _ratings_file(ml, path)
            titles, genres = _movies_dat(path) if ml.version in DAT_VERSIONS else _titles_and_genres(ml)
        except InputError:
            raise
        except _read_errors() as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{path}: not a readable {LAYOUTS[ml.version][0]} dataset ({first})") from None
    ratings = check_ratings(raw, where, fields)
    # lenskit, which read these files before, parsed ratings as float32: a rating that float32 rounds
    # (none of MovieLens's half stars) keeps the value, and a run's dataset fingerprint, it had then.
    ratings["rating"] = ratings["rating"].astype("float32").astype("float64")
    ratings = finish_ratings(ratings, where)
    items = pd.DataFrame({"item_id": titles.index.astype("int64"), "title": titles.to_numpy()})
    items["genres"] = items["item_id"].map(genres).apply(lambda g: g if isinstance(g, list) else [])
    items["title"] = items["title"].fillna("")
    return RatingData(
        name=path.stem if path.is_file() else path.name,
        source=str(path),
        ratings=ratings,
        items=complete_items(ratings, items, path),
        layout=f"MovieLens {LAYOUTS[ml.version][0]}",
        domain="movie",
    )


def _ratings_file(ml, path: Path) -> tuple[pd.DataFrame, Path, Fields]:
    """The ratings file as text, indexed by line (read here, as lenskit's loaders keep no line numbers),
    the path messages name it by (inside a zip: the zip's path and the member's), and its fields."""
    name, sep, header, usecols, fields = RATINGS_READ[ml.version]
    with ml.open_file(name) as handle:
        data = handle.read()
    where = path / (ml.prefix + name)
    table = read_text_table(where, sep=sep, header=header, data=data, usecols=usecols)
    if header:
        wanted = {c: (getattr(fields, k),) for c, k in zip(COLUMNS, ("user", "item", "rating", "time"))}
        return pick_columns(table, where, wanted, required=COLUMNS), where, fields
    if table.shape[1] != len(COLUMNS):
        raise InputError(
            f"{where}: {table.shape[1]} fields a line, not {len(COLUMNS)} ({', '.join(COLUMNS)})"
        )
    table.columns = list(COLUMNS)
    return table, where, fields


def _titles_and_genres(ml) -> tuple[pd.Series, dict[int, list[str]]]:
    """Titles (by item) and genres from lenskit's reading of ``u.item`` (ML-100K: genre flag columns) or
    ``movies.csv`` (``|``-separated genres)."""
    if ml.version == "ml-100k":
        genre_names = ml.genres().tolist()
        movies = ml.movies_df(genre_names)
        flags = movies[genre_names].astype(bool).to_numpy()
        genres = {
            int(item): [g for g, on in zip(genre_names, row) if on and g != "unknown"]
            for item, row in zip(movies["item_id"], flags)
        }
    else:
        movies = ml.movies_df()
        genres = {
            int(item): [g for g in text.split("|") if g and g != NO_GENRES] if isinstance(text, str) else []
            for item, text in zip(movies["item_id"], movies["genres"])
        }
    return pd.Series(movies["title"].to_numpy(), index=movies["item_id"].to_numpy(), dtype=object), genres


DAT_VERSIONS = ("ml-1m", "ml-10m")
"""Layouts whose movies.dat we read ourselves: lenskit's loader splits it on every ':' (a title with a colon,
"Star Wars: Episode IV - A New Hope (1977)", lost its end and its genres, or failed the whole load) and
decodes ML-10M's UTF-8 as Latin-1."""
NO_GENRES = "(no genres listed)"


def _movies_dat(path: Path) -> tuple[pd.Series, dict[int, list[str]]]:
    """Titles (by item) and genres of ``movies.dat`` (``MovieID::Title::Genres``) in folder or zip ``path``:
    UTF-8 (ML-10M) or, where the bytes are not, Latin-1 (ML-1M)."""
    if path.is_dir():
        data = (path / "movies.dat").read_bytes()
    else:
        with zipfile.ZipFile(path) as archive:
            data = archive.read(_dataset_folder(archive, path) + "movies.dat")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    titles, genres = {}, {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("::", 2)
        if len(fields) != 3 or not fields[0].strip().isdigit():
            raise InputError(
                f"{path}: movies.dat, line {number}: {line[:60]!r} is not MovieID::Title::Genres"
            )
        item = int(fields[0])
        titles[item] = fields[1].strip()
        genres[item] = [g for g in fields[2].strip().split("|") if g and g != NO_GENRES]
    return pd.Series(titles, dtype=object), genres


def _read_errors() -> tuple[type[BaseException], ...]:
    from lenskit.diagnostics import DataError

    # Files that do not parse as their layout says, and damaged zip members (bad CRC, cut short).
    parsing = (ValueError, KeyError, TypeError, UnicodeDecodeError, DataError)
    return (OSError, RuntimeError, EOFError, zlib.error, zipfile.BadZipFile, *parsing)


def _open(path: Path):
    """lenskit's reader (an ``MLData``, a context manager) for the MovieLens layout in folder or zip
    ``path``."""
    if path.is_dir():
        files = {p.name for p in path.iterdir() if p.is_file()}
        version = _version(files, path, "")
        _require(files, version, path, "")
        return _loader(version)(version, path)
    archive = _open_zip(path)
    try:
        prefix = _dataset_folder(archive, path)
        files = {
            name[len(prefix) :]
            for name in archive.namelist()
            if name.startswith(prefix) and "/" not in name[len(prefix) :]
        }
        version = _version(files, path, prefix)
        _require(files, version, path, prefix)
    except BaseException:
        archive.close()
        raise
    return _loader(version)(version, archive, prefix)


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise InputError(f"{path}: not a zip archive, or a damaged or truncated one") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({(exc.strerror or str(exc)).lower()})") from None


def _dataset_folder(archive: zipfile.ZipFile, path: Path) -> str:
    """The folder inside the zip ('' for its top) holding the ratings file, the shallowest if several."""
    members = [
        i.filename for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
    ]
    if not members:
        raise InputError(f"{path}: the zip archive is empty")
    found = sorted(
        (name.count("/"), posixpath.dirname(name))
        for name in members
        if posixpath.basename(name) in RATINGS_FILES
    )
    if not found:
        example = ", ".join(repr(m) for m in members[:3])
        raise InputError(
            f"{path}: no {', '.join(RATINGS_FILES[:-1])} or {RATINGS_FILES[-1]} in the zip archive "
            f"({len(members)} file{'s' if len(members) > 1 else ''}: "
            f"{example}{', ...' if len(members) > 3 else ''}); "
            "not a MovieLens download"
        )
    shallowest = sorted({folder for depth, folder in found if depth == found[0][0]})
    if len(shallowest) > 1:
        raise InputError(
            f"{path}: the zip archive holds several datasets ({', '.join(f + '/' for f in shallowest)}); "
            "unpack it and pass the folder of one with --dataset"
        )
    return f"{shallowest[0]}/" if shallowest[0] else ""


def _version(files: set[str], path: Path, prefix: str) -> str:
    if "u.data" in files:
        return "ml-100k"
    if "ratings.dat" in files:
        return "ml-10m" if "tags.dat" in files else "ml-1m"
    if "ratings.csv" in files:
        return "ml-latest"
    where = f"'{prefix}' in " if prefix else ""
    raise InputError(
        f"{path}: {where}no {', '.join(RATINGS_FILES[:-1])} or {RATINGS_FILES[-1]}; not a MovieLens dataset"
    )


def _require(files: set[str], version: str, path: Path, prefix: str) -> None:
    """Every file lenskit's loader for ``version`` opens, named in one line when some are missing."""
    label, (ratings, *others) = LAYOUTS[version]
    missing = [name for name in others if name not in files]
    if not missing:
        return
    where = f"its folder '{prefix.rstrip('/')}'" if prefix else "it"
    hint = ""
    if ratings == "ratings.csv" and not prefix and path.is_dir():
        hint = f"; for a ratings file of your own, pass the file: --dataset {path / ratings}"
    raise InputError(
        f"{path}: {where} has {ratings} but not {', '.join(missing)} (an {label} MovieLens dataset has "
        f"{', '.join([ratings, *others][:-1])} and {others[-1]}){hint}"
    )


def _loader(version: str):
    from lenskit.data.movielens import ML100KLoader, MLMLoader, MLModernLoader

    return {"ml-100k": ML100KLoader, "ml-1m": MLMLoader, "ml-10m": MLMLoader}.get(version, MLModernLoader)
