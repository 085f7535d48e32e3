"""A method's name in rankings and metrics, as a value: its family and what it ranks by.

``base:<model>`` is a conventional recommender's own list, ``control:<signal>`` a ranking with no LLM,
``zeroshot:<name>`` a method scored by the untuned LLM, and a bare name (``pointwise``, ``hybrid``,
``fusion``, ...) one scored by the tuned LLM. This module is the one place that writes and reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["base", "control", "zeroshot", "tuned"]
"""Who ranks: a base model, a control without an LLM, the untuned LLM, or the tuned one (the families of
llm_outputs.parquet are the last two)."""
FAMILIES: tuple[Family, ...] = ("base", "control", "zeroshot", "tuned")
FAMILY_LABELS = {"base": "base model", "control": "control", "zeroshot": "zero-shot", "tuned": "tuned"}
"""How a page names each family."""
PRIOR = "+prior"
"""The suffix of a task scored as the official code does: the most likely answer, the base rank a prior."""


@dataclass(frozen=True)
class Method:
    family: Family
    """Who ranks (see :data:`Family`)."""
    name: str
    """What it ranks by: the base model, the control's signal, or the task or combination of tasks."""

    def __str__(self) -> str:
        return self.name if self.family == "tuned" else f"{self.family}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> Method:
        """The method a name in rankings or metrics stands for."""
        family, colon, name = text.partition(":")
        if colon and family in FAMILIES and family != "tuned":
            return cls(family, name)
        return cls("tuned", text)

    @property
    def llm(self) -> bool:
        """Whether an LLM scored it (tuned or untuned)."""
        return self.family in ("tuned", "zeroshot")

    @property
    def task(self) -> str:
        """What it ranks by, without the ``+prior`` of the official scoring."""
        return self.name.removesuffix(PRIOR)


def base(model: str) -> str:
    """The method name of base model ``model``'s own list."""
    return str(Method("base", model))


def scored(family: str, name: str) -> str:
    """The method name of ``name`` scored by LLM ``family`` ("tuned" or "zeroshot")."""
    return str(Method(family, name))


def family(method: str) -> Family:
    return Method.parse(method).family


def model(method: str) -> str:
    """The base model of a ``base:`` method."""
    parsed = Method.parse(method)
    if parsed.family != "base":
        raise ValueError(f"{method!r} is not a base model's method")
    return parsed.name
