"""Shared reports cannot smuggle code: the report and a user's story of a run whose every free-text field
carries markup, scripts, Markdown images and links (tests/app/hostile.py), opened in Chromium offline: nothing
runs, nothing is fetched, the text reads as written and the charts draw under the page's policy. (Every
dashboard page of such a run: tests/app/test_browser.py.)"""

from __future__ import annotations

from tests.app.browser import browser
from tests.app.hostile import EVIL, TRAP, WRITTEN, hostile_run


def _watch(page) -> list[str]:
    """Every address the page asks for outside the server and data: URLs, and every dialog it opens."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if request.url.startswith(TRAP) else None)
    page.on("dialog", lambda dialog: (seen.append(f"dialog {dialog.message}"), dialog.dismiss()))
    return seen


def test_the_report_and_a_story_run_nothing_a_run_smuggles_in(smoke_run, tmp_path):
    from recranker_core.analysis import report

    run = hostile_run(smoke_run, tmp_path / "runs")
    story = tmp_path / "story.html"
    story.write_text(report.user_story(run, _a_reranked_user(run)))
    path = report.write(run, tmp_path / "report.html")
    with browser(offline=True) as page:
        fetched = _watch(page)
        violations = []
        page.on(
            "console", lambda message: violations.append(message.text) if "Security" in message.text else None
        )
        for document in (path, story):
            page.goto(document.as_uri())
            page.wait_for_load_state("load")
            page.wait_for_timeout(500)
            assert WRITTEN in page.locator("body").inner_text(), document.name
        page.goto(path.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg")
        drawn = page.locator(".js-plotly-plot:has(.main-svg)").count()
        pwned = page.evaluate("() => window.pwned")
    assert fetched == [] and pwned is None
    assert drawn >= 8  # the policy lets the report's own scripts draw every chart
    assert violations == [], violations  # and blocks nothing of its own


def _a_reranked_user(run):
    import pandas as pd

    rankings = pd.read_parquet(run / "rankings.parquet")
    return rankings.loc[rankings["method"] == EVIL, "user_id"].iloc[0]
