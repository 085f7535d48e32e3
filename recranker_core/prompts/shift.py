"""Position shifting: the order in which a prompt shows things, and the record of it.

A permutation ``perm`` means: shown position i holds original element perm[i].
"""

from __future__ import annotations

import numpy as np


def permutation(n: int, rng: np.random.Generator, enabled: bool) -> list[int]:
    return [int(i) for i in rng.permutation(n)] if enabled else list(range(n))


def swapped(rng: np.random.Generator, probability: float, enabled: bool) -> bool:
    return bool(enabled and rng.random() < probability)
