"""Parsers of free-text answers (generate mode) on good and bad outputs."""

import pytest

from recranker_core.llm.parsing import parse_ranking, parse_rating, parse_yes_no


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4", 4),
        (" 5.", 5),
        ("I'd say 3 out of 5", 3),
        ("1\n", 1),
        ("4.0", 4),
        ("6", None),
        ("0", None),
        ("4.5", None),
        ("", None),
        ("five", None),
        ("-2", None),
    ],
)
def test_rating(text, expected):
    assert parse_rating(text, 1, 5) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Yes.", True),
        ("no", False),
        ("  YES, clearly", True),
        ("No. The first.", False),
        ("Maybe", None),
        ("", None),
        ("Yesterday", None),
    ],
)
def test_yes_no(text, expected):
    assert parse_yes_no(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(C) (A) (F) (B) (J)", [2, 0, 5, 1, 9]),
        ("(B), (B), (A)", [1, 0]),
        ("(Z) (A)", [0]),
        ("C A F", None),
        ("", None),
        ("(K)", None),
    ],
)
def test_ranking(text, expected):
    assert parse_ranking(text, 10) == expected
