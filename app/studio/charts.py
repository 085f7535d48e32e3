"""DataFrames -> plotly figures, with one look across the dashboard."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

PALETTE = ("#3b5bdb", "#12b886", "#f59f00", "#e8590c", "#7048e8", "#1098ad")


def metric_bars(long: pd.DataFrame, metrics: tuple[str, ...]) -> go.Figure:
    """Grouped bars: one group per method, one bar per metric, 95% CI as error bars.

    ``long`` is :func:`studio.tables.metrics_long`'s output.
    """
    figure = go.Figure()
    for colour, metric in zip(PALETTE * 2, metrics):
        rows = long[long["metric"] == metric]
        figure.add_bar(
            name=metric,
            x=rows["method"],
            y=rows["value"],
            marker_color=colour,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": rows["ci_high"] - rows["value"],
                "arrayminus": rows["value"] - rows["ci_low"],
                "thickness": 1.2,
                "width": 3,
            },
            hovertemplate="%{x}<br>" + metric + " = %{y:.4f}<extra></extra>",
        )
    figure.update_layout(
        barmode="group",
        template="plotly_white",
        height=420,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.08, "x": 0},
        yaxis_title="mean over test users (95% CI)",
        xaxis_title=None,
    )
    return figure
