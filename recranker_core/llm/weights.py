"""Reading a safetensors file's header: its tensors' names and shapes, without loading a weight. Both the
checks of a model folder (``checks``) and the check of an adapter before peft loads it (``models``) read
it, so it stands below both rather than in either."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from recranker_core.errors import InputError

HEADER_LIMIT = 100_000_000
"""Largest header read, in bytes: a broken or hostile length field would otherwise be read as a header."""


def header_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, from a safetensors file's header (its first 8 bytes give the JSON's length)."""
    try:
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > HEADER_LIMIT:
                raise ValueError(f"a header of {size} bytes")
            header = json.loads(handle.read(size))
        return {k: list(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    except (OSError, struct.error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a safetensors file ({exc})") from None
