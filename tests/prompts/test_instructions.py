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
from recranker_core.baselines.candidates import embeddings
from recranker_core.baselines.fitting import fit
from recranker_core.config import load_profile
from recranker_core.data.split import Split
from recranker_core.instructions.build import build_instructions
from recranker_core.instructions.holdout import eligible_users, held_out, moment_rows
from recranker_core.instructions.lists import around, list_shape, matched_pairs
from recranker_core.prompts import templates
from recranker_core.prompts.markers import MARKER, entities
from recranker_core.prompts.templates import LABELS, NO, YES
from recranker_core.stages import REGISTRY


@pytest.fixture(scope="module")
def run(mini_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("instr") / "run"
    shutil.copytree(mini_run, out)
    REGISTRY["sample"].run(out)
    REGISTRY["instructions"].run(out)
    return out


@pytest.fixture(scope="module")
def examples(run):
    return {
        name.split(".")[0]: rundir.read_jsonl(run / "instructions" / name)
        for name in rundir.INSTRUCTION_FILES
    }


@pytest.fixture(scope="module")
def split(run):
    return rundir.read_table(run / "split.parquet")


def rebuild(run, **prompt_changes) -> dict[str, list]:
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
    return {"train": result.train, "valid": result.valid, "test": result.test, "vectors": result.vectors}


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
    assert summary["negatives"] == "random" and summary["train_examples"]["listwise"] == len(draws)


def test_every_answer_agrees_with_its_prompt(examples, split):
    ratings = split.set_index(["user_id", "item_id"])["rating"]
    for example in examples["train"] + examples["valid"]:
        meta, prompt, answer = (
            example["meta"],
            example["messages"][1]["content"],
            example["messages"][2]["content"],
        )
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


def before_target(split, meta, feedback="like"):
    """The user's training rows of ``feedback`` before the example's target, held-out items left out."""
    rows = split[(split["user_id"] == meta["user_id"]) & (split["role"] == "train")]
    target_seq = rows.loc[rows["item_id"] == meta["target"], "seq"].item()
    held = set(rows.sort_values("seq").groupby("feedback").tail(1)["item_id"])
    return rows[(rows["seq"] < target_seq) & ~rows["item_id"].isin(held) & (rows["feedback"] == feedback)]


def test_history_is_a_random_draw_of_earlier_likes_with_ratings_in_pointwise_prompts(examples, split, run):
    settings = load_profile("smoke").prompts
    titles = rundir.read_table(run / "items.parquet").set_index("item_id")["title"]
    ratings = split.set_index(["user_id", "item_id"])["rating"]
    not_recent = 0
    for example in examples["train"]:
        meta = example["meta"]
        if meta["task"] != "pointwise" or meta["variant"] != "held-out like":
            continue
        before = before_target(split, meta)
        liked = meta["history"]["liked"]
        assert len(liked) == min(len(before), settings.max_liked) and set(liked) <= set(before["item_id"])
        recent = before.sort_values("seq", ascending=False)["item_id"].head(settings.max_liked).tolist()
        not_recent += set(liked) != set(recent)
        text = example["messages"][1]["content"]
        assert all(f'"{titles[i]}": {ratings[(meta["user_id"], i)]:g}' in text for i in liked)
    assert not_recent > 20  # users with more likes than max_liked show a random subset, not the latest
    recent = rebuild(run, history="recent")["train"]
    for example in recent[:300]:
        meta = example["meta"]
        if meta["task"] == "pointwise" and meta["variant"] == "held-out like":
            latest = (
                before_target(split, meta)
                .sort_values("seq", ascending=False)["item_id"]
                .head(settings.max_liked)
            )
            assert meta["history"]["liked"] == [latest.tolist()[i] for i in meta["permutation"]]


def test_fewer_dislikes_than_the_minimum_show_as_none(examples):
    settings = load_profile("smoke").prompts
    for example in examples["train"] + examples["test"]:
        disliked = example["meta"]["history"]["disliked"]
        assert disliked == [] or settings.min_disliked <= len(disliked) <= settings.max_disliked
        if not disliked:
            assert "The user disliked these movies: None." in example["messages"][1]["content"]


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
    config = load_profile("smoke")
    for positives, kinds in (("one", {"like", "dislike"}), ("paper", {"like", "dislike", "positive"})):
        changed = dataclasses.replace(
            config, prompts=dataclasses.replace(config.prompts, listwise_positives=positives)
        )
        held = held_out(table, eligible_users(table)["user_id"], changed)
        rows = moment_rows(table, held)
        assert set(rows["role"]) == {"train"}
        pairs = set(zip(rows["user_id"], rows["item_id"]))
        assert not pairs & set(zip(held["user_id"], held["item_id"]))
        assert set(held["kind"]) == kinds


def test_test_prompts_share_one_history_and_do_not_reveal_the_test_item(examples, split):
    test_items = targets(split, "test")
    settings = load_profile("smoke").prompts
    by_user: dict = {}
    for example in examples["test"]:
        by_user.setdefault(example["meta"]["user_id"], []).append(example)
    assert by_user
    shuffled = 0
    for user, prompts in by_user.items():
        pointwise = [e for e in prompts if e["meta"]["task"] == "pointwise"]
        assert len(pointwise) == 10 and test_items[user] in {e["meta"]["items"][0] for e in pointwise}
        # One seeded history shuffle per user, shown by every prompt: they share a cacheable prefix.
        assert len({json.dumps(e["meta"]["history"]) for e in prompts}) == 1
        shuffled += pointwise[0]["meta"]["permutation"] != sorted(pointwise[0]["meta"]["permutation"])
        pairs = [e for e in prompts if e["meta"]["task"] == "pairwise"]
        assert len(pairs) == 2 * settings.test_pairs and Counter(
            e["meta"]["permutation"][0] for e in pairs
        ) == {0: 5, 1: 5}
        # A perfect matching: five disjoint pairs that together hold every candidate once.
        asked = [e["meta"]["items"] for e in pairs if e["meta"]["permutation"] == [0, 1]]
        assert sorted(i for pair in asked for i in pair) == sorted(e["meta"]["items"][0] for e in pointwise)
        lists = [e for e in prompts if e["meta"]["task"] == "listwise"]
        assert len(lists) == settings.listwise_copies
        assert lists[0]["meta"]["permutation"] == list(range(10))  # the paper's test prompt, in base order
        assert lists[0]["meta"]["items"] == [e["meta"]["items"][0] for e in pointwise]
    assert shuffled > len(by_user) / 2


def test_hard_negatives_put_the_like_where_test_lists_have_it(run, split):
    train = list_shape(rebuild(run, negatives="candidates")["train"])
    # Test time: the primary model's lists that hold the user's item (ImplicitMF is also the hint model),
    # where the hint prefers the item over each candidate ranked below it.
    candidates = rundir.read_table(run / "candidates.parquet")
    truth = split.loc[split["role"].isin(["valid", "test"]), ["role", "user_id", "item_id"]].rename(
        columns={"role": "target"}
    )
    held = candidates[candidates["model"] == "implicitmf"].merge(truth, on=["target", "user_id", "item_id"])
    agreement = ((10 - held["rank"]) / 9).mean()
    # Before the fix, 89% of training likes sat at the last base position and hints contradicted 94% of
    # answers.
    assert train["last_position_share"] <= 0.3
    assert abs(train["hint_agreement"] - agreement) < 0.15


def test_a_like_outside_the_top_ten_gets_a_window_of_its_ranking():
    ranked = np.arange(100, 200)
    rng = np.random.default_rng(0)
    assert around(ranked, 104, rng, np.array([0])) == list(range(100, 110))  # inside the top ten: the top ten
    positions = np.array([0] * 60 + [1] * 30 + [2] * 10)
    windows = [around(ranked, 150, rng, positions) for _ in range(2000)]
    assert all(w == list(range(w[0], w[0] + 10)) and 150 in w for w in windows)  # ten consecutive items
    shares = np.bincount([w.index(150) for w in windows], minlength=10) / len(windows)
    assert shares[0] > shares[1] > shares[2] > shares[9] > 0  # drawn as often as observed, smoothed
    assert around(ranked, 999, rng, positions)[-1] == 999  # unscorable: after the ranking
    assert around(ranked[:4], 999, rng, positions) == [100, 101, 102, 103, 999]


def test_matched_pairs_cover_every_position_once_per_matching():
    rng = np.random.default_rng(1)
    pairs = matched_pairs(10, 5, rng)
    assert sorted(i for pair in pairs for i in pair) == list(range(10))
    more = matched_pairs(10, 15, rng)
    assert len(set(more)) == 15 and set(np.bincount([i for p in more for i in p])) == {3}
    assert len(matched_pairs(10, 99, rng)) == 45 and matched_pairs(1, 5, rng) == []


def test_paper_listwise_examples_hold_five_held_out_likes(run, split):
    ratings = split.set_index(["user_id", "item_id"])["rating"]
    train = rebuild(run, listwise_positives="paper")["train"]
    lists = [e for e in train if e["meta"]["task"] == "listwise"]
    assert lists
    for example in lists:
        meta = example["meta"]
        answer = [meta["items"][LABELS.index(label)] for label in meta["answer"].split()]
        stars = [ratings[(meta["user_id"], i)] for i in answer]
        assert stars[:3] == [5.0] * 3 and all(4.0 <= r < 5.0 for r in stars[3:]) and len(answer) == 5
        assert not set(answer) & set(meta["history"]["liked"])
        others = set(meta["items"]) - set(answer)
        assert len(others) == 5 and all((meta["user_id"], i) not in ratings.index for i in others)


def chi_square_p(positions: list[int]) -> float:
    return chisquare(np.bincount(positions, minlength=10)).pvalue


def test_listwise_shift_spreads_the_liked_item_over_all_positions(run, examples):
    shifted = [
        LABELS.index(e["meta"]["answer"].split()[0])
        for e in examples["train"]
        if e["meta"]["task"] == "listwise"
    ]
    assert len(shifted) >= 200 and len(set(shifted)) == 10
    assert chi_square_p(shifted) > 0.001
    # Unshifted, every list is shown in base order, so the like stays at its base position.
    unshifted = [e for e in rebuild(run, shift=False)["train"] if e["meta"]["task"] == "listwise"]
    assert all(e["meta"]["permutation"] == list(range(10)) for e in unshifted)


def test_random_negatives_are_unseen_items(run, split):
    rated = split.groupby("user_id")["item_id"].apply(set)
    train = rebuild(run, negatives="random")["train"]
    for example in train:
        meta = example["meta"]
        assert meta["negatives"] == "random"
        if meta["task"] == "listwise" or meta["variant"] == "vs negative":
            others = [i for i in meta["items"] if i != meta["target"]]
            assert not set(others) & rated[meta["user_id"]]


def test_all_evaluated_users_are_reranked_on_request(run, examples, split):
    """ "hits" (the default) prompts the test users whose test item is among their candidates; "all" every
    test user, for metrics of whole lists."""
    test_item = targets(split, "test")

    def listed(prompts) -> dict:
        return {p["meta"]["user_id"]: p["meta"]["items"] for p in prompts if p["meta"]["task"] == "listwise"}

    hits, every = listed(examples["test"]), listed(rebuild(run, rerank_users="all")["test"])
    assert all(test_item[user] in items for user, items in hits.items())
    assert set(hits) < set(every) == set(test_item.index)


def test_hints_can_be_switched_off_and_extra_models_shown_side_by_side(run):
    bare = rebuild(run, pointwise_hint=False, pairwise_hint=False, listwise_hint=False)
    assert not any("Hint:" in e["messages"][1]["content"] for e in bare["train"] + bare["test"])
    rich = rebuild(run, hint_models=("implicitmf", "itemknn"), genres=True, popularity=True)
    listwise = next(e for e in rich["train"] if e["meta"]["task"] == "listwise")
    assert set(listwise["meta"]["hint"]) == {"implicitmf", "itemknn"}
    text = listwise["messages"][1]["content"]
    assert "Hint: ImplicitMF ranks" in text and "Hint: ItemKNN ranks" in text
    assert any(word in text for word in ("very popular", "niche")) and "Drama" in text


def test_collaborative_tokens_mark_the_user_and_each_asked_item(run, examples):
    marked = rebuild(run, collab_tokens=True)
    titles = rundir.read_table(run / "items.parquet").set_index("item_id")["title"]
    user_line = f"\n{templates.USER_VECTOR} {MARKER}"
    for name in ("train", "valid", "test"):
        assert len(marked[name]) == len(examples[name])
        for plain, example in zip(examples[name], marked[name]):
            text, meta = example["messages"][1]["content"], example["meta"]
            assert meta == plain["meta"] and text.count(MARKER) == len(entities(meta))
            history, question = text.split("\n\n", 1)
            assert history.endswith(user_line)
            at = [question.index(f'"{titles[item]}" {MARKER}') for item in meta["items"]]
            assert at == sorted(at)  # in the order entities() names them
            assert text.replace(user_line, "").replace(f" {MARKER}", "") == plain["messages"][1]["content"]


def test_training_prompts_carry_vectors_learnt_without_their_held_out_items(run, split):
    vectors = rebuild(run, collab_tokens=True)["vectors"]
    assert set(zip(vectors["phase"], vectors["kind"])) == {
        (phase, kind) for phase in ("train", "full") for kind in ("user", "item")
    }
    table, config = Split(split, 0), load_profile("smoke")
    held = held_out(table, eligible_users(table)["user_id"], config)
    for phase, rows in (("train", moment_rows(table, held)), ("full", table.train_rated)):
        learnt = embeddings(fit("implicitmf", rows, config.baselines, config.seed), "user")
        expected = np.stack(learnt["embedding"].to_numpy())
        stored = vectors[(vectors["phase"] == phase) & (vectors["kind"] == "user")]
        assert stored["id"].tolist() == learnt["user_id"].astype(str).tolist()
        np.testing.assert_allclose(
            np.stack(stored["vector"].to_numpy()), expected / np.sqrt(np.mean(expected**2)), rtol=1e-4
        )


def test_same_seed_same_bytes(run, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(run, again)
    shutil.rmtree(again / "instructions")
    REGISTRY["sample"].run(again)
    REGISTRY["instructions"].run(again)
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


def test_the_official_profile_builds_the_papers_prompts(run):
    official = load_profile("official").prompts
    changes = {
        f.name: getattr(official, f.name)
        for f in dataclasses.fields(official)
        if f.name != "rerank_valid_users"
    }
    built = rebuild(run, **changes)
    draws = len(rundir.read_table(run / "sampled_users.parquet"))
    pairs = [e for e in built["train"] if e["meta"]["task"] == "pairwise"]
    assert len(pairs) == draws and {e["meta"]["variant"] for e in pairs} == {"vs negative"}
    lists = [e for e in built["train"] if e["meta"]["task"] == "listwise"]
    assert lists and all(e["meta"]["variant"] == "5 held-out likes" for e in lists)
    test_lists = [e for e in built["test"] if e["meta"]["task"] == "listwise"]
    assert {e["meta"]["variant"] for e in test_lists} == {"copy 0"}
    assert all(e["meta"]["permutation"] == list(range(10)) for e in test_lists)
