"""Item titles as the dashboard and the report show them: one title, one item."""

from __future__ import annotations

import pandas as pd


def distinct_titles(items: pd.DataFrame) -> pd.DataFrame:
    """``items`` with titles that tell items apart: an item without a title is "item <id>", and a title
    that several items share (ML-100K lists some films twice under two ids) carries the item's id,
    "Chasing Amy (1997) · #246"."""
    ids = items["item_id"]
    titles = items["title"].where(items["title"].notna(), "item " + ids.astype(str)).astype(str)
    shared = titles.duplicated(keep=False)
    return items.assign(title=titles.where(~shared, titles + " · #" + ids.astype(str)))


def title_map(items: pd.DataFrame) -> dict:
    """item_id -> its distinct title."""
    table = distinct_titles(items)
    return dict(zip(table["item_id"], table["title"]))
