"""The field types and rules every section of the run configuration shares. They stand apart from
``config.py`` so that a section kept in a module of its own (``llm_settings.py``) can use them: that
module is imported by ``config.py``, and importing ``config.py`` back would make a circle."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

Positive = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(gt=0, le=1)]
Rate = Annotated[float, Field(gt=0)]
FROM_LIST = Field(strict=False)
"""Lists from TOML become tuples."""
SECTION = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
"""Every section: exact types, no unknown fields, finite numbers only (a NaN weight passed silently)."""


def distinct(values: tuple) -> tuple:
    """``values`` if no name stands in it twice (a model fitted twice, a layer adapted twice)."""
    twice = sorted({v for v in values if values.count(v) > 1}, key=str)
    if twice:
        raise ValueError(f"names {', '.join(map(repr, twice))} twice")
    return values


Distinct = AfterValidator(distinct)
