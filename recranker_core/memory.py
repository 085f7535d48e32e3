"""This machine's free memory, and the check made before an allocation that might not fit it: one clear
line naming the setting (exit 2), rather than numpy's or torch's out-of-memory traceback, or the kernel
killing the run."""

from __future__ import annotations

import os
from pathlib import Path

from recranker_core.errors import InputError

HEADROOM = 0.9
"""Share of the free memory an estimate may fill."""


def available() -> int:
    """Bytes of memory free for this process: MemAvailable (page cache counts as free), else free pages."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith("MemAvailable"))
    except (OSError, StopIteration, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 1 << 62  # unknown: let the run try


def gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"


def require(size: int, what: str, remedy: str) -> None:
    """An InputError when ``what`` would need more than the headroom of the free memory: ``size`` bytes,
    estimated."""
    free = available()
    if size > HEADROOM * free:
        raise InputError(
            f"{what} would need about {gib(size)} of memory, more than the {gib(free)} free; {remedy}"
        )
