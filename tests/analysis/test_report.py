"""The stakeholder report: one self-contained HTML file from the CLI, readable with networking off."""

from __future__ import annotations

import json
import re

from recranker_core.cli import main
from tests.conftest import copy_run

SECTIONS = ("Metrics", "Slices", "Position bias", "Hybrid weights", "User stories", "Settings")


def test_report_of_a_run_compared_with_another(smoke_run, tmp_path, capsys):
    other = copy_run(smoke_run, tmp_path / "other", evaluation={"bootstrap_samples": 300})
    out = tmp_path / "report.html"
    code = main(["report", "--run", str(smoke_run), "--compare", str(other), "--out", str(out), "-q"])
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    page = out.read_text()
    scripts = re.findall(r"<script[^>]*>", page)
    assert not any("src=" in tag for tag in scripts)  # plotly.js is inline, nothing is fetched
    assert page.count("Plotly.newPlot") >= 7
    for section in SECTIONS:
        assert f"<h2>{section}" in page, section
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    for method in metrics["methods"]:
        assert f"<td>{method}</td>" in page, method
    assert "<h2>Compared runs</h2>" in page and "evaluation.bootstrap_samples" in page
    assert "Helped most" in page and "Hurt most" in page
    assert f"Judged method: <b>{metrics['selected']['method']}</b>" in page
    from recranker_core.analysis.verdict import sentence

    answer, _, rest = sentence(metrics).partition(": ")
    assert (
        f"<p class='verdict'><b>{answer}</b>: {rest}</p>" in page and "first-shown candidate on top" in page
    )
    assert "<h2>Beyond accuracy: does the LLM push popular items?</h2>" in page and "<th>Δ arp</th>" in page
    settings = page[page.index("<h2>Settings</h2>") :]
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
