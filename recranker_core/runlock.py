"""One writer per run folder: a lock file beside it, held with the operating system's file lock, so a
second `run` (or stage command) into a run being written stops at once, naming the process that writes
it, and a lock left by a process that has gone (killed, its machine restarted) is simply taken."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from recranker_core import launch
from recranker_core.errors import InputError


def lock_path(run: Path) -> Path:
    """The lock file of run folder ``run``: hidden beside it (the folder may not exist yet)."""
    return run.with_name(f".{run.name}.lock")


@contextlib.contextmanager
def writing(run: Path):
    """Hold ``run``'s lock while the block writes it; an InputError if another live process holds it.
    The lock file and a parent folder made for it alone are removed at the end, so a refused command
    leaves nothing. Under `accelerate launch` only the main process takes it (the others write nothing
    of their own)."""
    if launch.rank() != 0:
        yield
        return
    path = lock_path(run)
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = _held(path, run)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still held: a waiting process then finds a new file
        handle.close()
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only while empty


def _held(path: Path, run: Path):
    """The open lock file, locked; a file unlinked by its last holder between our open and our lock is
    opened again."""
    while True:
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise InputError(
                f"{run}: another process is writing this run (pid {holder}); wait for it to finish or stop "
                "it, then run the same command again"
            ) from None
        if path.exists() and os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            return handle
        handle.close()
