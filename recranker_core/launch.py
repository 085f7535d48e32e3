"""The processes a stage runs in: one, or those `accelerate launch` started (on GPUs one per GPU;
without GPUs CPU processes talking over gloo). The only place that reads accelerate's environment."""

from __future__ import annotations

import os


def world_size() -> int:
    """How many processes `accelerate launch` started (1 without it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's number among them (0: the main one)."""
    return int(os.environ.get("RANK", "0"))


def set_threads(threads: int = 0) -> None:
    """torch's CPU threads: ``threads``, or the cores shared out among the launched processes (the
    tokenizer's own thread pool stays off: on few cores it makes speed swing tenfold)."""
    import torch

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // world_size()))


def processes(threads: int = 0):
    """accelerate's view of this stage's processes, with torch's CPU threads set first."""
    import torch
    from accelerate import PartialState

    set_threads(threads)
    return PartialState(cpu=not torch.cuda.is_available())
