"""One test user at a time: who they are, what they rated, and how each method ranked their candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from recranker_core.analysis.escaping import markdown
from recranker_core.analysis.stories import item_genres, item_titles
from recranker_core.analysis.tables import method_order
from recranker_core.fusion import CONTROL
from recranker_core.methods import Method

FILTERS = {
    "With LLM results": lambda t: t["llm"],
    "All test users": lambda t: pd.Series(True, index=t.index),
    "Test item in the base top-10": lambda t: t["base_rank"].notna(),
    "Test item missed by the base model": lambda t: t["base_rank"].isna(),
    "The judged method moved the test item up": lambda t: t["change"] > 0,
    "The judged method moved the test item down": lambda t: t["change"] < 0,
}
HIGHLIGHT = "background-color: #fff3bf; color: #1f2430; font-weight: 600"  # readable in both themes


def user_table(rankings: pd.DataFrame, truth: pd.DataFrame, base: str, judged: str | None) -> pd.DataFrame:
    """One row per evaluated test user: test item, its rank by ``base`` and by the ``judged`` method
    (``analysis.verdict.judged_method``), and a label.

    ``change`` > 0 means the judged method moved the test item up (NaN without LLM results)."""

    def rank_of(method: str | None) -> pd.Series:
        rows = rankings[rankings["method"] == method].merge(truth, on=["user_id", "item_id"])
        return rows.set_index("user_id")["rank"]

    table = truth.rename(columns={"item_id": "test_item"}).set_index("user_id")
    table["base_rank"] = rank_of(base)
    table["judged_rank"] = rank_of(judged)
    scored = [m for m in rankings["method"].unique() if Method.parse(m).family != "base"]
    llm = rankings.loc[rankings["method"].isin(scored), "user_id"].unique()
    table["llm"] = table.index.isin(llm)
    table["change"] = table["base_rank"] - table["judged_rank"]
    table = table.reset_index()
    table["label"] = [_label(row, judged) for row in table.itertuples()]
    return table.sort_values("user_id", kind="stable").reset_index(drop=True)


def _label(row, judged: str | None) -> str:
    if np.isnan(row.base_rank):
        return f"user {row.user_id} · test item not in the base top-10"
    text = f"user {row.user_id} · base #{int(row.base_rank)}"
    if not np.isnan(row.judged_rank):
        text += f" → {judged} #{int(row.judged_rank)}"
    return text


def only(table: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """The rows of ``user_table`` whose user id, as text (from a link), is in ``ids``."""
    return table[table["user_id"].astype(str).isin(ids)].reset_index(drop=True)


def filter_users(table: pd.DataFrame, name: str) -> pd.DataFrame:
    return table[FILTERS[name](table).to_numpy(dtype=bool)]


def candidates(candidates: pd.DataFrame, items: pd.DataFrame, user, model: str, test_item) -> pd.DataFrame:
    """The base model's ten test candidates for ``user``: rank, title, genres, score, whether it is the
    test item."""
    rows = candidates[
        (candidates["target"] == "test") & (candidates["model"] == model) & (candidates["user_id"] == user)
    ]
    rows = rows.sort_values("rank").merge(items, on="item_id", how="left")
    return pd.DataFrame(
        {
            "rank": rows["rank"],
            "title": item_titles(rows),
            "genres": item_genres(rows),
            "score": rows["score"],
            "test item": rows["item_id"] == test_item,
        }
    ).reset_index(drop=True)


def lineup(rankings: pd.DataFrame, user, methods: list[str], base: str, test_item) -> pd.DataFrame:
    """Long form of the user's lists: method, rank, item_id, base_rank, move (places up vs base), is_test."""
    rows = rankings[(rankings["user_id"] == user) & rankings["method"].isin(methods)]
    base_rank = rows[rows["method"] == base].set_index("item_id")["rank"]
    rows = rows.assign(base_rank=rows["item_id"].map(base_rank), is_test=rows["item_id"] == test_item)
    rows["move"] = rows["base_rank"] - rows["rank"]
    order = {method: i for i, method in enumerate(methods)}
    rows = rows.sort_values(["method", "rank"], key=lambda s: s.map(order) if s.name == "method" else s)
    return rows[["method", "rank", "item_id", "base_rank", "move", "is_test"]].reset_index(drop=True)


def lineup_grid(long: pd.DataFrame, titles: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(grid, is_test): rows = rank, columns = methods; cells 'Title ▲2' (moved up two places vs the base)."""
    cells = long.assign(cell=[_cell(titles, row) for row in long.itertuples()])
    grid = cells.pivot(index="rank", columns="method", values="cell")
    mask = cells.pivot(index="rank", columns="method", values="is_test").fillna(False).astype(bool)
    methods = list(dict.fromkeys(long["method"]))
    return grid[methods].rename_axis(columns=None), mask[methods].rename_axis(columns=None)


def _cell(titles: dict, row) -> str:
    text = str(titles.get(row.item_id, f"item {row.item_id}"))
    if np.isnan(row.move) or row.move == 0:
        return text
    return f"{text}  {'▲' if row.move > 0 else '▼'}{abs(int(row.move))}"


def highlighted(grid: pd.DataFrame, mask: pd.DataFrame) -> Styler:
    """The grid with the test item's cells highlighted, its titles and method names escaped for st.table,
    which reads every cell as Markdown."""
    shown = grid.map(lambda cell: markdown(cell) if isinstance(cell, str) else cell).rename(columns=markdown)
    return shown.style.apply(lambda _: np.where(mask.to_numpy(), HIGHLIGHT, ""), axis=None)


def methods_for(rankings: pd.DataFrame, user, base: str, zeroshot: bool) -> list[str]:
    """The base model, then the user's LLM methods in the usual order (zero-shot ones only if asked)."""
    present = set(rankings.loc[rankings["user_id"] == user, "method"])
    shown = ("tuned", "control", "zeroshot") if zeroshot else ("tuned", "control")
    llm = [m for m in present if Method.parse(m).family in shown]
    return [base] + sorted(llm, key=method_order)


LINEUP = 4
"""Methods shown beside the base model at most: five columns fit a 1440 px page, titles wrapping whole."""


def default_lineup(methods: list[str], judged: str | None) -> list[str]:
    """The methods first lined up beside the base model: the judged one, the hint control, the hybrid and
    the listwise task (those the user has), in the usual order."""
    wanted = [judged, CONTROL, "hybrid", "listwise", "pointwise", "pairwise"]
    chosen = [m for m in dict.fromkeys(wanted) if m in methods][:LINEUP]
    return sorted(chosen, key=method_order)
