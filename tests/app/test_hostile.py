"""Shared runs cannot smuggle code: a run whose every free-text field carries markup, scripts, Markdown
images and links (tests/app/hostile.py) is shown in Chromium, in the dashboard and in the report, and
nothing runs, nothing is fetched, and the text reads as written."""

from __future__ import annotations

from urllib.parse import quote

from tests.app.browser import PAGES, browser, serve, settle
from tests.app.hostile import EVIL, NAME, TRAP, hostile_run

WRITTEN = "![md](http://127.0.0.1:9/trap/md.png)"
"""A piece of the markup that must be on the page as text: shown as written, not rendered."""


def _watch(page) -> list[str]:
    """Every address the page asks for outside the server and data: URLs, and every dialog it opens."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if request.url.startswith(TRAP) else None)
    page.on("dialog", lambda dialog: (seen.append(f"dialog {dialog.message}"), dialog.dismiss()))
    return seen


def test_no_page_of_the_dashboard_runs_or_fetches_what_a_run_smuggles_in(smoke_run, tmp_path):
    run = hostile_run(smoke_run, tmp_path / "runs")
    evil = quote(EVIL)
    with serve(run.parent) as url, browser() as page:
        fetched = _watch(page)
        page.goto(f"{url}/?run={NAME}")
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
        settle(page)
        verdict = page.locator('[data-testid="stMarkdownContainer"]', has_text=WRITTEN).count()
        shown = {}
        for title in PAGES:
            page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
            page.get_by_role("heading", name=title).first.wait_for()
            settle(page)
            page.wait_for_timeout(300)  # images and charts drawn after the script ended
            if title == "User explorer":
                page.locator('[data-testid="stTable"]').wait_for()
                lineup = page.locator('[data-testid="stTable"]').inner_text()
            shown[title] = page.locator('[data-testid="stMain"]').inner_text()
            page.screenshot(path=str(tmp_path / f"{title}.png"), full_page=True)
        # Links carrying markup in the address: an unknown run, slice and user.
        for address in (f"/?run={evil}", f"/users?run={NAME}&slice={evil}", f"/users?run={NAME}&user={evil}"):
            page.goto(url + address)
            page.get_by_role("heading").first.wait_for()
            settle(page)
            page.wait_for_timeout(300)
            shown[address] = page.locator("body").inner_text()
        pwned = page.evaluate("() => window.pwned")
    assert fetched == [] and pwned is None
    assert verdict >= 1  # the judged method's name in the verdict, as written
    assert WRITTEN in lineup  # the titles in the lineup, a table that reads Markdown
    assert WRITTEN in shown[f"/users?run={NAME}&slice={evil}"]  # the slice named in the warning
    assert all("could not show run" not in text for text in shown.values()), shown


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
