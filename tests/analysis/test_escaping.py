"""Values from files made safe where they are shown: Markdown that reads as written, plotly labels without
tags, and a report whose policy lists exactly its own scripts."""

from __future__ import annotations

import base64
import hashlib
import re

import pandas as pd
import plotly.graph_objects as go

from recranker_core.analysis import charts, escaping, report
from tests.app.conftest import shown
from tests.app.hostile import EVIL, TRAP, hostile_run

SAMPLES = [EVIL, "a_b*c*", "line one\n# heading", "C:\\path\\file", "50% of `code` ~x~ | y |", ""]


def test_markdown_leaves_no_markup_and_reads_as_written():
    for text in SAMPLES:
        escaped = escaping.markdown(text)
        assert shown(escaped) == " ".join(text.splitlines())  # the viewer reads the text itself
        assert "\n" not in escaped  # so no block (heading, list, code) can start
        assert not re.search(r"(?<!\\)[\[\]()<>!*_`$:]", escaped)  # every character of markup escaped


def test_plotly_labels_from_the_data_are_escaped_and_numbers_kept():
    long = pd.DataFrame(
        {"method": [EVIL, "listwise"], "metric": "HR@3", "value": [0.5, 0.25], "ci_low": 0.1, "ci_high": 0.9}
    )
    figure = charts.metric_bars(long, ("HR@3",), judged=EVIL)
    bar = figure.data[0]
    assert "<" not in "".join(bar.x) and "&lt;img src=" in bar.x[0]
    assert list(bar.y) == [0.5, 0.25]
    assert all("<img" not in text for text in figure.layout.xaxis.ticktext)
    assert figure.layout.xaxis.ticktext[0].startswith("<b>&lt;img")  # the chart's own bold stays
    assert list(figure.layout.xaxis.tickvals) == list(bar.x)  # ticks still find their bars
    assert escaping.figure(go.Figure(go.Bar(x=[1, 2], y=[3, 4]))).data[0].x == (1, 2)


def test_the_report_escapes_a_runs_fields_and_allows_only_its_own_scripts(mini_run, tmp_path):
    page = report.build(hostile_run(mini_run, tmp_path / "runs"))
    assert f'<img src="{TRAP}' not in page and "<script>window.pwned" not in page
    assert "&lt;img src=" in page  # the dataset name and the method names, as text
    policy = re.search(r"Content-Security-Policy' content=\"([^\"]+)\"", page).group(1)
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.DOTALL)
    hashes = {"sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in scripts}
    allowed = set(re.findall(r"'(sha256-[^']+)'", policy))
    assert scripts and allowed == hashes  # every script of its own, and no other
    assert policy.startswith("default-src 'none'") and "unsafe-eval" not in policy
    assert "http" not in policy  # no address outside the file may be loaded
