"""BookCrossing and Amazon reviews, read from fixtures written in their published formats."""

from __future__ import annotations

import logging

import pytest

from recranker_core.cli import main
from recranker_core.data import load_dataset
from recranker_core.errors import InputError
from tests.fixtures.formats import asin, draws, isbn, write_amazon, write_bookcrossing


def test_bookcrossing_reads_explicit_ratings_by_isbn_with_their_titles(tmp_path):
    data = load_dataset(str(write_bookcrossing(tmp_path / "bx")))
    rows = draws()
    assert data.summary()["ratings"] == len(rows)  # the implicit zeros are dropped
    assert data.summary()["scale"] == "1-10" and data.layout == "BookCrossing" and data.domain == "book"
    assert not data.timed and (data.ratings["timestamp"] == 0).all()
    assert data.ratings["item_id"].map(type).eq(str).all()  # ISBNs stay text: leading zeros kept
    titles = data.items.set_index("item_id")["title"]
    assert titles[isbn(0)] == "Book 0" and isbn(0) == "000000000X"
    assert titles[isbn(3)] == "Livre 3: Café & Crème"  # Latin-1 bytes, read as such
    assert titles[isbn(4)] == 'The "Quoted" Book' and titles[isbn(6)] == "Bread & Butter"


def test_bookcrossing_refuses_the_sequential_scenario_and_a_folder_without_books(tmp_path, capsys):
    folder = write_bookcrossing(tmp_path / "bx")
    out = tmp_path / "runs" / "bx"
    code = main(
        [
            "baselines",
            "--profile",
            "smoke",
            "--dataset",
            str(folder),
            "--out",
            str(out),
            "--scenario",
            "sequential",
        ]
    )
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "BookCrossing has no timestamps; --scenario sequential" in error and not out.exists()
    bare = write_bookcrossing(tmp_path / "bare", books=False)
    with pytest.raises(InputError, match=f"{bare}: has BX-Book-Ratings.csv but not BX-Books.csv"):
        load_dataset(str(bare))


@pytest.mark.parametrize(
    ("rating", "message"),
    [
        ("11", "'11' is outside BookCrossing's 0-10 scale"),
        ("7.5", "'7.5' is outside BookCrossing's 0-10 scale"),
    ],
)
def test_bookcrossing_ratings_off_its_scale_are_named_by_line(tmp_path, rating, message):
    folder = write_bookcrossing(tmp_path / "bx")
    path = folder / "BX-Book-Ratings.csv"
    lines = path.read_bytes().decode("latin-1").splitlines()
    lines[3] = lines[3].rsplit(";", 1)[0] + f';"{rating}"'
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(InputError, match=f"column 'Book-Rating', line 4: {message}"):
        load_dataset(str(folder))


def test_a_utf16_file_is_refused_not_read_as_latin1(tmp_path):
    folder = write_bookcrossing(tmp_path / "bx")
    path = folder / "BX-Book-Ratings.csv"
    path.write_bytes(path.read_bytes().decode("latin-1").encode("utf-16"))
    with pytest.raises(InputError, match="UTF-16 text, not UTF-8 or Latin-1 text"):
        load_dataset(str(folder))


@pytest.mark.parametrize(("release", "gz"), [("2018", False), ("2023", True), ("2023", False)])
def test_amazon_reviews_read_by_asin_with_titles_and_categories(tmp_path, caplog, release, gz):
    reviews = write_amazon(tmp_path / "amazon", release, gz=gz)
    with caplog.at_level(logging.WARNING, logger="recranker"):
        data = load_dataset(str(reviews))
    assert data.layout == f"Amazon {release}" and data.domain == "product" and data.timed
    assert data.summary()["ratings"] == len(draws())  # the review written twice is kept once
    assert any("written twice" in r.getMessage() for r in caplog.records)
    items = data.items.set_index("item_id")
    assert items.loc[asin(1), "title"] == "Book & Title 1" and items.loc[asin(1), "genres"] == ["History"]
    last = sorted(items.index)[-1]
    assert items.loc[last, "title"] == f"item {last}"  # no metadata: its ASIN
    seconds = data.ratings["timestamp"]
    assert seconds.min() >= 1_400_000_000 and seconds.max() < 2_000_000_000  # 2023's milliseconds as seconds
    assert load_dataset(str(reviews.parent)).fingerprint() == data.fingerprint()  # the folder holding them


def test_amazon_lines_that_are_not_json_and_ratings_off_its_scale_are_named(tmp_path):
    reviews = write_amazon(tmp_path / "amazon", "2018")
    lines = reviews.read_text().splitlines()
    reviews.write_text("\n".join([*lines[:2], "{'overall': 5.0}", *lines[2:]]) + "\n")
    with pytest.raises(InputError, match=r"Books_5.json: line 3 is not JSON \(\"\{'overall': 5.0\}\"\)"):
        load_dataset(str(reviews))
    reviews.write_text(
        "\n".join([lines[0].replace('"overall": ', '"overall": 6.0, "x": '), *lines[1:]]) + "\n"
    )
    with pytest.raises(InputError, match="field 'overall', line 1: '6.0' is outside Amazon's 1-5 scale"):
        load_dataset(str(reviews))


def test_amazon_without_its_metadata_file_is_refused(tmp_path):
    reviews = write_amazon(tmp_path / "amazon", "2023", meta=False)
    with pytest.raises(InputError, match="no metadata file meta_Books.json"):
        load_dataset(str(reviews))


def test_a_gzip_file_cut_short_is_refused_in_one_line(tmp_path):
    reviews = write_amazon(tmp_path / "amazon", "2023", gz=True)
    reviews.write_bytes(reviews.read_bytes()[:200])
    with pytest.raises(InputError, match="Books.jsonl.gz: cannot read it"):
        load_dataset(str(reviews))


def test_a_folder_holding_a_dataset_one_level_down_says_which(tmp_path):
    write_bookcrossing(tmp_path / "downloads" / "bx")
    with pytest.raises(InputError, match=f"did you mean --dataset {tmp_path / 'downloads' / 'bx'}"):
        load_dataset(str(tmp_path / "downloads"))


@pytest.mark.parametrize("kind", ["bookcrossing", "amazon-2018", "amazon-2023"])
def test_data_prints_each_formats_summary(tmp_path, capsys, kind):
    if kind == "bookcrossing":
        path = write_bookcrossing(tmp_path / "bx")
    else:
        path = write_amazon(tmp_path / "amazon", kind.split("-")[1], gz=kind.endswith("2023"))
    assert main(["data", "--profile", "smoke", "--dataset", str(path)]) == 0
    out = capsys.readouterr().out
    layout = {"bookcrossing": "BookCrossing"}.get(kind, f"Amazon {kind[-4:]}")
    assert f"format               {layout}" in out
    assert (
        "scale                      1-10" if kind == "bookcrossing" else "scale                       1-5"
    ) in out
    assert "like_threshold" in out and "users_kept" in out
