"""The stakeholder report: one self-contained HTML file from the CLI, readable with networking off."""

from __future__ import annotations

import html
import json
import re

from recranker_core.cli import main
from tests.conftest import copy_run

SUMMARY = ("Does the LLM beat", "Does it copy the order it was shown?", "Does it push popular items?")
DETAILS = ("The run", "The judged method against", "Metrics", "Beyond accuracy", "Slices", "Hybrid weights")


def test_report_of_a_run_compared_with_another(smoke_run, tmp_path, capsys):
    other = copy_run(smoke_run, tmp_path / "other", evaluation={"bootstrap_samples": 300})
    out = tmp_path / "report.html"
    code = main(["report", "--run", str(smoke_run), "--compare", str(other), "--out", str(out), "-q"])
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    scripts = re.findall(r"<script[^>]*>", page)
    assert not any("src=" in tag for tag in scripts)  # plotly.js is inline, nothing is fetched
    assert page.count("Plotly.newPlot") >= 7
    # The answer first: the verdict, the findings and three charts, then the details.
    answer_part, details = page.split("<h2 class='part'>Details</h2>")
    assert [f"<h3>{title}" in answer_part for title in SUMMARY] == [True] * 3
    assert answer_part.count("Plotly.newPlot") == 3 and "<p class='verdict'>" in answer_part
    for section in DETAILS:
        assert f"<h3>{section}" in details, section
    assert "<h3>User stories" in details and "<summary><b>Settings</b>" in details
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    for method in metrics["methods"]:
        assert f"<td>{method}</td>" in page, method
    assert "<h3>Compared runs</h3>" in page and "evaluation.bootstrap_samples" in page
    assert "Helped most" in page and "Hurt most" in page
    assert f"Judged method: <b>{metrics['selected']['method']}</b>" in page
    from recranker_core.analysis.verdict import sentence

    answer, _, rest = sentence(metrics).partition(": ")
    assert (
        f"<p class='verdict'><b>{answer}</b>: {rest}</p>" in page and "first-shown candidate on top" in page
    )
    assert "<th>Δ arp</th>" in details
    settings = page[page.index("<summary><b>Settings</b>") :]
    assert "<td>llm.learning_rate</td>\n      <td>0.003</td>" in settings and "0.0030" not in settings
    assert "<th>base:implicitmf</th>" in page and "<th>control:hints</th>" in page


def test_report_refuses_bad_paths_with_one_line(smoke_run, tmp_path, capsys):
    link = tmp_path / "link.html"
    link.symlink_to(tmp_path / "elsewhere.html")  # writing the report would replace the link
    cases = {
        ("--run", str(smoke_run), "--out", str(link)): "is a symbolic link",
        ("--run", str(tmp_path), "--out", str(tmp_path / "r.html")): "not a run directory",
        ("--run", str(smoke_run), "--out", str(tmp_path / "r.txt")): "name an .html file",
        ("--run", str(smoke_run), "--out", str(tmp_path / "no" / "r.html")): "is not a folder",
        ("--run", str(smoke_run), "--compare", str(tmp_path), "--out", str(tmp_path / "r.html")): (
            "not a run directory"
        ),
    }
    for args, expected in cases.items():
        assert main(["report", *args]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], args
    assert [p.name for p in tmp_path.glob("*.html")] == ["link.html"] and link.is_symlink()


def test_one_user_story_is_a_page_of_its_own(smoke_run):
    import pandas as pd

    from recranker_core.analysis.report import user_story
    from recranker_core.analysis.titles import title_map

    metrics = json.loads((smoke_run / "metrics.json").read_text())
    judged, reference = metrics["selected"]["method"], metrics["reference"]
    rankings = pd.read_parquet(smoke_run / "rankings.parquet")
    user = sorted(rankings.loc[rankings["method"] == judged, "user_id"])[0]
    page = user_story(smoke_run, user)
    assert "<script" not in page and page.startswith("<!DOCTYPE html>")
    assert f"<h1>User {user}: {judged} against {reference}</h1>" in page
    titles = title_map(pd.read_parquet(smoke_run / "items.parquet"))
    mine = rankings[(rankings["user_id"] == user) & (rankings["method"] == judged)].sort_values("rank")
    lists = page.split("<div class='lists'>")[1]
    listed = re.findall(r"<li[^>]*>(.*?)</li>", lists.split(f"<b>{judged}</b>")[1].split("</ol>")[0])
    assert listed == [html.escape(titles[i]) for i in mine["item_id"]]  # the judged method's list, in order
    assert lists.index(f"<b>{judged}</b>") > lists.index(f"<b>{reference}</b>")
    split = pd.read_parquet(smoke_run / "split.parquet")
    rated = ((split["user_id"] == user) & (split["role"] != "test")).sum()
    assert f"<h3>History: {rated} rated before the test item" in page
    test_item = split.loc[(split["user_id"] == user) & (split["role"] == "test"), "item_id"].iloc[0]
    assert f"<span class='test'>{titles[test_item]}</span>" in page
