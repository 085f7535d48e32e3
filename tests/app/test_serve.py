"""`python -m recranker_core serve` binds to 127.0.0.1 wherever it is started: its settings travel on the
command line, not in a config.toml that Streamlit reads only from the folder it starts in."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.app.browser import _wait_healthy, free_port
from tests.conftest import ROOT


def test_the_dashboard_listens_on_loopback_only_when_started_from_another_folder(tmp_path):
    port = free_port()
    env = {**os.environ, "RECRANKER_RUNS": str(tmp_path / "runs")}
    command = [sys.executable, "-m", "recranker_core", "serve", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", server, log, timeout=60)
            listening = _listening(port)
        finally:
            server.terminate()
            server.wait(timeout=10)
    assert listening == {ipaddress.ip_address("127.0.0.1")}


def test_a_bad_port_is_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "recranker_core", "serve", "--port", "70000"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr == "error: --port 70000: give a port from 1 to 65535\n"


def _listening(port: int) -> set:
    """The local addresses of the sockets listening on ``port``, from the kernel's tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # The kernel writes each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(ipaddress.ip_address(words))
    return found
