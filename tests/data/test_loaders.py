"""The three data sources: embedded ML-100K, a MovieLens folder or zip, and generic CSV."""

from __future__ import annotations

import logging
import zipfile

import pandas as pd
import pytest

from recranker_core.data import load_dataset
from tests.conftest import MINI


def test_embedded_ml100k_has_the_published_counts(ml100k):
    assert ml100k.summary() == {
        "format": "MovieLens ML-100K (embedded)",
        "users": 943,
        "items": 1682,
        "ratings": 100_000,
        "rating_min": 1.0,
        "rating_max": 5.0,
        "scale": "1-5",
        "order": "time",
    }
    assert list(ml100k.ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert ml100k.ratings.duplicated(["user_id", "item_id"]).sum() == 0


def test_embedded_titles_read_as_movielens_shows_them(ml100k):
    titles = ml100k.items.set_index("item_id")["title"]
    assert titles[269] == "Full Monty, The (1997)"
    assert titles[1] == "Toy Story (1995)"
    genres = ml100k.items.set_index("item_id")["genres"]
    assert genres[1] == ["Animation", "Children's", "Comedy"]


def test_embedded_item_without_title_falls_back_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="recranker"):
        data = load_dataset("ml-100k")
    assert data.items.set_index("item_id")["title"][267] == "item 267"
    assert any("no title" in r.getMessage() and "267" in r.getMessage() for r in caplog.records)


def test_fingerprint_is_stable_and_content_based(ml100k):
    assert ml100k.fingerprint() == load_dataset("ml-100k").fingerprint()
    mini = load_dataset(str(MINI))
    assert mini.fingerprint() != ml100k.fingerprint()


def test_movielens_folder_reads_ratings_titles_and_genre_flags(ml100k):
    mini = load_dataset(str(MINI))
    assert mini.name == "ml-100k-mini"
    assert mini.summary()["users"] == 40
    # The fixture is a slice of the embedded data: every rating must match it exactly.
    joined = mini.ratings.merge(ml100k.ratings, on=["user_id", "item_id"], suffixes=("", "_full"))
    assert len(joined) == len(mini.ratings)
    assert (joined["rating"] == joined["rating_full"]).all()
    assert (joined["timestamp"] == joined["timestamp_full"]).all()
    items = mini.items.set_index("item_id")
    assert items.loc[1, "title"] == "Toy Story (1995)"
    assert items.loc[1, "genres"] == ["Animation", "Children's", "Comedy"]


def test_movielens_zip_equals_the_folder(tmp_path):
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml-100k/", "")
        for path in sorted(MINI.iterdir()):
            zf.write(path, f"ml-100k/{path.name}")
    zipped, folder = load_dataset(str(archive)), load_dataset(str(MINI))
    pd.testing.assert_frame_equal(zipped.ratings, folder.ratings)
    pd.testing.assert_frame_equal(zipped.items, folder.items)


def test_movielens_latest_small_layout(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,10,4.5,100\n1,20,3.0,200\n2,10,5.0,150\n"
    )
    (folder / "movies.csv").write_text(
        'movieId,title,genres\n10,"American President, The (1995)",Comedy|Drama|Romance\n'
        "20,Heat (1995),(no genres listed)\n"
    )
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,10,politics,120\n")
    data = load_dataset(str(folder))
    assert data.ratings["rating"].tolist() == [4.5, 3.0, 5.0]
    items = data.items.set_index("item_id")
    assert items.loc[10, "title"] == "American President, The (1995)"
    assert items.loc[10, "genres"] == ["Comedy", "Drama", "Romance"]
    assert items.loc[20, "genres"] == []


def test_generic_csv_with_aliases_and_items_file(tmp_path):
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("UserId,itemId,Rating,Time\nu1,b1,5,10\nu1,b2,2,20\nu2,b1,4,15\n")
    items = tmp_path / "books.csv"
    items.write_text("item,title,genres\nb1,Dune,Sci-Fi|Classic\nb2,Emma,\n")
    data = load_dataset(str(ratings), items=str(items))
    assert data.ratings.to_dict("list") == {
        "user_id": ["u1", "u1", "u2"],
        "item_id": ["b1", "b2", "b1"],
        "rating": [5.0, 2.0, 4.0],
        "timestamp": [10, 20, 15],
    }
    assert data.items.set_index("item_id")["genres"].to_dict() == {"b1": ["Sci-Fi", "Classic"], "b2": []}


def test_generic_tsv_with_numeric_ids_and_items_csv_beside_it(tmp_path):
    (tmp_path / "ratings.tsv").write_text("user\titem\trating\ttimestamp\n1\t7\t4\t100\n1\t8\t5\t90\n")
    (tmp_path / "items.csv").write_text("item_id,title\n7,Seven\n8,Eight\n")
    data = load_dataset(str(tmp_path / "ratings.tsv"))
    assert data.ratings["item_id"].dtype == "int64"
    assert data.items.set_index("item_id")["title"].to_dict() == {7: "Seven", 8: "Eight"}


def test_generic_rerating_keeps_the_latest(tmp_path, caplog):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating,timestamp\n1,7,2,100\n1,7,5,300\n1,8,4,200\n")
    with caplog.at_level(logging.WARNING, logger="recranker"):
        data = load_dataset(str(path))
    assert data.ratings.set_index("item_id")["rating"].to_dict() == {7: 5.0, 8: 4.0}
    assert any("rated again" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("items_text", ["item,title\n7,\n", "item,title\n99,Other\n"])
def test_generic_items_without_titles_fall_back(tmp_path, items_text, caplog):
    (tmp_path / "r.csv").write_text("user,item,rating,timestamp\n1,7,4,100\n")
    (tmp_path / "i.csv").write_text(items_text)
    with caplog.at_level(logging.WARNING, logger="recranker"):
        data = load_dataset(str(tmp_path / "r.csv"), items=str(tmp_path / "i.csv"))
    assert data.items["title"].tolist() == ["item 7"]
    assert any("no title" in r.getMessage() for r in caplog.records)
