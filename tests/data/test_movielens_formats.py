"""ML-1M and ML-10M folders and zips, written here in their published formats, read through lenskit."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recranker_core.cli import main
from recranker_core.data import load_dataset
from recranker_core.errors import InputError
from tests.fixtures.make_ml100k_mini import GENRES as MOVIELENS_GENRES

GENRES = MOVIELENS_GENRES[1:]  # without "unknown"
# Lines of the published files: rated movies, and one listed that nobody rated (each file's last line).
ML1M_MOVIES = {
    1: ("Toy Story (1995)", ["Animation", "Children's", "Comedy"]),
    73: ("Misérables, Les (1995)", ["Drama", "Musical"]),
}
ML1M_UNRATED = {3952: ("Contender, The (2000)", ["Drama", "Thriller"])}
ML10M_MOVIES = {
    122: ("Boomerang (1992)", ["Comedy", "Romance"]),
    185: ("Net, The (1995)", ["Action", "Crime", "Thriller"]),
    8606: ("Pull My Daisy (1958)", ["(no genres listed)"]),
}
ML10M_UNRATED = {65133: ("Blackadder Back & Forth (1999)", ["Comedy"])}
UNLISTED = (17, 29)
"""Rated items written without a line in movies.dat."""
TOP_FOLDER = {"ml-1m": "ml-1m", "ml-10m": "ml-10M100K"}
"""The folder inside each published zip."""


def write_movielens(
    folder: Path,
    version: str,
    *,
    n_users: int = 30,
    n_items: int = 40,
    seed: int = 0,
    extra_movies: dict[int, tuple[str, list[str]]] | None = None,
) -> tuple[pd.DataFrame, dict[int, tuple[str, list[str]]]]:
    """Write an ML-1M or ML-10M folder; return the ratings written and movies.dat's (title, genres)."""
    rng = np.random.default_rng(seed)
    ten_m = version == "ml-10m"
    known = {**(ML10M_MOVIES if ten_m else ML1M_MOVIES), **(extra_movies or {})}
    others = [i for i in range(2, 400) if i not in known and i not in UNLISTED]
    picked = rng.choice(others, n_items - len(known) - len(UNLISTED), replace=False).tolist()
    item_ids = sorted([*known, *UNLISTED, *picked])
    movies = {}
    for item in item_ids:
        if item in known:
            movies[item] = known[item]
        elif item not in UNLISTED:
            genres = rng.choice(GENRES, int(rng.integers(1, 4)), replace=False).tolist()
            movies[item] = (f"Movie {item} ({1930 + item % 70})", genres)
    movies.update(ML10M_UNRATED if ten_m else ML1M_UNRATED)

    if ten_m:
        scale, p = np.arange(1, 11) / 2, [0.02, 0.03, 0.04, 0.06, 0.1, 0.15, 0.2, 0.2, 0.1, 0.1]
        start, span = 789_652_009, 440_000_000
    else:
        scale, p = np.arange(1.0, 6.0), [0.05, 0.1, 0.2, 0.35, 0.3]
        start, span = 956_703_932, 89_000_000
    rows = []
    for user in range(1, n_users + 1):
        # User 1 rates every item, so each is rated; the others 20 to 30 of them, as in ML-1M's minimum.
        rated = item_ids if user == 1 else rng.choice(item_ids, int(rng.integers(20, 31)), replace=False)
        for item in rng.permutation(rated).tolist():
            rows.append((user, item, float(rng.choice(scale, p=p)), start + int(rng.integers(0, span))))
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    if ten_m:
        # The first lines of the published ratings.dat, one with a half star.
        for item, rating, timestamp in [(122, 5.0, 838_985_046), (185, 4.5, 838_983_525)]:
            at = (ratings["user_id"] == 1) & (ratings["item_id"] == item)
            ratings.loc[at, ["rating", "timestamp"]] = [rating, timestamp]

    folder.mkdir(parents=True)
    stars = (lambda r: f"{r:g}") if ten_m else (lambda r: f"{int(r)}")
    (folder / "ratings.dat").write_text(
        "".join(f"{u}::{i}::{stars(r)}::{t}\n" for u, i, r, t in ratings.itertuples(index=False)),
        encoding="ascii",
    )
    (folder / "movies.dat").write_text(
        "".join(f"{item}::{title}::{'|'.join(genres)}\n" for item, (title, genres) in movies.items()),
        encoding="utf-8" if ten_m else "latin-1",
    )
    if ten_m:
        tags = ["pixar", "Nudity (Topless)", "less than 300 ratings", "dark hero", "classic"]
        (folder / "tags.dat").write_text(
            "".join(
                f"{u}::{i}::{tags[k % len(tags)]}::{t + 60}\n"
                for k, (u, i, _, t) in enumerate(ratings.iloc[::25].itertuples(index=False))
            ),
            encoding="ascii",
        )
    else:
        ages, zips = [1, 18, 25, 35, 45, 50, 56], ["48067", "70072", "55117", "02460", "55455"]
        (folder / "users.dat").write_text(
            "".join(
                f"{u}::{'FM'[u % 2]}::{ages[u % len(ages)]}::{u % 21}::{zips[u % len(zips)]}\n"
                for u in range(1, n_users + 1)
            ),
            encoding="ascii",
        )
    dtypes = {"user_id": "int64", "item_id": "int64", "rating": "float64", "timestamp": "int64"}
    ratings = ratings.astype(dtypes)
    return ratings, movies


def zip_folder(folder: Path, archive: Path, top: str) -> Path:
    """``folder`` zipped as the published download: every file under the folder ``top``."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{top}/", "")
        for path in sorted(folder.iterdir()):
            zf.write(path, f"{top}/{path.name}")
        zf.writestr(f"{top}/README", "Summary\n=======\n")
    return archive


def sorted_ratings(ratings: pd.DataFrame) -> pd.DataFrame:
    return ratings.sort_values(["user_id", "item_id"]).reset_index(drop=True)


@pytest.mark.parametrize("version", ["ml-1m", "ml-10m"])
def test_ratings_keep_ids_values_and_timestamps(tmp_path, version):
    written, _ = write_movielens(tmp_path / version, version)
    data = load_dataset(str(tmp_path / version))
    summary = data.summary()
    assert {key: summary[key] for key in ("users", "items", "ratings", "rating_min", "rating_max")} == {
        "users": 30,
        "items": 40,
        "ratings": len(written),
        "rating_min": written["rating"].min(),
        "rating_max": written["rating"].max(),
    }
    assert data.ratings.dtypes.astype(str).to_dict() == {
        "user_id": "int64",
        "item_id": "int64",
        "rating": "float64",
        "timestamp": "int64",
    }
    pd.testing.assert_frame_equal(sorted_ratings(data.ratings), sorted_ratings(written))


def test_ml10m_half_stars_stay_half_stars(tmp_path):
    written, _ = write_movielens(tmp_path / "ml-10m", "ml-10m")
    data = load_dataset(str(tmp_path / "ml-10m"))
    ratings = data.ratings.set_index(["user_id", "item_id"])
    assert ratings.loc[(1, 122)].tolist() == [5.0, 838_985_046]
    assert ratings.loc[(1, 185)].tolist() == [4.5, 838_983_525]
    assert set(data.ratings["rating"]) == set(np.arange(1, 11) / 2)
    assert (data.ratings["rating"] % 1 == 0.5).sum() == (written["rating"] % 1 == 0.5).sum() > 0


@pytest.mark.parametrize("version", ["ml-1m", "ml-10m"])
def test_titles_and_genres_per_item(tmp_path, version):
    written, movies = write_movielens(tmp_path / version, version)
    items = load_dataset(str(tmp_path / version)).items.set_index("item_id")
    assert sorted(items.index) == sorted(written["item_id"].unique())
    for item in items.index.difference(UNLISTED):
        title, genres = movies[item]
        assert items.loc[item, "title"] == title
        assert items.loc[item, "genres"] == ([] if genres == ["(no genres listed)"] else genres)


def test_ml1m_latin1_title_reads_as_unicode(tmp_path):
    write_movielens(tmp_path / "ml-1m", "ml-1m")
    assert "Misérables".encode("latin-1") in (tmp_path / "ml-1m" / "movies.dat").read_bytes()
    items = load_dataset(str(tmp_path / "ml-1m")).items.set_index("item_id")
    assert items.loc[73, "title"] == "Misérables, Les (1995)"
    assert items.loc[73, "genres"] == ["Drama", "Musical"]
    assert items.loc[1, "title"] == "Toy Story (1995)"
    assert items.loc[1, "genres"] == ["Animation", "Children's", "Comedy"]


def test_ml10m_utf8_title_reads_as_unicode(tmp_path):
    extra = {73: ("Misérables, Les (1995)", ["Drama", "War"])}
    write_movielens(tmp_path / "ml-10m", "ml-10m", extra_movies=extra)
    assert "Misérables".encode() in (tmp_path / "ml-10m" / "movies.dat").read_bytes()
    items = load_dataset(str(tmp_path / "ml-10m")).items.set_index("item_id")
    assert items.loc[73, "title"] == "Misérables, Les (1995)"
    assert items.loc[73, "genres"] == ["Drama", "War"]


@pytest.mark.parametrize("version", ["ml-1m", "ml-10m"])
def test_title_with_a_colon_is_kept_whole(tmp_path, version):
    extra = {260: ("Star Wars: Episode IV - A New Hope (1977)", ["Action", "Adventure", "Fantasy", "Sci-Fi"])}
    write_movielens(tmp_path / version, version, extra_movies=extra)
    items = load_dataset(str(tmp_path / version)).items.set_index("item_id")
    assert items.loc[260, "title"] == "Star Wars: Episode IV - A New Hope (1977)"
    assert items.loc[260, "genres"] == ["Action", "Adventure", "Fantasy", "Sci-Fi"]


@pytest.mark.parametrize("version", ["ml-1m", "ml-10m"])
def test_items_missing_from_movies_dat_get_a_fallback_title(tmp_path, version):
    write_movielens(tmp_path / version, version)
    items = load_dataset(str(tmp_path / version)).items.set_index("item_id")
    for item in UNLISTED:
        assert items.loc[item, "title"] == f"item {item}"
        assert items.loc[item, "genres"] == []
    unrated = next(iter(ML10M_UNRATED if version == "ml-10m" else ML1M_UNRATED))
    assert unrated not in items.index


def test_ml10m_no_genres_listed_gives_no_genres(tmp_path):
    write_movielens(tmp_path / "ml-10m", "ml-10m")
    items = load_dataset(str(tmp_path / "ml-10m")).items.set_index("item_id")
    assert items.loc[8606, "title"] == "Pull My Daisy (1958)"
    assert items.loc[8606, "genres"] == []


@pytest.mark.parametrize("version", ["ml-1m", "ml-10m"])
def test_zip_with_top_folder_equals_the_folder(tmp_path, version):
    folder = tmp_path / version
    write_movielens(folder, version)
    archive = zip_folder(folder, tmp_path / f"{version}.zip", TOP_FOLDER[version])
    zipped, unpacked = load_dataset(str(archive)), load_dataset(str(folder))
    assert zipped.name == version
    assert zipped.fingerprint() == unpacked.fingerprint()
    pd.testing.assert_frame_equal(zipped.ratings, unpacked.ratings)
    pd.testing.assert_frame_equal(zipped.items, unpacked.items)


def test_folders_with_other_ratings_differ_in_fingerprint(tmp_path):
    write_movielens(tmp_path / "a", "ml-1m", seed=0)
    write_movielens(tmp_path / "b", "ml-1m", seed=1)
    assert load_dataset(str(tmp_path / "a")).fingerprint() != load_dataset(str(tmp_path / "b")).fingerprint()


@pytest.mark.parametrize(("version", "label"), [("ml-1m", "ML-1M"), ("ml-10m", "ML-10M")])
def test_ratings_without_movies_dat_names_the_missing_file(tmp_path, version, label):
    folder = tmp_path / version
    write_movielens(folder, version)
    (folder / "movies.dat").unlink()
    with pytest.raises(InputError, match=r"has ratings\.dat but not movies\.dat") as caught:
        load_dataset(str(folder))
    assert str(folder) in str(caught.value)
    assert label in str(caught.value)


@pytest.mark.parametrize("version", ["ml-1m", "ml-10m"])
def test_cli_data_prints_the_summary(tmp_path, capsys, version):
    folder = tmp_path / version
    written, _ = write_movielens(folder, version)
    assert main(["data", "--profile", "smoke", "--dataset", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"dataset      {version}" in out
    assert re.search(r"^users\s+30$", out, re.MULTILINE)
    assert re.search(rf"^ratings\s+{len(written)}$", out, re.MULTILINE)
