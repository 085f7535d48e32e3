"""The dashboard's pure functions: tables and charts from run documents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from studio import hybrid, jobs, promptview, sampling, users

from recranker_core.analysis import bias, charts, stories, tables

METRICS = {
    "test_users": 3,
    "ks": [3],
    "ci_level": 0.95,
    "bootstrap_samples": 100,
    "methods": {
        "hybrid": {
            "users": 3,
            "coverage": 0.5,
            "metrics": {"HR@3": {"value": 0.3, "ci_low": 0.1, "ci_high": 0.5}},
        },
        "base:ease": {
            "users": 3,
            "coverage": 0.5,
            "metrics": {"HR@3": {"value": 0.2, "ci_low": 0.05, "ci_high": 0.4}},
        },
    },
}


def test_methods_are_ordered_base_first():
    assert tables.metrics_long(METRICS)["method"].tolist() == ["base:ease", "hybrid"]


def test_wide_table_has_values_and_interval_text():
    table = tables.metrics_table(METRICS).set_index("method")
    assert table.loc["hybrid", "HR@3"] == 0.3
    assert table.loc["hybrid", "HR@3 CI"] == "0.100–0.500"
    assert table.loc["base:ease", "coverage"] == 0.5


def test_bars_carry_asymmetric_error_bars():
    figure = charts.metric_bars(tables.metrics_long(METRICS), ("HR@3",))
    (bar,) = figure.data
    assert list(bar.x) == ["base:ease", "hybrid"]
    assert list(bar.error_y.array) == pytest.approx([0.2, 0.2])
    assert list(bar.error_y.arrayminus) == pytest.approx([0.15, 0.2])


def test_stage_and_timing_tables_and_run_labels(tmp_path):
    from recranker_core.manifest import Manifest

    stages = {
        "data": {"status": "done", "seconds": 1.0},
        "baselines": {
            "status": "done",
            "seconds": 3.0,
            "models": {"ease": {"fit_seconds": 0.2, "candidate_seconds": 2.0}},
        },
    }
    manifest = Manifest(
        {
            "stages": stages,
            "profile": "quick",
            "dataset": {"name": "ml-100k"},
            "config": {"prompts": {"sequential": True}},
        },
        tmp_path,
    )
    assert tables.stage_table(manifest)["stage"].tolist() == ["data", "baselines"]
    assert tables.baseline_timing_table(manifest).to_dict("records") == [
        {"model": "ease", "fit_seconds": 0.2, "candidate_seconds": 2.0}
    ]
    assert tables.run_label("x", manifest) == "x · ml-100k · quick · sequential"
    broken = Manifest({"profile": "quick", "config": {"prompts": {"sequential": "yes"}}}, tmp_path)
    assert tables.run_label("y", broken) == "y · ? · quick"  # its own page names the problem
    assert tables.run_label("x", None) == "x (unreadable)"


# -- users ----------------------------------------------------------------------------------------

RANKINGS = pd.DataFrame(
    {
        "user_id": [1, 1, 1, 1, 1, 1, 2, 2, 2],
        "method": ["base:m"] * 3 + ["hybrid"] * 3 + ["base:m"] * 3,
        "item_id": [10, 11, 12, 12, 10, 11, 20, 21, 22],
        "rank": [1, 2, 3, 1, 2, 3, 1, 2, 3],
    }
)
TRUTH = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [12, 21, 99]})


def test_user_table_marks_hits_and_the_hybrids_moves():
    table = users.user_table(RANKINGS, TRUTH, "base:m", "hybrid").set_index("user_id")
    assert table.loc[1, "base_rank"] == 3 and table.loc[1, "judged_rank"] == 1 and table.loc[1, "change"] == 2
    assert table.loc[1, "llm"] and not table.loc[2, "llm"]
    assert np.isnan(table.loc[3, "base_rank"]) and "not in the base top-10" in table.loc[3, "label"]
    assert table.loc[1, "label"] == "user 1 · base #3 → hybrid #1"
    whole = table.reset_index()
    assert users.filter_users(whole, "The judged method moved the test item up")["user_id"].tolist() == [1]
    assert users.filter_users(whole, "Test item missed by the base model")["user_id"].tolist() == [3]
    assert users.filter_users(whole, "With LLM results")["user_id"].tolist() == [1]


def test_lineup_grid_shows_moves_against_the_base_and_marks_the_test_item():
    long = users.lineup(RANKINGS, 1, ["base:m", "hybrid"], "base:m", test_item=12)
    grid, mask = users.lineup_grid(long, {10: "Ten", 11: "Eleven", 12: "Twelve"})
    assert grid["base:m"].tolist() == ["Ten", "Eleven", "Twelve"]
    assert grid["hybrid"].tolist() == ["Twelve  ▲2", "Ten  ▼1", "Eleven  ▼1"]
    assert mask["hybrid"].tolist() == [True, False, False] and mask["base:m"].tolist() == [False, False, True]
    styles = users.highlighted(grid, mask)._compute().ctx
    assert (0, 1) in styles and (0, 0) not in styles  # row 0 of the hybrid column is highlighted


def test_history_is_everything_before_the_test_item_newest_first():
    split = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2],
            "item_id": [10, 11, 12, 10],
            "rating": [5.0, 1.0, 4.0, 3.0],
            "timestamp": [100, 200, 300, 100],
            "feedback": ["like", "dislike", "like", "neutral"],
            "seq": [0, 1, 2, 0],
            "role": ["train", "valid", "test", "train"],
        }
    )
    items = pd.DataFrame({"item_id": [10, 11], "title": ["Ten", "Eleven"], "genres": [["Drama"], []]})
    rows = stories.history(split, items, 1)
    assert rows["title"].tolist() == ["Eleven", "Ten"] and rows["feedback"].tolist() == ["dislike", "like"]
    assert rows["genres"].tolist() == ["", "Drama"]


# -- prompts and position bias -------------------------------------------------------------------


def prompt(task, permutation, shifted, lines):
    return {
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "\n".join(lines)}],
        "meta": {"task": task, "permutation": permutation, "shifted": shifted, "items": [1, 2]},
    }


def test_segments_mark_hints_and_only_a_real_shift():
    lines = [
        "The user liked these movies: A",
        "The user disliked these movies: B",
        "",
        "Candidate movies:",
        "(A) x",
        "(B) y",
        "Rank them.",
        "Hint: EASE ranks (B) (A) highest.",
    ]
    kinds = [kind for kind, _ in promptview.segments(prompt("listwise", [1, 0], "candidates", lines))]
    assert kinds == [
        "system",
        "history",
        "history",
        "question",
        "question",
        "shifted",
        "shifted",
        "question",
        "hint",
    ]
    unshifted = promptview.segments(prompt("listwise", [0, 1], "candidates", lines))
    assert "shifted" not in [kind for kind, _ in unshifted]
    html = promptview.to_html([("hint", "<b>")])
    assert "&lt;b&gt;" in html and "<b>" not in html


def test_collaborative_tokens_show_as_chips_naming_their_user_and_item():
    lines = [
        'The user liked these movies: "A"',
        "The user disliked these movies: None.",
        "The user's preference vector: <|cf|>",
        "",
        'Does the user prefer the movie "X" <|cf|> to the movie "Y" <|cf|>? Answer Yes. or No.',
    ]
    marked = prompt("pairwise", [1, 0], "pair", lines)
    marked["meta"].update(items=[7, 3], user_id=42)
    assert promptview.has_markers(marked) and not promptview.has_markers(prompt("listwise", [0], "x", []))
    parts = promptview.segments(marked)
    assert [kind for kind, _ in parts][1:4] == ["history", "history", "history"]
    html = promptview.to_html(parts, marked["meta"])
    assert "&lt;|cf|&gt;" not in html
    chips = [html.index(f"⟨{name}⟩") for name in ("user 42", "item 7", "item 3")]
    assert chips == sorted(chips)  # each marker names its own user or item, in text order
    assert "collaborative token" in promptview.legend_html(True)
    assert "collaborative token" not in promptview.legend_html()


def outputs_frame(rows):
    return pd.DataFrame(rows, columns=["split", "family", "user_id", "task", "variant", "items", "probs"])


def test_pair_orders_read_both_orders_of_a_pair():
    out = outputs_frame(
        [
            ("test", "tuned", 1, "pairwise", "pair 1-2 ab", [10, 20], [0.8, 0.2]),  # prefers 10 asked first
            ("test", "tuned", 1, "pairwise", "pair 1-2 ba", [20, 10], [0.7, 0.3]),  # prefers 20 asked first
            ("test", "tuned", 1, "pairwise", "pair 1-3 ab", [10, 30], [0.9, 0.1]),
            ("test", "tuned", 1, "pairwise", "pair 1-3 ba", [30, 10], [0.2, 0.8]),  # 10 both times
        ]
    )
    pairs = bias.pair_orders(out).set_index("pair")
    assert pairs.loc["1-2", "p_ab"] == pytest.approx(0.8) and pairs.loc["1-2", "p_ba"] == pytest.approx(0.3)
    assert not pairs.loc["1-2", "agree"] and pairs.loc["1-3", "agree"]
    assert pairs.loc["1-2", "shown_first"] == pytest.approx(0.75)
    summary = bias.consistency(pairs.reset_index())
    assert summary.loc[0, "agreement"] == 0.5 and summary.loc[0, "pairs"] == 2


def test_listwise_accuracy_by_position_and_top_picks():
    out = outputs_frame(
        [
            ("test", "tuned", 1, "listwise", "copy 0", [5, 6, 7], [0.1, 0.2, 0.7]),  # target 7 at 3, picked
            ("test", "tuned", 1, "listwise", "copy 1", [7, 5, 6], [0.2, 0.1, 0.7]),  # target at 1, missed
            ("test", "tuned", 2, "listwise", "copy 0", [8, 9, 4], [0.5, 0.3, 0.2]),  # target absent
        ]
    )
    truth = pd.DataFrame({"split": ["test", "test"], "user_id": [1, 2], "item_id": [7, 1]})
    per_prompt = bias.listwise_positions(out, truth)
    assert per_prompt["position"].tolist() == [3, 1] and per_prompt["top1"].tolist() == [1, 0]
    table = bias.accuracy_by_position(per_prompt).set_index("position")
    assert (
        table.loc[3, "top1"] == 1.0
        and table.loc[1, "top1"] == 0.0
        and table.loc[1, "chance"] == pytest.approx(1 / 3)
    )
    picks = bias.top_pick_positions(out).set_index("position")
    assert picks.loc[3, "share"] == pytest.approx(2 / 3) and picks.loc[1, "share"] == pytest.approx(1 / 3)


def test_copies_effect_compares_one_copy_with_the_average():
    out = outputs_frame(
        [
            ("test", "tuned", 1, "listwise", "copy 0", [7, 5], [0.9, 0.1]),
            ("test", "tuned", 1, "listwise", "copy 1", [5, 7], [0.8, 0.2]),
        ]
    )
    base = pd.DataFrame({"split": "test", "user_id": 1, "item_id": [5, 7], "base_rank": [0, 1]})
    truth = pd.DataFrame({"split": ["test"], "user_id": [1], "item_id": [7]})
    effect = bias.copies_effect(out, base, truth, (1, 5)).set_index("copies")
    assert effect.loc["copy 0 alone", "HR@1"] == 1.0 and effect.loc["copy 1 alone", "HR@1"] == 0.0
    assert effect.loc["first 2 averaged", "HR@1"] == 1.0  # mean 0.55 for item 7 against 0.45


# -- sampling, hybrid, tables, jobs ----------------------------------------------------------------


def test_sampling_views():
    users_ = pd.DataFrame(
        {
            "user_id": [1, 2, 3],
            "train_likes": [2, 5, 9],
            "cluster": [0, 1, 1],
            "pool_count": [0, 2, 3],
            "times_sampled": [0, 1, 2],
        }
    )
    draws = pd.DataFrame({"draw": [0, 1, 2], "user_id": [3, 3, 2]})
    activity = sampling.activity(users_, draws)
    assert activity.groupby("group")["train_likes"].apply(list).to_dict() == {
        sampling.ALL: [2, 5, 9],
        sampling.SAMPLED: [9, 9, 5],
    }
    duplicates = sampling.duplicates(users_)
    assert duplicates[duplicates["stage"] == sampling.BEFORE].set_index("times")["users"].to_dict() == {
        0: 1,
        2: 1,
        3: 1,
    }
    embeddings = pd.DataFrame(
        {"user_id": [1, 2, 3], "embedding": [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 1.0]]}
    )
    points = sampling.projection(embeddings, users_)
    assert points["sampled"].tolist() == [False, True, True] and points[["x", "y"]].notna().all().all()
    assert charts.projection_scatter(points).data[-1].name == "never sampled"  # user 1 was never drawn


def test_weights_from_the_paper_triple():
    assert hybrid.Weights.of([0.5, 0.05, 0.025]) == hybrid.Weights(1.0, 0.5, 0.05, 0.025)


def test_deltas_mark_intervals_that_exclude_zero_and_run_comparison():
    delta = {"value": 0.1, "ci_low": 0.02, "ci_high": 0.2, "p_value": 0.01}
    metrics = {
        "methods": {
            "base:ease": METRICS["methods"]["base:ease"],
            "hybrid": {**METRICS["methods"]["hybrid"], "delta": {"HR@3": delta}},
            "pointwise": {**METRICS["methods"]["hybrid"], "delta": {"HR@3": {**delta, "ci_low": -0.01}}},
            "pairwise": {
                **METRICS["methods"]["hybrid"],
                "delta": {"HR@3": {**delta, "value": -0.1, "ci_low": -0.2, "ci_high": -0.02}},
            },
        }
    }
    table = tables.deltas(metrics).set_index("method")
    assert table["verdict"].to_dict() == {"pointwise": "", "pairwise": "worse", "hybrid": "better"}
    bars = charts.delta_bars(tables.deltas(metrics), "HR@3").data[0]
    assert list(bars.y) == ["pointwise", "pairwise", "hybrid"]
    assert list(bars.marker.color) == [charts.method_colour(m) for m in bars.y]  # a method's own colour
    assert list(bars.marker.opacity) == [charts.UNDECIDED_OPACITY, 1.0, 1.0]  # faint: interval holds 0
    other = {**METRICS, "methods": {m: e for m, e in METRICS["methods"].items() if m != "hybrid"}}
    long = tables.compare_runs({"a": METRICS, "b": METRICS, "c": other})
    wide = tables.compare_wide(long, "HR@3", ("a", "b", "c"))
    assert wide["method"].tolist() == ["base:ease"]  # the methods every run has
    assert wide["b − a"].tolist() == [0.0] and wide["c − a"].tolist() == [0.0]


def test_settings_diff_lists_only_what_differs():
    from recranker_core.config import load_profile

    smoke, quick = load_profile("smoke").to_dict(), load_profile("quick").to_dict()
    diff = tables.settings_diff({"s": smoke, "s2": smoke, "q": quick}).set_index("setting")
    assert "llm.model" in diff.index and "seed" not in diff.index  # both profiles use seed 42
    assert (
        diff.loc["llm.model", "q"] == "embedded" and diff.loc["llm.model", "s"] == diff.loc["llm.model", "s2"]
    )
    assert tables.settings_diff({"s": smoke, "s2": smoke}).empty


@pytest.mark.slow  # a real `run` in a subprocess
def test_a_background_run_reports_its_progress(tmp_path):
    from tests.conftest import MINI

    job = jobs.start(tmp_path, "smoke", dataset=str(MINI), until="sample")
    assert jobs.current() is job and jobs.start(tmp_path, "quick") is job  # one at a time
    job.process.wait(timeout=300)
    state = job.state()
    assert state.finished and state.returncode == 0 and state.fraction == 1.0
    assert (tmp_path / "ml-100k-mini-smoke" / "metrics.json").is_file()
    jobs.forget()
    assert jobs.current() is None


def test_projection_keeps_the_direction_of_largest_spread():
    rng = np.random.default_rng(0)
    spread = np.column_stack([rng.normal(0, 10, 50), rng.normal(0, 1, 50), rng.normal(0, 0.1, 50)])
    embeddings = pd.DataFrame({"user_id": range(50), "embedding": list(spread)})
    users_ = pd.DataFrame({"user_id": range(50), "cluster": 0, "times_sampled": 1})
    points = sampling.projection(embeddings, users_)
    assert abs(np.corrcoef(points["x"], spread[:, 0])[0, 1]) > 0.99
    assert abs(np.corrcoef(points["y"], spread[:, 1])[0, 1]) > 0.9


def test_same_rankings_needs_every_item_at_the_same_rank():
    from studio import live

    stored = pd.DataFrame({"user_id": [1, 1], "method": ["hybrid"] * 2, "item_id": [10, 11], "rank": [1, 2]})
    assert live.same_rankings(stored.iloc[::-1], stored)
    assert not live.same_rankings(stored.assign(rank=[2, 1]), stored)
    assert not live.same_rankings(stored.iloc[:1], stored)


def test_a_method_has_one_colour_in_every_chart_and_run():
    from recranker_core.analysis import charts

    assert (
        charts.method_colour("fusion") == charts.method_colour("fusion") != charts.method_colour("listwise")
    )
    assert charts.method_colour("base:ease") == charts.method_colour("base:implicitmf") == charts.BASE_COLOUR
    # zero-shot and +prior rows share their task's hue, lighter
    assert charts.method_colour("zeroshot:pointwise") == charts.LIGHTER[charts.method_colour("pointwise")]
    assert charts.method_colour("pairwise+prior") == charts.LIGHTER[charts.method_colour("pairwise")]
    table = pd.DataFrame(
        {
            "group": ["q1", "q2"] * 2,
            "order": [0, 1] * 2,
            "users": [30, 40] * 2,
            "method": ["listwise", "listwise", "fusion", "fusion"],
            "metric": "NDCG@3",
            "delta": [0.01, -0.02, 0.03, 0.0],
            "delta_low": -0.05,
            "delta_high": 0.05,
        }
    )
    figure = charts.slice_bars(table, "NDCG@3", ["fusion", "listwise", "hybrid"], judged="listwise")
    # One panel per method asked for and present, in that order, each in its method's colour.
    assert [(t.xaxis, t.marker.color) for t in figure.data] == [
        ("x", charts.method_colour("fusion")),
        ("x2", charts.method_colour("listwise")),
    ]
    assert list(figure.data[0].y) == ["q1 (30 users)", "q2 (40 users)"]
    assert [a.text for a in figure.layout.annotations] == ["fusion", "<b>listwise (judged)</b>"]
