"""Random streams: one independent, reproducible stream per purpose, so that changing one draw never
shifts another."""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, purpose: str, *index: int) -> np.random.Generator:
    """The stream for ``purpose`` (and per draw or user ``index``) of a run with ``seed``."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode()), *index])
