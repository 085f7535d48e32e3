"""Dashboard timings in a real browser: first page (cold and warm), page switches, switching user,
live rerank.

    .venv/bin/python bench/dashboard.py --run runs/quick [--repeat 3]

Serves the app with `streamlit run` on a free localhost port and drives it with Playwright in
Debian's headless Chromium, the same walk as tests/app/test_browser.py. Writes
bench/results/dashboard.json and dashboard.md with the machine described. The cold first page
includes the server's first script run; "warm" loads the page again once the server's caches hold
the run's tables. Each timing is from the user's action until the script has finished its run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import machine, publish

from recranker_core import rundir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.app.browser import browser, serve, settle, walk

FLOOR = Path(__file__).with_name("floor_app.py")


def floor(url: str) -> dict[str, float]:
    """First draw of the floor app (a title, a table, a chart) on a fresh server, then again warm."""
    timings = {}
    with browser() as page:
        for name in ("floor_first_page_s", "floor_first_page_warm_s"):
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_selector('[data-testid="stDataFrame"]')
            page.wait_for_selector(".js-plotly-plot .main-svg")
            settle(page)
            timings[name] = time.perf_counter() - started
    return timings


def main() -> None:
    # The docstring's first sentence, which wraps onto a second line.
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument(
        "--run", type=Path, default=Path("runs/quick"), help="a run folder with every stage done"
    )
    parser.add_argument("--repeat", type=int, default=3, help="walks, each against a fresh server")
    args = parser.parse_args()
    if not (args.run / rundir.RANKINGS).is_file():
        parser.error(
            f"{args.run}: not a finished run (make run, or python -m recranker_core run --out {args.run})"
        )
    walks = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as shots, serve(args.run.resolve().parent) as url:
            walks.append(walk(url, args.run.name, Path(shots)))
        with tempfile.TemporaryDirectory() as empty, serve(Path(empty), app=FLOOR) as url:
            walks[-1]["timings"].update(floor(url))
    names = list(walks[0]["timings"])
    timings = {name: [round(w["timings"][name], 3) for w in walks] for name in names}
    medians = {name: round(statistics.median(values), 3) for name, values in timings.items()}
    manifest = rundir.read_json(args.run / rundir.MANIFEST)
    document = {
        "run": args.run.name,
        "dataset": manifest["dataset"]["name"],
        "profile": manifest["profile"],
        "test_users": json.loads((args.run / rundir.METRICS).read_text())["test_users"],
        "repeat": args.repeat,
        "median_seconds": medians,
        "seconds": timings,
        "problems": {
            title: page["problems"] for w in walks for title, page in w["pages"].items() if page["problems"]
        },
        "machine": machine(),
    }
    lines = [
        "# Dashboard timings in a real browser",
        "",
        f"Run `{document['run']}` ({document['dataset']}, `{document['profile']}` profile, "
        f"{document['test_users']} test users); "
        f"median of {args.repeat} walks, each against a fresh `streamlit run`, "
        "in headless Chromium (Playwright).",
        "",
        "| step | median s | all walks (s) |",
        "|---|---|---|",
    ]
    for name in names:
        lines.append(f"| {name} | {medians[name]} | {', '.join(str(v) for v in timings[name])} |")
    lines += [
        "",
        "first_page_s: from opening the URL until the Runs page has drawn its table and charts, "
        "on a server that has "
        "not read the run yet (includes starting the page's JavaScript); "
        "first_page_warm_s: the same once the server's "
        "caches hold the run. page:X: from the sidebar click until page X finished drawing. "
        "switch_user_s: from picking "
        "another user in the User explorer until the page shows them. "
        "live_rerank_s: first click on Rerank now, "
        "including loading the model and adapter. "
        "whatif_edit_s: leaving a history item out on the What-if page until the page has redrawn; "
        "whatif_score_s, whatif_attribution_s, whatif_rerank_s: from the click on Score the edited prompt, "
        "Attribute the score (the default listwise prompt) and Rerank the user with these edits until the "
        "result shows (the model is loaded by then). floor_first_page_s and floor_first_page_warm_s: "
        "the same first draw for `bench/floor_app.py` (a title, a two-row table and a two-bar chart) on a "
        "fresh server of its own, in the same walk: what Streamlit and the browser cost before the "
        "dashboard does anything.",
    ]
    publish("dashboard", document, lines, f".venv/bin/python bench/dashboard.py --run runs/{document['run']}")


if __name__ == "__main__":
    main()
