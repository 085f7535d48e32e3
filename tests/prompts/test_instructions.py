"""Instruction data on the fixture run: answers match prompts, position shifting, leakage, determinism."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare

from recranker_core import rundir
from recranker_core.config import load_profile
from recranker_core.data.split import Split
from recranker_core.instructions import build_instructions, eligible_users, held_out, moment_rows
from recranker_core.prompts.templates import LABELS, NO, YES
from recranker_core.runner import instructions_stage, sample_stage


@pytest.fixture(scope="module")
def run(mini_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("instr") / "run"
    shutil.copytree(mini_run, out)
    sample_stage(out)
    instructions_stage(out)
    return out


@pytest.fixture(scope="module")
def examples(run):
    return {name.split(".")[0]: rundir.read_jsonl(run / "instructions" / name) for name in rundir.INSTRUCTION_FILES}


@pytest.fixture(scope="module")
def split(run):
    return rundir.read_table(run / "split.parquet")


def rebuild(run, **prompt_changes) -> dict:
    """The stage's function on the same inputs with other prompt settings."""
    config = load_profile("smoke")
    config = dataclasses.replace(config, prompts=dataclasses.replace(config.prompts, **prompt_changes))
    result = build_instructions(
        Split(rundir.read_table(run / "split.parquet"), 0),
        rundir.read_table(run / "items.parquet"),
        rundir.read_table(run / "candidates.parquet"),
        rundir.read_table(run / "sampled_users.parquet"),
        config,
    )
    return {"train": result.train, "valid": result.valid, "test": result.test}


def targets(split, role):
    return split[split["role"] == role].set_index("user_id")["item_id"]


def test_chat_format_and_counts(examples, run):
    draws = rundir.read_table(run / "sampled_users.parquet")
    train = examples["train"]
    assert Counter(e["meta"]["task"] for e in train)["listwise"] == len(draws)
    for example in train + examples["valid"]:
        assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]
        assert example["meta"]["answer"] == example["messages"][2]["content"]
    for example in examples["test"]:
        assert [m["role"] for m in example["messages"]] == ["system", "user"]
        assert "target" not in example["meta"] and "answer" not in example["meta"]
    summary = json.loads((run / "manifest.json").read_text())["stages"]["instructions"]["summary"]
    assert summary["negatives"] == "candidates" and summary["train_examples"]["listwise"] == len(draws)


def test_every_answer_agrees_with_its_prompt(examples, split):
    ratings = split.set_index(["user_id", "item_id"])["rating"]
    for example in examples["train"] + examples["valid"]:
        meta, prompt, answer = example["meta"], example["messages"][1]["content"], example["messages"][2]["content"]
        if meta["task"] == "pointwise":
            assert int(answer) == round(ratings[(meta["user_id"], meta["target"])])
            assert meta["items"] == [meta["target"]]
        elif meta["task"] == "pairwise":
            assert meta["target"] in meta["items"]
            assert answer == (YES if meta["items"][0] == meta["target"] else NO)
            assert sorted(meta["permutation"]) == [0, 1]
        else:
            labels = answer.split()
            assert len(labels) == len(set(labels)) == 5
            first = LABELS.index(labels[0])
            assert meta["items"][first] == meta["target"]
            assert all(f"{label} " in prompt for label in labels)
            assert sorted(meta["permutation"]) == list(range(10))


def test_pointwise_history_is_the_recent_likes_shown_in_the_recorded_order(examples, split):
    for example in examples["train"]:
        meta = example["meta"]
        if meta["task"] != "pointwise":
            continue
        rows = split[(split["user_id"] == meta["user_id"]) & (split["role"] == "train")]
        target_seq = rows.loc[rows["item_id"] == meta["target"], "seq"].item()
        held = set(rows.sort_values("seq").groupby("feedback").tail(1)["item_id"])
        before = rows[(rows["seq"] < target_seq) & ~rows["item_id"].isin(held) & (rows["feedback"] == "like")]
        recent = before.sort_values("seq", ascending=False)["item_id"].head(10).tolist()
        assert meta["history"]["liked"] == [recent[i] for i in meta["permutation"]]


def test_train_and_valid_prompts_never_mention_the_test_item(examples, split, run):
    test_items = targets(split, "test")
    titles = rundir.read_table(run / "items.parquet").set_index("item_id")["title"]
    for example in examples["train"] + examples["valid"]:
        meta = example["meta"]
        hidden = test_items[meta["user_id"]]
        mentioned = set(meta["items"]) | set(meta["history"]["liked"]) | set(meta["history"]["disliked"])
        assert hidden not in mentioned
        if titles[hidden] not in {titles[i] for i in mentioned}:
            assert f'"{titles[hidden]}"' not in example["messages"][1]["content"]


def test_train_prompts_never_mention_the_validation_item_or_show_their_target_in_history(examples, split):
    valid_items = targets(split, "valid")
    for example in examples["train"]:
        meta = example["meta"]
        shown = set(meta["items"]) | set(meta["history"]["liked"]) | set(meta["history"]["disliked"])
        assert valid_items[meta["user_id"]] not in shown
        assert meta["target"] not in set(meta["history"]["liked"]) | set(meta["history"]["disliked"])


def test_hint_models_learn_only_from_training_rows_without_held_out_items(split):
    table = Split(split, 0)
    held = held_out(table, eligible_users(table)["user_id"])
    rows = moment_rows(table, held)
    assert set(rows["role"]) == {"train"}
    pairs = set(zip(rows["user_id"], rows["item_id"]))
    assert not pairs & set(zip(held["user_id"], held["item_id"]))
    assert set(held["kind"]) == {"like", "dislike"}


def test_test_prompts_do_not_reveal_the_test_item(examples, split):
    test_items = targets(split, "test")
    by_user: dict = {}
    for example in examples["test"]:
        by_user.setdefault(example["meta"]["user_id"], []).append(example)
    assert by_user
    for user, prompts in by_user.items():
        pointwise = [e for e in prompts if e["meta"]["task"] == "pointwise"]
        assert len(pointwise) == 10 and test_items[user] in {e["meta"]["items"][0] for e in pointwise}
        # Every candidate's prompt shares one history (a cacheable prefix): only item and hint differ.
        assert len({json.dumps(e["meta"]["history"]) for e in pointwise}) == 1
        settings = load_profile("smoke").prompts
        pairs = [e for e in prompts if e["meta"]["task"] == "pairwise"]
        asked = settings.test_pairs
        assert len(pairs) == 2 * asked and Counter(e["meta"]["permutation"][0] for e in pairs) == {0: asked, 1: asked}
        assert len([e for e in prompts if e["meta"]["task"] == "listwise"]) == settings.listwise_copies


def chi_square_p(positions: list[int]) -> float:
    return chisquare(np.bincount(positions, minlength=10)).pvalue


def test_listwise_shift_spreads_the_liked_item_over_all_positions(run, examples):
    shifted = [LABELS.index(e["meta"]["answer"].split()[0]) for e in examples["train"] if e["meta"]["task"] == "listwise"]
    assert len(shifted) >= 200 and len(set(shifted)) == 10
    assert chi_square_p(shifted) > 0.001
    unshifted = rebuild(run, shift=False)["train"]
    positions = [LABELS.index(e["meta"]["answer"].split()[0]) for e in unshifted if e["meta"]["task"] == "listwise"]
    assert chi_square_p(positions) < 1e-6
    assert all(e["meta"]["permutation"] == list(range(10)) for e in unshifted if e["meta"]["task"] == "listwise")


def test_random_negatives_are_unseen_items(run, split):
    rated = split.groupby("user_id")["item_id"].apply(set)
    train = rebuild(run, negatives="random")["train"]
    for example in train:
        meta = example["meta"]
        assert meta["negatives"] == "random"
        if meta["task"] == "listwise" or meta["variant"] == "vs negative":
            others = [i for i in meta["items"] if i != meta["target"]]
            assert not set(others) & rated[meta["user_id"]]


def test_hints_can_be_switched_off_and_extra_models_shown_side_by_side(run):
    bare = rebuild(run, pointwise_hint=False, pairwise_hint=False, listwise_hint=False)
    assert not any("Hint:" in e["messages"][1]["content"] for e in bare["train"] + bare["test"])
    rich = rebuild(run, hint_models=("implicitmf", "itemknn"), genres=True, popularity=True)
    listwise = next(e for e in rich["train"] if e["meta"]["task"] == "listwise")
    assert set(listwise["meta"]["hint"]) == {"implicitmf", "itemknn"}
    text = listwise["messages"][1]["content"]
    assert "Hint: ImplicitMF ranks" in text and "Hint: ItemKNN ranks" in text
    assert any(word in text for word in ("very popular", "niche")) and "Drama" in text


def test_same_seed_same_bytes(run, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(run, again)
    shutil.rmtree(again / "instructions")
    sample_stage(again)
    instructions_stage(again)
    for name in rundir.INSTRUCTION_FILES:
        assert (again / "instructions" / name).read_bytes() == (run / "instructions" / name).read_bytes()
    pd.testing.assert_frame_equal(
        rundir.read_table(again / "sampled_users.parquet"), rundir.read_table(run / "sampled_users.parquet")
    )


def test_files_read_with_arrow_as_datasets_does(run):
    import pyarrow.json

    for name in rundir.INSTRUCTION_FILES:
        table = pyarrow.json.read_json(run / "instructions" / name)
        assert table.num_rows > 0 and {"messages", "meta"} <= set(table.column_names)
