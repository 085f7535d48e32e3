"""One set of value checks for every reader (validate.check_ratings), each error naming the file, the
column or field, the line of the source file and the value; valid data read exactly as before."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recranker_core.data import load_dataset
from recranker_core.errors import InputError
from tests.conftest import MINI, ROOT
from tests.data.test_movielens_formats import write_movielens
from tests.fixtures.formats import isbn, write_amazon, write_bookcrossing

HOSTILE_TIMES = {
    "1e30": "is beyond 9,007,199,254,740,992",
    "inf": "is not a number",
    "nan": "is not a number",
    "99999999999999999999999": "is beyond 9,007,199,254,740,992",
    "-1e30": "is beyond 9,007,199,254,740,992",
}


def refused(spec: Path | str) -> str:
    with pytest.raises(InputError) as caught:
        load_dataset(str(spec))
    return str(caught.value)


def edit_line(path: Path, number: int, edit, *, blank_before: int = 0, encoding: str = "utf-8") -> None:
    """Apply ``edit`` to line ``number`` (counted from 1) and put ``blank_before`` blank lines above it, so
    that the line a reader names is the file's, not its count of rows."""
    lines = path.read_bytes().decode(encoding).splitlines()
    lines[number - 1] = edit(lines[number - 1])
    lines[number - 1 : number - 1] = [""] * blank_before
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


# MovieLens: ratings.dat (ML-1M, ML-10M), u.data (ML-100K), ratings.csv (ML-20M on), read here, not by
# lenskit.


def dat_field(field: int, value: str):
    def edit(line: str) -> str:
        fields = line.split("::")
        fields[field] = value
        return "::".join(fields)

    return edit


@pytest.mark.parametrize("version", ["ml-1m", "ml-10m"])
@pytest.mark.parametrize("value", HOSTILE_TIMES)
def test_dat_timestamps_that_are_no_time_are_named_by_line(tmp_path, version, value):
    folder = tmp_path / version
    write_movielens(folder, version)
    edit_line(folder / "ratings.dat", 7, dat_field(3, value), blank_before=2)
    message = refused(folder)
    assert (
        f"{folder / 'ratings.dat'}: column 'timestamp', line 9: {value!r} {HOSTILE_TIMES[value]}" in message
    )


@pytest.mark.parametrize("version", ["ml-1m", "ml-10m"])
@pytest.mark.parametrize("value", ["-3", "0", "5.5", "x", ""])
def test_dat_ratings_off_movielens_scale_are_named_by_line(tmp_path, version, value):
    """A negative rating was read, and the scale became -3..5."""
    folder = tmp_path / version
    write_movielens(folder, version)
    edit_line(folder / "ratings.dat", 4, dat_field(2, value))
    reason = {"x": "'x' is not a number", "": "empty value"}.get(
        value, f"{value!r} is outside MovieLens's 0.5-5"
    )
    assert f"{folder / 'ratings.dat'}: column 'rating', line 4: {reason}" in refused(folder)


def test_dat_ids_that_are_not_whole_numbers_are_named(tmp_path):
    folder = tmp_path / "ml-1m"
    write_movielens(folder, "ml-1m")
    edit_line(folder / "ratings.dat", 3, dat_field(1, "12b"))
    message = refused(folder)
    assert f"{folder / 'ratings.dat'}: column 'item_id', line 3: '12b' is not a whole number" in message


def test_a_dat_rating_in_a_zip_names_the_member(tmp_path):
    from tests.data.test_movielens_formats import TOP_FOLDER, zip_folder

    folder = tmp_path / "ml-1m"
    write_movielens(folder, "ml-1m")
    edit_line(folder / "ratings.dat", 5, dat_field(2, "-1"))
    archive = zip_folder(folder, tmp_path / "ml-1m.zip", TOP_FOLDER["ml-1m"])
    message = refused(archive)
    assert f"{archive / 'ml-1m' / 'ratings.dat'}: column 'rating', line 5: '-1' is outside" in message


def ml100k_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "ml-100k"
    shutil.copytree(MINI, folder)
    return folder


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (3, "1e30", "'1e30' is beyond 9,007,199,254,740,992"),
        (3, "99999999999999999999999", "'99999999999999999999999' is beyond"),
        (3, "inf", "'inf' is not a number"),
        (2, "-3", "'-3' is outside MovieLens's 0.5-5 scale"),
        (0, " ", "empty value"),
    ],
)
def test_u_data_values_are_named_by_line(tmp_path, field, value, reason):
    folder = ml100k_copy(tmp_path)

    def edit(line: str) -> str:
        fields = line.split("\t")
        fields[field] = value
        return "\t".join(fields)

    edit_line(folder / "u.data", 10, edit, blank_before=1)
    column = ("user_id", "item_id", "rating", "timestamp")[field]
    assert f"{folder / 'u.data'}: column '{column}', line 11: {reason}" in refused(folder)


def test_ratings_csv_of_ml_latest_names_its_own_columns(tmp_path):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,10,4.5,100\n\n1,20,3.0,1e30\n2,10,5.0,150\n"
    )
    (folder / "movies.csv").write_text("movieId,title,genres\n10,Heat (1995),Drama\n20,Up (2009),Comedy\n")
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,10,politics,120\n")
    assert f"{folder / 'ratings.csv'}: column 'timestamp', line 4: '1e30' is beyond" in refused(folder)
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.5,100\n,20,3.0,200\n")
    assert f"{folder / 'ratings.csv'}: column 'userId', line 3: empty value" in refused(folder)


# Amazon 2018 and 2023: JSON values, a null included.

AMAZON_FIELDS = {
    "2018": {"user": "reviewerID", "item": "asin", "rating": "overall", "time": "unixReviewTime"},
    "2023": {"user": "user_id", "item": "parent_asin", "rating": "rating", "time": "timestamp"},
}


def amazon_with(tmp_path: Path, release: str, role: str, value) -> Path:
    """Reviews whose fifth review has ``value`` as its ``role`` field, a blank line on top."""
    reviews = write_amazon(tmp_path / "amazon", release)

    def edit(line: str) -> str:
        row = json.loads(line)
        row[AMAZON_FIELDS[release][role]] = value
        return json.dumps(row)

    edit_line(reviews, 5, edit, blank_before=1)
    return reviews


@pytest.mark.parametrize("release", ["2018", "2023"])
@pytest.mark.parametrize(
    ("value", "shown", "reason"),
    [
        (1e30, "'1e+30'", "is beyond 9,007,199,254,740,992"),  # was silently turned into another time
        (float("inf"), "'inf'", "is not a number"),
        (float("nan"), "'nan'", "is not a number"),
        (99999999999999999999999, "'99999999999999999999999'", "is beyond 9,007,199,254,740,992"),
        ("soon", "'soon'", "is not a number"),
        (1.5, "'1.5'", "is not a whole number"),
    ],
)
def test_amazon_timestamps_that_are_no_time_are_named_by_line(tmp_path, release, value, shown, reason):
    reviews = amazon_with(tmp_path, release, "time", value)
    field = AMAZON_FIELDS[release]["time"]
    assert f"{reviews}: field '{field}', line 6: {shown} {reason}" in refused(reviews)


@pytest.mark.parametrize("release", ["2018", "2023"])
@pytest.mark.parametrize("role", ["user", "item"])
@pytest.mark.parametrize(
    ("value", "reason"), [("", "empty value"), ("  ", "empty value"), (None, "no value")]
)
def test_amazon_empty_and_null_ids_are_refused(tmp_path, release, role, value, reason):
    """Such rows had all become one user 'None' or one item ''."""
    reviews = amazon_with(tmp_path, release, role, value)
    field = AMAZON_FIELDS[release][role]
    assert f"{reviews}: field '{field}', line 6: {reason}" in refused(reviews)


@pytest.mark.parametrize("release", ["2018", "2023"])
def test_amazon_null_rating_is_refused(tmp_path, release):
    reviews = amazon_with(tmp_path, release, "rating", None)
    assert f"{reviews}: field '{AMAZON_FIELDS[release]['rating']}', line 6: no value" in refused(reviews)


# BookCrossing: the published dump (";") and its widely shared copy (",").


def comma_separated(folder: Path) -> Path:
    """The published dump as its widely shared copy has it: commas, no quotes where none are needed."""
    for name in ("BX-Book-Ratings.csv", "BX-Books.csv"):
        path = folder / name
        rows = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding="latin-1",
                           escapechar="\\", on_bad_lines="skip")  # fmt: skip
        rows.to_csv(path, index=False, encoding="utf-8")
    return folder


def with_a_comma_in_a_title(folder: Path) -> Path:
    books = folder / "BX-Books.csv"
    books.write_bytes(books.read_bytes().replace(b'"Book 7"', b'"Book 7, Part Two"'))
    return folder


def test_bookcrossing_with_commas_reads_as_the_published_dump(tmp_path):
    published = load_dataset(str(with_a_comma_in_a_title(write_bookcrossing(tmp_path / "bx"))))
    folder = comma_separated(with_a_comma_in_a_title(write_bookcrossing(tmp_path / "bx-commas")))
    assert '"Book 7, Part Two"' in (folder / "BX-Books.csv").read_text()
    assert (folder / "BX-Book-Ratings.csv").read_text().startswith("User-ID,ISBN,Book-Rating\n")
    shared = load_dataset(str(folder))
    pd.testing.assert_frame_equal(shared.ratings, published.ratings)
    pd.testing.assert_frame_equal(shared.items, published.items)
    assert shared.fingerprint() == published.fingerprint()
    assert published.items.set_index("item_id")["title"][isbn(7)] == "Book 7, Part Two"


def test_bookcrossing_with_another_separator_names_the_two_it_reads(tmp_path):
    folder = write_bookcrossing(tmp_path / "bx")
    path = folder / "BX-Book-Ratings.csv"
    path.write_bytes(path.read_bytes().replace(b";", b"\t"))
    message = refused(folder)
    assert f"{path}: line 1: missing column 'User-ID'" in message
    assert "separated by ';' as published or ','" in message and "User-ID" in message


@pytest.mark.parametrize("commas", [False, True], ids=["published", "commas"])
def test_bookcrossing_duplicates_name_both_lines_of_the_file(tmp_path, commas):
    """Lines were counted after the implicit zeros were dropped, so another line was named."""
    folder = write_bookcrossing(tmp_path / "bx")
    if commas:
        comma_separated(folder)
    path = folder / "BX-Book-Ratings.csv"
    lines = path.read_text(encoding="latin-1").splitlines()
    sep = "," if commas else ";"
    zeros = [n for n, line in enumerate(lines, 1) if next(csv.reader([line], delimiter=sep))[-1] == "0"]
    late = (
        zeros[3] + 1
    )  # a rating below four implicit zeros, which were dropped before duplicates were sought
    assert late not in zeros
    lines += ["", lines[late - 1]]  # copied to the end, below a blank line
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    message = refused(folder)
    assert f"{path}: duplicate (user, item, timestamp) (" in message
    assert message.endswith(f"at lines {late} and {len(lines)}")


@pytest.mark.parametrize(
    ("rating", "reason"),
    [
        ("-1", "'-1' is outside BookCrossing's 0-10 scale"),
        ("nan", "'nan' is not a number"),
        ("", "empty value"),
    ],
)
def test_bookcrossing_ratings_are_checked_as_every_readers(tmp_path, rating, reason):
    folder = write_bookcrossing(tmp_path / "bx")
    path = folder / "BX-Book-Ratings.csv"
    edit_line(
        path, 6, lambda line: line.rsplit(";", 1)[0] + f';"{rating}"', blank_before=1, encoding="latin-1"
    )
    assert f"{path}: column 'Book-Rating', line 7: {reason}" in refused(folder)


# Generic CSV: lines counted as an editor counts them.


def test_csv_lines_count_blank_lines_and_line_breaks_inside_quotes(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text('\nuser,item,rating,timestamp\n1,"a\nb",4,100\n\n   \n2,c,4,100\n3,c,4,1e30\n')
    assert f"{path}: column 'timestamp', line 8: '1e30' is beyond" in refused(path)
    path.write_text("user,item,rating,timestamp\n1,a,4,100\n\n,,,\n")  # separators alone: a row, empty
    assert f"{path}: column 'user_id', line 4: empty value" in refused(path)


def test_csv_duplicates_name_lines_of_the_same_rating(tmp_path):
    """Two different duplicated ratings: the lines named are those of one of them, not one of each."""
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating,timestamp\n1,2,4,100\n1,3,4,100\n\n1,2,5,100\n1,3,5,100\n")
    assert refused(path).endswith("duplicate (user, item, timestamp) (1, 2, 100) at lines 2 and 5")


def test_blank_lines_are_skipped_as_before(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating,timestamp\n\n1,2,4,100\n \n1,3,5,200\n\n\n")
    data = load_dataset(str(path))
    assert data.ratings.to_dict("list") == {
        "user_id": [1, 1], "item_id": [2, 3], "rating": [4.0, 5.0], "timestamp": [100, 200]
    }  # fmt: skip


# Valid data: identical frames, so that the dataset fingerprint (which `make run` compares) stays.

FINGERPRINTS = {
    # Computed with the readers before they shared check_ratings (issue 35); the embedded one is also the
    # fingerprint in bench/results' manifests.
    "embedded": "acacd57c2ce0ffbe",
    "ml-100k-mini": "44d209cc592e1e6c",
    "ml-1m": "e1469fe3642f7cac",
    "ml-10m": "01fe8c00f5ca6e00",
    "bookcrossing": "aef676660ce5c6eb",
    "amazon-2018": "da580f20105ba8e6",
    "amazon-2023": "4a14037198a38547",
}


def fixture(kind: str, tmp_path: Path) -> str:
    if kind == "embedded":
        return "ml-100k"
    if kind == "ml-100k-mini":
        return str(MINI)
    if kind.startswith("ml-"):
        write_movielens(tmp_path / kind, kind)
        return str(tmp_path / kind)
    if kind == "bookcrossing":
        return str(write_bookcrossing(tmp_path / "bx"))
    return str(write_amazon(tmp_path / "amazon", kind.split("-")[1], gz=kind.endswith("2023")))


@pytest.mark.parametrize("kind", FINGERPRINTS)
def test_valid_data_keeps_its_fingerprint_and_dtypes(tmp_path, kind):
    data = load_dataset(fixture(kind, tmp_path))
    assert data.fingerprint() == FINGERPRINTS[kind]
    ids = {"bookcrossing": ["int64", "object"], "amazon-2018": ["object"] * 2, "amazon-2023": ["object"] * 2}
    expected = ids.get(kind, ["int64", "int64"]) + ["float64", "int64"]
    assert data.ratings.dtypes.astype(str).tolist() == expected
    assert list(data.ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert data.ratings.index.equals(pd.RangeIndex(len(data.ratings)))  # the lines are gone


def test_ml_100k_folder_reads_as_lenskit_read_it(tmp_path):
    """u.data read here equals lenskit's own parse of it (its loader kept no line numbers)."""
    from lenskit.data.movielens import ML100KLoader

    with ML100KLoader("ml-100k", MINI) as ml:
        theirs = ml.ratings_df()
    theirs = pd.DataFrame(
        {
            "user_id": theirs["user_id"].astype("int64"),
            "item_id": theirs["item_id"].astype("int64"),
            "rating": theirs["rating"].astype("float64"),
            "timestamp": theirs["timestamp"].astype("datetime64[s]").astype("int64"),
        }
    )
    ours = load_dataset(str(MINI)).ratings
    expected = theirs.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, expected)


# The command line: exit code 2 and one line, never a traceback.


@pytest.mark.parametrize("case", ["amazon null user", "dat overflowing timestamp"])
def test_cli_refuses_in_one_line(tmp_path, case):
    if case == "amazon null user":
        spec = amazon_with(tmp_path, "2023", "user", None)
        expected = f"error: {spec}: field 'user_id', line 6: no value (null)"
    else:
        spec = tmp_path / "ml-1m"
        write_movielens(spec, "ml-1m")
        edit_line(spec / "ratings.dat", 2, dat_field(3, "99999999999999999999999"))
        expected = (
            f"error: {spec / 'ratings.dat'}: column 'timestamp', line 2: '99999999999999999999999' is beyond"
        )
    result = subprocess.run(
        [sys.executable, "-m", "recranker_core", "data", "--dataset", str(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
    assert "Traceback" not in result.stderr
