"""What-if: a user's prompts read back as a scenario, written again with edits, checked, and attributed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from recranker_core import rundir
from recranker_core.analysis import hintmodels, whatif
from recranker_core.config import PromptConfig
from recranker_core.errors import InputError
from recranker_core.instructions.phase import labels
from recranker_core.manifest import Manifest
from recranker_core.prompts.builder import Catalogue, History, PromptBuilder

CONFIG = PromptConfig(rating_hint_model="biasedmf", hint_models=("implicitmf",))
ITEMS = pd.DataFrame(
    {"item_id": range(1, 31), "title": [f"Film {i} (1990)" for i in range(1, 31)], "genres": [[]] * 30}
)
CATALOGUE = Catalogue.build(ITEMS, pd.DataFrame({"item_id": [], "feedback": []}), CONFIG)
CANDIDATES = [11, 12, 13, 14, 15, 16]
RATINGS = {1: 5.0, 2: 4.0, 3: 4.0, 4: 2.0, 5: 1.0, 6: 2.0, 20: 3.0}


def fake_scores(model: str, items: list) -> np.ndarray:
    """implicitmf prefers low ids, bpr high ids; biasedmf predicts ratings."""
    sign = {"implicitmf": -1.0, "bpr": 1.0}.get(model)
    return np.array([sign * i / 10 if sign else 3 + (i % 3) / 2 for i in items])


def writer(scores=fake_scores) -> whatif.Writer:
    return whatif.Writer(CONFIG, CATALOGUE, (1, 5), RATINGS, scores)


def stored_prompts() -> list[dict]:
    """A user's test prompts as the instructions stage writes them (history shuffled once, pairs asked in
    both orders, listwise in base order and one shuffle)."""
    builder = PromptBuilder(CONFIG, CATALOGUE, (1, 5), labels())
    history = History((1, 2, 3), (4, 5, 6), RATINGS)
    head = {"split": "test", "user_id": 7, "draw": None}
    perm = [2, 0, 1]
    out = [
        builder.pointwise(
            head | {"variant": f"candidate {k + 1}"},
            history,
            item,
            None,
            rating_hint=float(fake_scores("biasedmf", [item])[0]),
            answer=None,
            perm=perm,
        )
        for k, item in enumerate(CANDIDATES)
    ]
    shown = history.reordered(perm)
    for a, b in ((0, 3), (1, 2), (4, 5)):
        pair = (CANDIDATES[a], CANDIDATES[b])
        for swap in (False, True):
            variant = f"pair {a + 1}-{b + 1} {'ba' if swap else 'ab'}"
            scores = {"implicitmf": tuple(fake_scores("implicitmf", list(pair)))}
            out.append(builder.pairwise(head | {"variant": variant}, shown, pair, swap, scores=scores))
    for copy, order in enumerate(([0, 1, 2, 3, 4, 5], [3, 5, 0, 1, 4, 2])):
        scores = {"implicitmf": fake_scores("implicitmf", CANDIDATES)}
        out.append(
            builder.listwise(head | {"variant": f"copy {copy}"}, shown, CANDIDATES, order, scores=scores)
        )
    return out


def text(prompt: dict) -> str:
    return prompt["messages"][1]["content"]


def same(a: dict, b: dict) -> bool:
    """The same text, items and hints (the history's shuffle is not recorded again: it is the shown order)."""
    keys = ("items", "hint", "history", "variant")
    return a["messages"] == b["messages"] and all(a["meta"][k] == b["meta"][k] for k in keys)


def test_the_stored_scenario_writes_the_stored_prompts_again():
    prompts = stored_prompts()
    scenario = whatif.stored(prompts)
    assert scenario == whatif.Scenario(
        liked=(3, 1, 2),
        disliked=(4, 5, 6),
        candidates=tuple(CANDIDATES),
        rating_hint="biasedmf",
        pair_hints=("implicitmf",),
        list_hints=("implicitmf",),
    )
    rewritten = whatif.rewrite(prompts, scenario, writer())
    assert all(same(a, b) for a, b in zip(prompts, rewritten, strict=True))
    listwise_only = [p for p in prompts if p["meta"]["task"] == "listwise"]
    assert whatif.stored(listwise_only).candidates == tuple(CANDIDATES)  # read back through the permutation


def test_history_edits_reach_every_prompt_with_the_users_ratings():
    prompts = stored_prompts()
    scenario = dataclasses.replace(whatif.stored(prompts), liked=(3, 1, 20, 25), disliked=(4, 26))
    rewritten = whatif.rewrite(prompts, scenario, writer())
    assert all('"Film 2 (1990)"' not in text(p) for p in rewritten)
    assert text(rewritten[0]).startswith(
        'The user liked these movies: "Film 3 (1990)": 4, "Film 1 (1990)": 5, "Film 20 (1990)": 3, '
        '"Film 25 (1990)": 5\nThe user disliked these movies: "Film 4 (1990)": 2, "Film 26 (1990)": 1\n'
    )  # item 20 shows the user's own rating, unrated ones the ends of the scale
    assert '"Film 25 (1990)", "Film 26 (1990)"' not in text(rewritten[-1])
    assert '"Film 1 (1990)", "Film 20 (1990)", "Film 25 (1990)"\n' in text(rewritten[-1])
    assert [p["meta"]["history"] for p in rewritten[:1]] == [{"liked": [3, 1, 20, 25], "disliked": [4, 26]}]


def test_replaced_and_reordered_candidates_move_through_every_task_with_fresh_hints():
    prompts = stored_prompts()
    scenario = dataclasses.replace(whatif.stored(prompts), candidates=(12, 11, 29, 14, 15, 16))
    rewritten = {p["meta"]["variant"]: p for p in whatif.rewrite(prompts, scenario, writer())}
    assert rewritten["candidate 1"]["meta"]["items"] == [12]
    assert rewritten["candidate 3"]["meta"]["items"] == [29]
    assert 'Rate the movie "Film 29 (1990)"' in text(rewritten["candidate 3"])
    assert "Hint: BiasedMF predicts 4.0." in text(rewritten["candidate 3"])  # 3 + (29 % 3) / 2
    assert rewritten["pair 2-3 ab"]["meta"]["items"] == [11, 29]
    assert rewritten["pair 2-3 ba"]["meta"]["items"] == [29, 11]
    assert rewritten["pair 2-3 ab"]["meta"]["hint"] == {"implicitmf": [-1.1, -2.9]}
    assert rewritten["copy 0"]["meta"]["items"] == [12, 11, 29, 14, 15, 16]
    # implicitmf prefers low ids: 11 (B), 12 (A), 14 (D), 15 (E), 16 (F)
    assert "Hint: ImplicitMF ranks (B) (A) (D) (E) (F) highest." in text(rewritten["copy 0"])
    assert rewritten["copy 1"]["meta"]["items"] == [14, 16, 12, 11, 15, 29]


def test_hints_switch_off_and_change_model():
    prompts = stored_prompts()
    scenario = dataclasses.replace(
        whatif.stored(prompts), rating_hint="", pair_hints=("bpr", "implicitmf"), list_hints=()
    )
    rewritten = {p["meta"]["variant"]: p for p in whatif.rewrite(prompts, scenario, writer())}
    assert "Hint" not in text(rewritten["candidate 1"]) and rewritten["candidate 1"]["meta"]["hint"] == {}
    pair = text(rewritten["pair 1-4 ab"])  # items 11 and 14
    assert pair.endswith("Hint: BPR-MF prefers the second.\nHint: ImplicitMF prefers the first.")
    assert "Hint" not in text(rewritten["copy 0"])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"liked": ()}, "keep at least one liked item"),
        ({"liked": (3, 3)}, "listed twice in the history: Film 3"),
        ({"candidates": (11, 11, 13, 14, 15, 16)}, "listed twice in the candidates: Film 11"),
        ({"disliked": (11,)}, "both in the history and a candidate: Film 11"),
        ({"liked": (3, 99)}, r"not in the catalogue \(history\): 99"),
        ({"pair_hints": ("sasrec",)}, "not a model of this run: sasrec"),
        ({"rating_hint": "implicitmf"}, "implicitmf does not predict ratings"),
    ],
)
def test_edits_that_cannot_be_scored_say_why(edit, message):
    scenario = dataclasses.replace(whatif.stored(stored_prompts()), **edit)
    models = whatif.hint_models(["implicitmf", "bpr", "biasedmf"])
    with pytest.raises(InputError, match=message):
        whatif.check(scenario, set(ITEMS["item_id"]), models, name=lambda i: f"Film {i}")


def test_attribution_leaves_each_history_item_and_the_hints_out_once():
    scenario = whatif.stored(stored_prompts())
    edits, parts = whatif.without_each(scenario)
    kinds = ["liked"] * 3 + ["disliked"] * 3 + ["hint"]
    assert parts.values.tolist() == [list(row) for row in zip([3, 1, 2, 4, 5, 6, None], kinds)]
    assert edits[1].liked == (3, 2) and edits[3].disliked == (5, 6)
    assert (edits[-1].rating_hint, edits[-1].pair_hints, edits[-1].list_hints) == ("", (), ())
    table = whatif.attribution([3.0, 2.5, 3.5, 3.0, 2.0, 3.0, 3.0, 2.0], parts)
    assert table["influence"].tolist() == [0.5, -0.5, 0.0, 1.0, 0.0, 0.0, 1.0]


def test_hint_scores_come_from_the_prompts_unless_missing_or_tied():
    known = whatif.known_scores(stored_prompts())
    assert known[("biasedmf", 13)] == 3.5 and known[("implicitmf", 14)] == -1.4
    asked = []

    def exact(model, items):
        asked.append((model, list(items)))
        return fake_scores(model, items) + 0.001

    lookup = hintmodels.HintScores(known | {("implicitmf", 16): -1.5}, exact)  # 15 and 16 tie when rounded
    assert lookup("implicitmf", [11, 12]).tolist() == [-1.1, -1.2] and not asked
    assert lookup("implicitmf", [14, 29]).round(4).tolist() == [-1.399, -2.899]
    assert lookup("implicitmf", [15, 16]).round(4).tolist() == [-1.499, -1.599]
    assert asked == [("implicitmf", [14, 29]), ("implicitmf", [15, 16])]
    lookup("implicitmf", [29, 16])
    assert len(asked) == 2  # remembered


def test_prompt_scores_are_what_the_rerank_stage_reads():
    assert whatif.prompt_score("pointwise", np.array([0, 0, 0, 1, 1]), (1, 5)) == 4.5
    assert whatif.prompt_score("pairwise", np.array([3, 1]), (1, 5)) == 0.75
    assert whatif.prompt_score("listwise", np.array([1, 3]), (1, 5), position=1) == 0.75


def test_a_runs_prompts_are_written_again_from_refitted_hint_models(smoke_run):
    """Every stored test prompt of the smoke run, rewritten with every hint scored by the models fitted again
    (nothing taken from the prompts), is the stored prompt."""
    manifest = Manifest.read(smoke_run)
    split, items = rundir.read_table(smoke_run / rundir.SPLIT), rundir.read_table(smoke_run / rundir.ITEMS)
    prompts = rundir.read_jsonl(smoke_run / rundir.INSTRUCTIONS / "test.jsonl")
    fitted = {name: hintmodels.refit(smoke_run, name) for name in ("implicitmf", "biasedmf")}
    for user in dict.fromkeys(p["meta"]["user_id"] for p in prompts):
        mine = [p for p in prompts if p["meta"]["user_id"] == user]
        lookup = hintmodels.HintScores(
            {}, lambda name, batch, user=user: hintmodels.scores(fitted[name], user, batch)
        )
        rewritten = whatif.rewrite(
            mine, whatif.stored(mine), whatif.writer(split, items, manifest.config.prompts, user, lookup)
        )
        assert all(same(a, b) for a, b in zip(mine, rewritten, strict=True)), user


def test_an_edit_is_summed_up_by_where_the_held_out_item_went():
    from recranker_core.analysis.whatif import moved

    stored = pd.DataFrame(
        {"method": ["listwise", "hybrid", "listwise"], "item_id": [7, 7, 8], "rank": [8, 5, 1]}
    )
    edited = pd.DataFrame({"method": ["listwise", "hybrid"], "item_id": [7, 7], "rank": [3, 5]})
    assert moved(stored, edited, 7, ["listwise", "hybrid", "fusion"]) == (
        "The held-out item moved from 8 to 3 in listwise; stayed at 5 in hybrid."
    )
    assert moved(stored, edited, 99, ["listwise"]) == ""
