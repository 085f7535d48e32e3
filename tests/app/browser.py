"""Drive the real dashboard in headless Chromium: serve it, visit every page, pick a user, time it.

Used by tests/app/test_browser.py (on the smoke fixture run) and bench/dashboard.py (on a real run).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = (
    "Runs",
    "User explorer",
    "Prompt inspector",
    "Hybrid lab",
    "Slices",
    "Position bias",
    "Sampling",
    "Live rerank",
    "What-if",
)
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PROBLEMS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(
    runs_root: Path, timeout: float = 60.0, app: Path = ROOT / "app" / "streamlit_app.py"
) -> Iterator[str]:
    """Serve the dashboard (or another ``app``) as `python -m recranker_core serve` does, on a free localhost
    port, started outside the project's folder; yields its URL."""
    from recranker_core.serve import command

    port = free_port()
    env = {**os.environ, "RECRANKER_RUNS": str(runs_root), "TOKENIZERS_PARALLELISM": "false"}
    # Started outside the project's folder: the settings must travel with the command.
    with tempfile.TemporaryDirectory() as elsewhere, tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            command(port, app), cwd=elsewhere, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, server, log, timeout)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_healthy(url: str, server: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"streamlit did not start: {log.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.3)


@contextmanager
def browser(offline: bool = False) -> Iterator:
    """A headless Chromium page (Debian's chromium; Playwright downloads no browser here); ``offline``: with
    networking off."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        raise RuntimeError(
            f"{CHROMIUM} not found: `make test` installs Debian's chromium (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = chromium.new_context(viewport={"width": 1440, "height": 2000}, offline=offline)
            page = context.new_page()
            page.set_default_timeout(60_000)
            yield page
        finally:
            chromium.close()


def settle(page) -> None:
    """Wait until the script has finished its run (the page then holds everything it drew)."""
    page.wait_for_timeout(100)  # let a rerun that an action triggered begin
    page.wait_for_selector(IDLE, state="attached")


def shot(page, folder: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")  # images and fonts, for the picture only
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def problems(page) -> list[str]:
    return [element.inner_text()[:300] for element in page.query_selector_all(PROBLEMS)]


def walk(url: str, run: str, shots: Path) -> dict:
    """Open the dashboard on ``run``, visit every page through the sidebar, pick a user, rerank live.

    Returns what was seen per page (problems, tables, charts, text), the addresses asked for outside the
    server (``outside``: none, unless a page fetched what a run smuggled in), whether a smuggled script ran
    (``pwned``) and the timings in seconds."""
    seen: dict = {"pages": {}, "timings": {}, "outside": []}
    with browser() as page:
        page.on(
            "request",
            lambda r: None if r.url.startswith((url, "data:", "blob:")) else seen["outside"].append(r.url),
        )
        start = time.perf_counter()
        page.goto(f"{url}/?run={run}")
        page.wait_for_selector('[data-testid="stDataFrame"]')
        page.wait_for_selector('[data-testid="stPlotlyChart"]')
        settle(page)
        seen["timings"]["first_page_s"] = time.perf_counter() - start
        for title in PAGES:
            started = time.perf_counter()
            page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
            page.get_by_role("heading", name=title if title != "Runs" else "Runs").first.wait_for()
            settle(page)
            seen["timings"][f"page:{title}"] = time.perf_counter() - started
            if title == "User explorer":
                seen["timings"]["switch_user_s"] = _switch_user(page)
            if title == "Live rerank" and page.get_by_role("button", name="Rerank now").count():
                started = time.perf_counter()
                page.get_by_role("button", name="Rerank now").click()
                page.get_by_text("Fresh rankings").wait_for(timeout=180_000)
                settle(page)
                seen["timings"]["live_rerank_s"] = time.perf_counter() - started
            if title == "What-if":
                seen["timings"].update(_what_if(page))
            seen["pages"][title] = {
                "problems": problems(page),
                "tables": page.locator('[data-testid="stDataFrame"], [data-testid="stTable"]').count(),
                "charts": page.locator('[data-testid="stPlotlyChart"]').count(),
                "url": page.url,
                "text": page.locator('[data-testid="stMain"]').inner_text(),
            }
            shot(page, shots, title.lower().replace(" ", "-"))
        started = time.perf_counter()  # the first page again, now that the server's caches are warm
        page.goto(f"{url}/?run={run}")
        page.wait_for_selector('[data-testid="stPlotlyChart"]')
        settle(page)
        seen["timings"]["first_page_warm_s"] = time.perf_counter() - started
        seen["pwned"] = page.evaluate("() => window.pwned")
    return seen


def _what_if(page) -> dict[str, float]:
    """Leave the first history item out, score the edited prompt, attribute its score, rerank the user:
    seconds for each, from the action until its result shows (the model is loaded by then)."""
    timings = {}
    page.get_by_role("combobox", name="Leave out of the history").click()
    option = page.get_by_role("option").filter(has_not_text="Select all").first
    page.evaluate(WATCH_SCRIPT_STATE)
    option.click()
    page.wait_for_function("() => window.finishedAt !== undefined", timeout=60_000)
    timings["whatif_edit_s"] = page.evaluate("() => (window.finishedAt - window.clickedAt) / 1000")
    page.keyboard.press("Escape")
    settle(page)
    for step, button, shows in (
        ("whatif_score_s", "Score the edited prompt", page.get_by_text("edited; change")),
        ("whatif_attribution_s", "Attribute the score", page.get_by_text("Influence: the prompt's score")),
        ("whatif_rerank_s", "Rerank the user with these edits", page.get_by_text("places moved against")),
    ):
        started = time.perf_counter()
        page.get_by_role("button", name=button).click()
        shows.wait_for(timeout=180_000)
        settle(page)
        timings[step] = time.perf_counter() - started
    return timings


def _switch_user(page) -> float:
    """Pick another user in the searchable selector; seconds from the click until the script that
    redraws the page for them has finished (read from the app's script-state attribute)."""
    page.get_by_role("combobox", name="Test user").click()
    page.get_by_role("option").first.wait_for()
    choice = page.locator('[role="option"]:not([aria-selected="true"])').first
    user = re.match(r"user (\S+)", choice.inner_text()).group(1)
    page.evaluate(WATCH_SCRIPT_STATE)
    choice.click()
    page.wait_for_function("() => window.finishedAt !== undefined", timeout=30_000)
    page.wait_for_url(re.compile(rf"[?&]user={re.escape(user)}(&|$)"))
    return page.evaluate("() => (window.finishedAt - window.clickedAt) / 1000")


# Record when the next script run after the click ends: the app's data-test-script-state goes
# running -> notRunning.
WATCH_SCRIPT_STATE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    window.finishedAt = undefined;
    let ran = false;
    const observer = new MutationObserver(() => {
        const state = app.getAttribute('data-test-script-state');
        if (state === 'running') ran = true;
        else if (ran && state === 'notRunning') {
            window.finishedAt = performance.now();
            observer.disconnect();
        }
    });
    observer.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    window.clickedAt = performance.now();
}"""
