"""DataFrames -> plotly figures, with one look across the dashboard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recranker_core.analysis import escaping
from recranker_core.methods import Method

PALETTE = ("#3b5bdb", "#12b886", "#f59f00", "#e8590c", "#7048e8", "#1098ad", "#d6336c", "#495057")
HIGHLIGHT = "#e8590c"
MUTED = "#adb5bd"


# Okabe and Ito's colour-blind-safe palette, with two of Paul Tol's muted colours (hybrid-tuned, the
# control), one fixed colour per method family, so that a method has the same colour on every page, in
# every run and in the report.
METHOD_COLOURS = {
    "pointwise": "#0072B2",
    "pairwise": "#E69F00",
    "listwise": "#009E73",
    "hybrid": "#CC79A7",
    "hybrid-tuned": "#882255",
    "fusion": "#D55E00",
    "control:hints": "#999933",  # a mid tone, seen on light and dark pages alike (black was not)
}
LIGHTER = {"#0072B2": "#56B4E9", "#E69F00": "#F0E442", "#009E73": "#88CCAA", "#D55E00": "#EE9977"}
"""Zero-shot and +prior variants: a lighter shade of their task's colour."""
BASE_COLOUR = "#999999"
JUDGED_STYLE = "font-weight: 700; background-color: #fff3bf; color: #1f2430"
"""How a table marks the judged method's row (readable in both themes)."""


def method_colour(method: str) -> str:
    """The colour of ``method`` wherever it is drawn."""
    parsed = Method.parse(method)
    if parsed.family == "base":
        return BASE_COLOUR
    colour = METHOD_COLOURS.get(method if parsed.family == "control" else parsed.task, "#332288")
    return LIGHTER.get(colour, colour) if parsed.task != method else colour


def _layout(figure: go.Figure, height: int = 420, **extra) -> go.Figure:
    look = {
        "template": "plotly_white",
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "legend": {"orientation": "h", "y": 1.12, "x": 0, "title": None},
    }
    figure.update_layout(**(look | extra))
    return escaping.figure(figure)


def metric_bars(
    long: pd.DataFrame,
    series: tuple[str, ...],
    by: str = "metric",
    ytitle: str = "mean over test users (95% CI)",
    judged: str | None = None,
) -> go.Figure:
    """Grouped bars: one group per method, one bar per value of column ``by`` in ``series``, CI as error bars;
    the ``judged`` method's name is bold on the axis.

    ``long`` has method, value, ci_low, ci_high and ``by`` (see :func:`analysis.tables.metrics_long`)."""
    figure = go.Figure()
    for colour, name in zip(PALETTE * 2, series):
        rows = long[long[by] == name]
        figure.add_bar(
            name=name,
            x=rows["method"],
            y=rows["value"],
            marker_color=colour,
            error_y=_whiskers(rows),
            hovertemplate="%{x}<br>" + escaping.html_text(str(name)) + " = %{y:.4f}<extra></extra>",
        )
    ticks = _ticks(list(dict.fromkeys(long["method"])), judged)
    return _layout(figure, barmode="group", yaxis_title=ytitle, xaxis_title=None, xaxis=ticks)


def _whiskers(rows: pd.DataFrame, value: str = "value", low: str = "ci_low", high: str = "ci_high") -> dict:
    """Error bars from each row's ``value`` to its ``low`` and ``high`` ends."""
    return {
        "type": "data",
        "symmetric": False,
        "array": rows[high] - rows[value],
        "arrayminus": rows[value] - rows[low],
        "thickness": 1.2,
        "width": 3,
    }


UNDECIDED_OPACITY = 0.35
"""How faint a paired difference's bar is drawn when its interval includes 0."""


def delta_bars(
    table: pd.DataFrame, metric: str, against: str = "the base model", judged: str | None = None
) -> go.Figure:
    """Horizontal bars of each method's paired difference in ``metric`` from the reference, with its
    interval, in the method's colour; faint where the interval includes 0 (see
    :func:`analysis.tables.deltas`); the ``judged`` method's name is bold."""
    rows = table[table["metric"] == metric]
    decided = rows["verdict"].astype(bool)
    figure = go.Figure(
        go.Bar(
            x=rows["value"],
            y=rows["method"],
            orientation="h",
            marker={
                "color": [method_colour(m) for m in rows["method"]],
                "opacity": np.where(decided, 1.0, UNDECIDED_OPACITY).tolist(),
            },
            customdata=np.column_stack(
                [rows["ci_low"], rows["ci_high"], rows["p_value"], np.where(decided, "", ", undecided")]
            ),
            error_x=_whiskers(rows),
            hovertemplate=(
                "%{y}: %{x:+.3f} (%{customdata[0]:+.3f} to %{customdata[1]:+.3f}, "
                "p = %{customdata[2]:.3f}%{customdata[3]})<extra></extra>"
            ),
        )
    )
    figure.add_vline(x=0, line_color=MUTED)
    return _layout(
        figure,
        height=max(220, 34 * len(rows)),
        xaxis_title=f"{metric}: paired difference from {escaping.html_text(against)} "
        "(faint: the interval includes 0)",
        yaxis={"autorange": "reversed", **_ticks(list(rows["method"]), judged)},
    )


def _ticks(methods: list[str], judged: str | None) -> dict:
    """Axis labels naming ``methods`` (escaped here, as the bold is markup), the judged one bold."""
    names = [escaping.html_text(m) for m in methods]
    bold = [f"<b>{n} (judged)</b>" if m == judged else n for m, n in zip(methods, names)]
    return {"tickvals": methods, "ticktext": bold}


def bump(long: pd.DataFrame, titles: dict) -> go.Figure:
    """One line per candidate across the methods' lists (rank 1 on top); the test item stands out."""
    figure = go.Figure()
    for item, rows in long.groupby("item_id", sort=False):
        test = bool(rows["is_test"].iloc[0])
        title = str(titles.get(item, f"item {item}"))
        figure.add_scatter(
            x=rows["method"],
            y=rows["rank"],
            mode="lines+markers",
            name=title + (" (test item)" if test else ""),
            line={"color": HIGHLIGHT if test else MUTED, "width": 4 if test else 1.5},
            marker={"size": 10 if test else 6},
            hovertemplate=f"{escaping.html_text(title)}<br>%{{x}}: rank %{{y}}<extra></extra>",
            showlegend=test,
        )
    return _layout(
        figure, height=380, yaxis={"autorange": "reversed", "dtick": 1, "title": "rank"}, xaxis_title=None
    )


def probability_bars(table: pd.DataFrame, highlight: list[bool] | None = None) -> go.Figure:
    """The model's label distribution (label, probability)."""
    colours = [HIGHLIGHT if h else PALETTE[0] for h in (highlight or [False] * len(table))]
    figure = go.Figure(
        go.Bar(
            x=table["label"],
            y=table["probability"],
            marker_color=colours,
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        )
    )
    return _layout(
        figure, height=260, yaxis={"title": "probability", "rangemode": "tozero"}, xaxis={"type": "category"}
    )


def position_accuracy(table: pd.DataFrame) -> go.Figure:
    """Top-1 accuracy by shown position per family, against chance."""
    figure = go.Figure()
    for colour, (family, rows) in zip(PALETTE, table.groupby("family")):
        figure.add_bar(
            x=rows["position"],
            y=rows["top1"],
            name=family,
            marker_color=colour,
            customdata=rows["prompts"],
            hovertemplate="position %{x}: %{y:.2f} (%{customdata} prompts)<extra></extra>",
        )
    chance = table.groupby("position")["chance"].mean()
    figure.add_scatter(
        x=chance.index,
        y=chance.to_numpy(),
        mode="lines",
        name="chance",
        line={"color": MUTED, "dash": "dash"},
    )
    return _layout(
        figure,
        height=360,
        barmode="group",
        xaxis={
            "title": "position the target was shown at",
            "dtick": 1,
            "range": [0.5, round(1 / table["chance"].min()) + 0.5],
        },
        yaxis_title="target ranked first (share of prompts)",
    )


def pair_scatter(pairs: pd.DataFrame) -> go.Figure:
    """P(first item preferred) asked first vs asked second; consistent answers fall in two corners."""
    figure = px.scatter(
        pairs,
        x="p_ab",
        y="p_ba",
        color="family",
        color_discrete_sequence=PALETTE,
        hover_data=["user_id", "pair"],
        range_x=[0, 1],
        range_y=[0, 1],
    )
    for x0, y0 in ((0.5, 0.5), (0, 0)):
        figure.add_shape(
            type="rect",
            x0=x0,
            y0=y0,
            x1=x0 + 0.5,
            y1=y0 + 0.5,
            fillcolor=PALETTE[1],
            opacity=0.08,
            line_width=0,
        )
    return _layout(
        figure,
        height=380,
        xaxis_title="P(a preferred), asked 'a or b'",
        yaxis_title="P(a preferred), asked 'b or a'",
    )


def activity_histogram(long: pd.DataFrame) -> go.Figure:
    figure = px.histogram(
        long,
        x="train_likes",
        color="group",
        barmode="overlay",
        histnorm="probability",
        nbins=40,
        opacity=0.6,
        color_discrete_sequence=[MUTED, PALETTE[0]],
    )
    return _layout(figure, height=340, xaxis_title="training likes (activity)", yaxis_title="share")


def projection_scatter(points: pd.DataFrame) -> go.Figure:
    """Sampled users coloured by cluster (size: times sampled); users never sampled as grey crosses."""
    sampled = points[points["sampled"]].sort_values(
        "cluster", key=lambda s: pd.to_numeric(s, errors="coerce")
    )
    figure = px.scatter(
        sampled,
        x="x",
        y="y",
        color="cluster",
        size="times_sampled",
        size_max=14,
        hover_data=["user_id", "times_sampled"],
        color_discrete_sequence=px.colors.qualitative.Safe,
    )
    never = points[~points["sampled"]]
    if len(never):
        figure.add_scatter(
            x=never["x"],
            y=never["y"],
            mode="markers",
            name="never sampled",
            marker={"symbol": "x-thin-open", "color": MUTED, "size": 6},
            customdata=never["user_id"],
            hovertemplate="user %{customdata}: never sampled<extra></extra>",
        )
    figure = _layout(figure, height=460, xaxis_title="PC 1", yaxis_title="PC 2")
    figure.update_layout(legend_title_text="cluster")
    return figure


def top_picks(table: pd.DataFrame) -> go.Figure:
    """Where the model's first choice lands, per family, whatever the candidates are."""
    figure = px.bar(
        table, x="position", y="share", color="family", barmode="group", color_discrete_sequence=PALETTE
    )
    chance = 1.0 / table["n"].max() if len(table) else 0.1
    figure.add_hline(y=chance, line_dash="dash", line_color=MUTED, annotation_text="uniform")
    return _layout(
        figure,
        height=300,
        xaxis={
            "title": "shown position of the model's first choice",
            "dtick": 1,
            "range": [0.5, table["n"].max() + 0.5],
        },
        yaxis_title="share of listwise prompts",
    )


def duplicate_bars(table: pd.DataFrame) -> go.Figure:
    figure = px.bar(
        table,
        x="times",
        y="users",
        color="stage",
        barmode="group",
        color_discrete_sequence=[MUTED, PALETTE[0]],
    )
    return _layout(
        figure, height=320, xaxis={"title": "times a user appears", "dtick": 1}, yaxis_title="users"
    )


def slice_bars(
    table: pd.DataFrame, metric: str, methods: list[str] | None = None, judged: str | None = None
) -> go.Figure:
    """Small multiples, one panel per method (of ``methods``, in order; default: every method compared):
    one bar per slice group, the method's paired difference in ``metric`` from the reference with its
    interval, on one scale across the panels (rows of ``analysis.slices.slice_metrics`` for one
    dimension); the ``judged`` method's panel title is bold."""
    rows = table[(table["metric"] == metric) & table["delta"].notna()].sort_values("order", kind="stable")
    present = list(dict.fromkeys(rows["method"]))
    methods = [m for m in (methods or present) if m in present]
    sizes = rows.groupby("group", sort=False)["users"].agg(["min", "max"])
    # A slice's size is in its label where every method counts the same users (accuracy metrics).
    labels = {
        group: f"{group} ({size['max']} users)" if size["min"] == size["max"] else str(group)
        for group, size in sizes.iterrows()
    }
    figure = make_subplots(
        rows=1,
        cols=max(1, len(methods)),
        shared_yaxes=True,
        subplot_titles=_ticks(methods, judged)["ticktext"],
        horizontal_spacing=0.015,
    )
    for column, method in enumerate(methods, start=1):
        part = rows[rows["method"] == method]
        figure.add_bar(
            y=part["group"].map(labels),
            x=part["delta"],
            orientation="h",
            marker_color=method_colour(method),
            error_x=_whiskers(part, "delta", "delta_low", "delta_high"),
            customdata=part[["users", "delta_low", "delta_high"]],
            hovertemplate=(
                f"%{{y}}<br>{escaping.html_text(method)}: %{{x:+.3f}} (%{{customdata[1]:+.3f}} to "
                "%{customdata[2]:+.3f}), "
                "%{customdata[0]} users<extra></extra>"
            ),
            showlegend=False,
            row=1,
            col=column,
        )
        figure.add_vline(x=0, line_color=MUTED, row=1, col=column)
    figure.update_xaxes(matches="x", tickformat="+.2f", nticks=4)
    figure.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=list(labels.values()))
    figure.update_annotations(font_size=13)
    return _layout(
        figure,
        height=max(240, 30 * len(labels) + 110),
        title={"text": f"{metric} difference from the reference (95% CI)", "font_size": 13, "x": 0},
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
    )


def influence_bars(table: pd.DataFrame) -> go.Figure:
    """Each part of a prompt (``part``, its ``kind``) by its leave-one-out ``influence``, largest first."""
    figure = px.bar(
        table.sort_values("influence", key=abs, ascending=False),
        x="influence",
        y="part",
        color="kind",
        orientation="h",
        color_discrete_sequence=PALETTE,
    )
    return _layout(figure, yaxis={"autorange": "reversed", "title": None})


MOVE_COLOURS = {"down": HIGHLIGHT, "same place": MUTED, "up": PALETTE[1]}
"""The moves chart's colours: as the paired differences' worse, unchanged and better."""


def move_bars(counts: pd.DataFrame) -> go.Figure:
    """One bar per method, split into the shares of users whose test item it moved down, left in place and
    moved up against the reference (``analysis.slices.move_counts``)."""
    methods = list(dict.fromkeys(counts["method"]))
    figure = go.Figure()
    for direction, colour in MOVE_COLOURS.items():
        part = counts[counts["direction"] == direction]
        figure.add_bar(
            name=f"moved {direction}" if direction != "same place" else direction,
            y=part["method"],
            x=part["share"],
            orientation="h",
            marker_color=colour,
            customdata=part["users"],
            text=[f"{share:.0%}" if share >= 0.04 else "" for share in part["share"]],
            textposition="inside",
            hovertemplate="%{y}: %{x:.1%} (%{customdata} users)<extra>" + direction + "</extra>",
        )
    figure.update_layout(legend_traceorder="normal")  # down, same, up: as the bars are stacked
    return _layout(
        figure,
        height=max(200, 34 * len(methods) + 110),
        barmode="stack",
        xaxis={"title": "share of the users whose test item the reference lists", "tickformat": ".0%"},
        yaxis={"autorange": "reversed", "title": None, "categoryorder": "array", "categoryarray": methods},
    )
