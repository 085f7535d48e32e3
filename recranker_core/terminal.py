"""The terminal: text from the data printed to it, and the signals it (or a supervisor) sends to stop.

``plain`` is applied to everything printed (results, errors, warnings), since titles, ids and paths come
from files a user was handed: an escape sequence in them would recolour, retitle or rewrite the user's
terminal. ``stoppable`` turns Ctrl-C (SIGINT) and SIGTERM into :class:`Interrupted` wherever the code is,
so that each stage stops within one step or block, keeps what it finished, and the command exits
128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import unicodedata
from collections.abc import Iterator

_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement, erasing
    r"|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"  # OSC: window title, hyperlinks, clipboard
    r"|\x1b[PX^_][^\x1b\n]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # the two- and three-character escapes (and a bare ESC)
)
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Reorder what follows on screen, so that printed text reads other than it is."""


def plain(text: object, *, lines: bool = False) -> str:
    """``text`` without escape sequences or control characters (newlines kept only with ``lines``, and
    tabs), so that it prints as written and, without ``lines``, on one line."""
    text = _ESCAPES.sub("", str(text))
    kept = "\n\t" if lines else "\t"
    return "".join(
        c if c in kept or (unicodedata.category(c) != "Cc" and c not in _BIDI) else "" for c in text
    )


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Raised by ``stoppable``'s handler. A subclass, so that what cleans up after Ctrl-C does so for
    SIGTERM too, yet not KeyboardInterrupt itself: the interpreter kills a process by SIGINT on the way
    out (instead of exiting with our code) once a KeyboardInterrupt has passed through some C-level
    evaluation, even if it was caught later."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []


@contextlib.contextmanager
def stoppable() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` at once; the first signal only,
    so that a second one (a supervisor's SIGTERM after the user's Ctrl-C) does not cut short the cleanup
    the first one started. Installed even where the parent left SIGINT ignored, as a shell does for a
    command started in the background (``make run``'s build, ``cmd &`` in a script): Python then never
    raises KeyboardInterrupt, and the run went on to the end."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are delivered to the main thread only; its caller handles them
        return

    def stop(signum, frame):
        if not _received:
            _received.append(signum)
            raise Interrupted(signum)

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        _received.clear()


def check() -> None:
    """Raise :class:`Interrupted` again if a signal came and the exception it raised was swallowed (raised
    inside a finaliser, whose errors Python prints and drops): called between steps and blocks."""
    if _received:
        raise Interrupted(_received[0])
