"""Items that share a title are told apart wherever the dashboard and the report show titles."""

from __future__ import annotations

import pandas as pd

from recranker_core.analysis.titles import distinct_titles, title_map


def test_shared_titles_carry_the_item_id_and_missing_ones_a_name():
    items = pd.DataFrame(
        {
            "item_id": [246, 268, 1, 7],
            "title": ["Chasing Amy (1997)", "Chasing Amy (1997)", "Toy Story (1995)", None],
            "genres": [[], [], [], []],
        }
    )
    shown = title_map(items)
    assert shown == {
        246: "Chasing Amy (1997) · #246",
        268: "Chasing Amy (1997) · #268",
        1: "Toy Story (1995)",
        7: "item 7",
    }
    assert list(distinct_titles(items).columns) == ["item_id", "title", "genres"]


def test_every_ml100k_title_is_distinct(ml100k):
    titles = distinct_titles(ml100k.items)["title"]
    assert ml100k.items["title"].duplicated().sum() > 0  # ML-100K lists some films twice
    assert not titles.duplicated().any()
