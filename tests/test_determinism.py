"""The same seed on the same CPU machine gives the same run: instruction bytes and every ranking."""

from __future__ import annotations

import pandas as pd

from recranker_core import rundir
from recranker_core.cli import main
from tests.conftest import MINI


def test_a_second_run_with_the_same_seed_is_identical(smoke_run, tmp_path):
    again = tmp_path / "again"
    assert main(["run", "--profile", "smoke", "--dataset", str(MINI), "--out", str(again), "-q"]) == 0
    for name in rundir.INSTRUCTION_FILES:
        assert (again / rundir.INSTRUCTIONS / name).read_bytes() == (
            smoke_run / rundir.INSTRUCTIONS / name
        ).read_bytes()
    order = ["method", "user_id", "rank"]
    first = pd.read_parquet(smoke_run / rundir.RANKINGS).sort_values(order).reset_index(drop=True)
    second = pd.read_parquet(again / rundir.RANKINGS).sort_values(order).reset_index(drop=True)
    assert {m for m in first["method"] if not m.startswith("base:")}  # the LLM methods are compared too
    pd.testing.assert_frame_equal(first, second)
    for name in (rundir.CANDIDATES, rundir.SAMPLED_USERS):
        pd.testing.assert_frame_equal(pd.read_parquet(smoke_run / name), pd.read_parquet(again / name))
