"""Method names as values: every name a run writes is read back as its family and formatted the same."""

import pytest

from recranker_core import methods
from recranker_core.methods import Method


@pytest.mark.parametrize(
    ("name", "family", "part", "task"),
    [
        ("base:implicitmf", "base", "implicitmf", "implicitmf"),
        ("control:hints", "control", "hints", "hints"),
        ("zeroshot:pointwise+prior", "zeroshot", "pointwise+prior", "pointwise"),
        ("zeroshot:fusion", "zeroshot", "fusion", "fusion"),
        ("pairwise+prior", "tuned", "pairwise+prior", "pairwise"),
        ("hybrid-tuned", "tuned", "hybrid-tuned", "hybrid-tuned"),
        # a colon after another word is part of a tuned method's name, not a family
        ("odd:name", "tuned", "odd:name", "odd:name"),
    ],
)
def test_a_name_reads_as_its_family_and_back(name, family, part, task):
    method = Method.parse(name)
    assert (method.family, method.name, method.task) == (family, part, task)
    assert str(method) == name
    assert method.llm == (family in ("tuned", "zeroshot"))


def test_the_helpers_write_what_parse_reads():
    assert methods.base("EASE") == "base:EASE" and methods.model("base:EASE") == "EASE"
    assert methods.scored("tuned", "listwise") == "listwise"
    assert methods.scored("zeroshot", "listwise") == "zeroshot:listwise"
    with pytest.raises(ValueError, match="not a base model"):
        methods.model("hybrid")


def test_every_method_of_a_smoke_run_round_trips(smoke_run):
    from recranker_core import rundir

    names = rundir.read_table(smoke_run / rundir.RANKINGS)["method"].unique()
    parsed = [Method.parse(n) for n in names]
    assert [str(m) for m in parsed] == list(names)
    assert {m.family for m in parsed} == {"base", "control", "zeroshot", "tuned"}
