"""Serving the dashboard: `python -m recranker_core serve` (and `make run` / `make serve`).

Every server setting is passed on Streamlit's command line, which outranks any config.toml: Streamlit reads
.streamlit/config.toml from the folder it is started in, so settings kept there held only when started
from the project's root, and from anywhere else the dashboard listened on every address and sent usage
statistics. Here the binding, the statistics switch and the theme hold wherever it starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from recranker_core import rundir
from recranker_core.errors import InputError

APP = Path(__file__).resolve().parents[1] / "app" / "streamlit_app.py"
ADDRESS = "127.0.0.1"
"""Loopback only: to show the dashboard to others, put it behind a proxy with authentication
(docs/security.md)."""
SETTINGS: dict[str, str] = {
    "server.address": ADDRESS,
    "server.headless": "true",
    "server.runOnSave": "false",
    "browser.gatherUsageStats": "false",
    "browser.serverAddress": ADDRESS,
    "client.toolbarMode": "minimal",
    # No theme base: the dashboard follows the viewer's light or dark setting, with these colours for each.
    "theme.font": "sans serif",
    "theme.light.primaryColor": "#3b5bdb",
    "theme.light.backgroundColor": "#ffffff",
    "theme.light.secondaryBackgroundColor": "#f4f6fb",
    "theme.light.textColor": "#1f2430",
    "theme.dark.primaryColor": "#748ffc",
    "theme.dark.backgroundColor": "#10131a",
    "theme.dark.secondaryBackgroundColor": "#1b2030",
    "theme.dark.textColor": "#e6e9ef",
}
"""Streamlit's settings for the dashboard, the one place they are kept."""


def command(port: int, app: Path = APP) -> list[str]:
    """The `streamlit run` command line that serves the dashboard (or another ``app``, for the benches) on
    ``port`` with :data:`SETTINGS`."""
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port}: give a port from 1 to 65535")
    if not app.is_file():
        raise InputError(f"{app}: the dashboard's files are missing; serve from a clone of the project")
    flags = [part for key, value in SETTINGS.items() for part in (f"--{key}", value)]
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port), *flags]


def serve(port: int) -> None:
    """Replace this process with the dashboard's server, reading the runs folder resolved here (an absolute
    path, so that the server and the runs it starts agree on it whatever their working folder)."""
    argv = command(port)
    os.environ[rundir.RUNS_ENV] = str(rundir.runs_root())
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.stdout.flush()
    os.execv(argv[0], argv)
