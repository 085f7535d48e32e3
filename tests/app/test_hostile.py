"""Shared runs cannot smuggle code: a run whose every free-text field carries markup, scripts, Markdown
images and links (tests/app/hostile.py) is shown in Chromium, in the dashboard and in the report, and
nothing runs, nothing is fetched, and the text reads as written."""

from __future__ import annotations

from urllib.parse import quote

from tests.app.browser import browser, serve, settle
from tests.app.hostile import EVIL, NAME, TRAP, WRITTEN, hostile_run


def _watch(page) -> list[str]:
    """Every address the page asks for outside the server and data: URLs, and every dialog it opens."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if request.url.startswith(TRAP) else None)
    page.on("dialog", lambda dialog: (seen.append(f"dialog {dialog.message}"), dialog.dismiss()))
    return seen


def test_links_carrying_markup_are_shown_as_written(smoke_run, tmp_path):
    """An unknown run, slice and user in the address, each a piece of markup: named in a warning as text
    (every page of the run itself: tests/app/test_browser.py)."""
    run = hostile_run(smoke_run, tmp_path / "runs")
    evil = quote(EVIL)
    shown = {}
    with serve(run.parent) as url, browser() as page:
        fetched = _watch(page)
        for address in (f"/?run={evil}", f"/users?run={NAME}&slice={evil}", f"/users?run={NAME}&user={evil}"):
            page.goto(url + address)
            page.get_by_role("heading").first.wait_for()
            settle(page)
            page.wait_for_timeout(300)  # images drawn after the script ended
            shown[address] = page.locator("body").inner_text()
        pwned = page.evaluate("() => window.pwned")
    assert fetched == [] and pwned is None
    assert all(WRITTEN in text for text in shown.values()), shown  # each named in its warning, as text


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
