"""The dashboard in a real browser: served as `python -m recranker_core serve` serves it, on a free
localhost port, driven by Playwright in Debian's headless Chromium. Screenshots and timings go to the
test's temporary folder (pytest keeps the last three:
/tmp/pytest-of-$USER/pytest-current/test_every_page_in_a_real_browse0/screenshots)."""

from __future__ import annotations

import json
import shutil
from urllib.parse import quote

from tests.app.browser import PAGES, browser, serve, settle, walk
from tests.app.hostile import EVIL, WRITTEN, hostile_run


def test_every_page_in_a_real_browser(smoke_run, mini_run, tmp_path):
    """Every page of a run whose free-text fields all carry markup, scripts and Markdown images
    (tests/app/hostile.py): each page works, nothing runs, nothing is fetched, and the markup reads as
    written; so do links whose run, slice and user are markup."""
    root, shots = tmp_path / "runs", tmp_path / "screenshots"
    run = hostile_run(smoke_run, root)
    # A newer run that the dashboard would fall back to if it lost the chosen run between pages.
    shutil.copytree(mini_run, root / "newer")
    manifest = json.loads((root / "newer" / "manifest.json").read_text())
    (root / "newer" / "manifest.json").write_text(
        json.dumps({**manifest, "created": "2999-01-01T00:00:00+00:00"})
    )
    with serve(root) as url:
        seen = walk(url, run.name, shots)
        links = _hostile_links(url, run.name)
    (shots / "timings.json").write_text(json.dumps(seen, indent=1))
    assert links["outside"] == [] and links["pwned"] is None
    assert all(WRITTEN in text for text in links["text"].values()), links  # named in a warning, as text
    assert list(seen["pages"]) == list(PAGES)
    for title, page in seen["pages"].items():
        assert page["problems"] == [], title
        assert f"run={run.name}" in page["url"], title
    assert seen["outside"] == [] and seen["pwned"] is None
    assert WRITTEN in seen["pages"]["Runs"]["text"]  # the judged method, named in the verdict
    assert WRITTEN in seen["pages"]["User explorer"]["text"]  # the titles, in a table that reads Markdown
    assert seen["pages"]["Runs"]["tables"] >= 1 and seen["pages"]["Runs"]["charts"] >= 2
    explorer = seen["pages"]["User explorer"]
    assert explorer["tables"] >= 3 and explorer["charts"] == 1 and "user=" in explorer["url"]
    for title in ("Prompt inspector", "Hybrid lab", "Slices", "Position bias", "Sampling", "Live rerank"):
        assert seen["pages"][title]["charts"] >= 1, title
    assert "live_rerank_s" in seen["timings"] and "switch_user_s" in seen["timings"]
    # A history item left out, the edited prompt scored and attributed, the user reranked: each showed.
    whatif = {"whatif_edit_s", "whatif_score_s", "whatif_attribution_s", "whatif_rerank_s"}
    assert whatif <= set(seen["timings"]) and seen["pages"]["What-if"]["charts"] == 1
    for name in ("runs", "user-explorer", "live-rerank", "what-if"):
        assert (shots / f"{name}.png").stat().st_size > 10_000


def _hostile_links(url: str, run: str) -> dict:
    """Open links whose run, slice and user are each a piece of markup: what each page then says, the
    addresses asked for outside the server, and whether a smuggled script ran."""
    evil, seen = quote(EVIL), {"text": {}, "outside": []}
    with browser() as page:
        page.on(
            "request", lambda r: None if r.url.startswith((url, "data:")) else seen["outside"].append(r.url)
        )
        for address in (f"/?run={evil}", f"/users?run={run}&slice={evil}", f"/users?run={run}&user={evil}"):
            page.goto(url + address)
            page.get_by_role("heading").first.wait_for()
            settle(page)
            page.wait_for_timeout(300)  # images drawn after the script ended
            seen["text"][address] = page.locator("body").inner_text()
        seen["pwned"] = page.evaluate("() => window.pwned")
    return seen


def test_a_link_to_a_page_is_the_first_request_a_fresh_server_gets(smoke_run, tmp_path):
    """A shared link such as /users?run=NAME opens the dashboard with its own pages; with the pages in a
    folder called pages/, a fresh server served them as Streamlit's file-named pages instead."""
    root = tmp_path / "runs"
    shutil.copytree(smoke_run, root / smoke_run.name)
    with serve(root) as url, browser() as page:
        page.goto(f"{url}/users?run={smoke_run.name}")
        page.get_by_role("heading", name="User explorer").first.wait_for()
        navigation = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert all(title in navigation for title in PAGES), navigation


def test_a_fresh_server_answers_at_a_glance_in_the_dark_too(smoke_run, tmp_path):
    """The verdict on the first page a visitor sees, the glossary and the beyond-accuracy table open, the
    worst-first slices, the viewer's dark setting followed and the run picker on a phone (screenshots,
    looked at: tmp_path/runs-dark.png, slices-dark.png, slices-390.png)."""
    from recranker_core.analysis import verdict
    from tests.app.browser import settle

    metrics = json.loads((smoke_run / "metrics.json").read_text())
    answer, _, rest = verdict.sentence(metrics).partition(": ")
    root = tmp_path / "runs"
    shutil.copytree(smoke_run, root / smoke_run.name)
    with serve(root) as url, browser() as page:
        page.emulate_media(color_scheme="dark")
        page.goto(f"{url}/?run={smoke_run.name}")
        page.get_by_text(rest[:60]).wait_for()
        settle(page)
        assert page.locator("p", has_text=rest[:60]).first.inner_text().startswith(f"{answer}: {rest[:60]}")
        page.get_by_text("Beyond accuracy: does the LLM push popular items?").wait_for()
        page.get_by_text("Glossary: every method and metric").click()
        page.get_by_text("Intra-list diversity: the mean genre").wait_for()
        page.screenshot(path=str(tmp_path / "runs-dark.png"))
        background = page.evaluate("getComputedStyle(document.querySelector('.stApp')).backgroundColor")
        assert not page.locator(".st-key-narrow_run").is_visible()  # the sidebar's picker serves here
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Slices", exact=True).click()
        page.get_by_text(f"Where {metrics['selected']['method']} hurt and helped NDCG@3 most").wait_for()
        settle(page)
        assert page.get_by_text("Hurt most:").is_visible() and page.get_by_text("Helped most:").is_visible()
        assert page.locator('[data-testid="stDataFrame"]').count() >= 3  # hurt, helped, the slices
        page.screenshot(path=str(tmp_path / "slices-dark.png"))
        # On a phone the sidebar folds away; the run picker is then on the page itself.
        page.set_viewport_size({"width": 390, "height": 900})
        page.locator(".st-key-narrow_run").wait_for(state="visible")
        page.screenshot(path=str(tmp_path / "slices-390.png"))
    red, green, blue = (int(v) for v in background[background.index("(") + 1 : -1].split(",")[:3])
    assert red + green + blue < 120, background  # the dark theme's background, not white
