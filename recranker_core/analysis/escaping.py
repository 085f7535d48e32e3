"""Values from a file, a link or the data, made safe for where they are shown: plotly's labels (a subset
of HTML, links included) and Streamlit's Markdown (images, links, directives); and the policy that keeps a
self-contained HTML page (the report, a user's story) from running or loading anything else."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import string

import numpy as np
import plotly.graph_objects as go

TRACE_TEXT = ("name", "x", "y", "text", "hovertext", "customdata")
AXIS_TEXT = ("tickvals", "categoryarray")


def figure(chart: go.Figure) -> go.Figure:
    """``chart`` with every value that came from the data (method names, titles, genres, ids) escaped:
    plotly reads its labels as a subset of HTML, links included, and shows ``&lt;`` as ``<``. Labels a
    chart writes itself (axis titles, bold tick text) escape their data where they are made."""
    for trace in chart.data:
        for key in TRACE_TEXT:
            if key in trace and trace[key] is not None:
                trace[key] = html_text(trace[key])
    for axis in chart.select_xaxes():
        _escape_axis(axis)
    for axis in chart.select_yaxes():
        _escape_axis(axis)
    return chart


def _escape_axis(axis) -> None:
    for key in AXIS_TEXT:
        if axis[key] is not None:
            axis[key] = html_text(axis[key])


def html_text(values):
    """Strings escaped, numbers as they are, in a value, a list or an array of any shape. Quotes stay:
    with ``<`` escaped no tag can form, and plotly would show ``&quot;`` as it is."""
    if isinstance(values, str):
        return html.escape(values, quote=False)
    array = np.asarray(values, dtype=object)
    if not any(isinstance(v, str) for v in array.flat):
        return values
    escape = np.vectorize(lambda v: html.escape(v, quote=False) if isinstance(v, str) else v, otypes=[object])
    return escape(array)


_PUNCTUATION = re.compile(f"([{re.escape(string.punctuation)}])")


def markdown(value) -> str:
    """``value`` as text that Streamlit's Markdown shows as written: every ASCII punctuation character
    backslash-escaped (CommonMark allows it for each), so no image, link, emphasis, HTML, ``:directive[]``
    or ``$maths$`` can form, and line breaks as spaces, so no block can start. (A bare ``http://`` address
    still shows underlined: GitHub's autolinks are found in the text after escapes are read; it is a link to
    click, never fetched.)"""
    return _PUNCTUATION.sub(r"\\\1", " ".join(str(value).splitlines()))


_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def policy(body: str) -> str:
    """The Content-Security-Policy of a page with ``body``: its own inline scripts by hash (plotly.js and
    each figure's call), inline styles (plotly.js sets them), images only from data: URLs (plotly's PNG
    download), and nothing else: a value that slipped past the escaping can neither run nor fetch."""
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"
            for code in _SCRIPT.findall(body)
        }
    )
    scripts = " ".join(hashes) or "'none'"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {scripts}",
            "style-src 'unsafe-inline'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
