"""Every analysis page with AppTest on a complete smoke run: renders, reacts, and names what is missing."""

from __future__ import annotations

import json
import re
import shutil
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest

from recranker_core import rundir
from recranker_core.analysis import whatif
from recranker_core.analysis.titles import distinct_titles
from tests.app.conftest import app, charts, lineup_table, metric, shown, texts

USERS, PROMPTS, HYBRID, BIAS, SAMPLING, LIVE, SLICES, WHATIF = (
    "views/users.py",
    "views/prompts.py",
    "views/hybrid.py",
    "views/bias.py",
    "views/sampling.py",
    "views/live.py",
    "views/slices.py",
    "views/whatif.py",
)

LLM_METHODS = [
    "control:hints",
    "pointwise",
    "pointwise+prior",
    "pairwise",
    "pairwise+prior",
    "listwise",
    "hybrid",
    "hybrid-tuned",
    "fusion",
]
"""The methods that rerank a smoke run's base candidates, zero-shot ones aside, in the dashboard's order:
the tuned LLM methods and the no-LLM control."""


def llm_users(run) -> list:
    rankings = pd.read_parquet(run / "rankings.parquet")
    return sorted(rankings.loc[rankings["method"] == "hybrid", "user_id"].unique())


@pytest.mark.parametrize("page", [USERS, PROMPTS, HYBRID, BIAS, SAMPLING, LIVE, SLICES, WHATIF])
def test_every_page_renders_without_errors(full, page):
    at = app(page)
    assert not at.exception and not at.error, page
    assert at.get("plotly_chart") or page in (LIVE, WHATIF)  # these draw after their buttons


def test_user_explorer_lines_up_the_methods_and_follows_the_user(full):
    users = llm_users(full)
    at = app(USERS)
    assert at.selectbox(key="users_filter").value == "With LLM results"
    assert at.selectbox(key="users_user").value == users[0]
    grid = lineup_table(at)  # the test item's cells are highlighted in the browser
    judged = json.loads((full / "metrics.json").read_text())["selected"]["method"]
    picked = at.multiselect(key="users_methods").value
    assert list(grid.columns) == ["base:implicitmf", *picked] and judged in picked and len(picked) <= 4
    assert len(grid) == 10
    at.multiselect(key="users_methods").set_value(["listwise", "fusion"]).run()
    assert list(lineup_table(at).columns) == ["base:implicitmf", "listwise", "fusion"]
    at.selectbox(key="users_user").select(users[1]).run()
    assert at.query_params["user"] == str(users[1])
    assert not lineup_table(at).equals(grid)  # another user, other candidates
    assert "users_bump" in charts(at)
    metrics = json.loads((full / "metrics.json").read_text())
    judged = metrics["selected"]["method"]
    labelled = [o for o in at.selectbox(key="users_user").options if "→" in o]
    assert labelled and all(f"→ {judged} #" in o for o in labelled)  # the judged method, as on every page
    story = [b.proto for b in at.get("download_button") if b.proto.label == "This user's story (HTML)"]
    assert len(story) == 1 and judged in shown(story[0].help)  # report.user_story is tested on its own


def test_user_filters_and_a_user_without_llm_results(full):
    at = app(USERS)
    at.selectbox(key="users_filter").select("Test item missed by the base model").run()
    options = at.selectbox(key="users_user").options
    assert options and all("not in the base top-10" in o for o in options)
    assert "No LLM results for this user" in texts(at)
    assert list(lineup_table(at).columns) == ["base:implicitmf"]


def test_user_deep_link(full):
    user = llm_users(full)[-1]
    at = app(USERS, user=str(user))
    assert at.selectbox(key="users_user").value == user


def test_an_exact_user_id_goes_to_that_user(full):
    first, last = llm_users(full)[0], llm_users(full)[-1]
    at = app(USERS, user=str(first))
    at.text_input(key="users_user_exact").input(f" {last} ").run()
    assert at.selectbox(key="users_user").value == last and not at.warning
    at.text_input(key="users_user_exact").input("no-such-user").run()
    assert at.selectbox(key="users_user").value == last
    assert "No user 'no-such-user' here." in shown(at.warning[0].value)


def test_slices_pair_each_method_with_the_base_and_link_to_their_users(full):
    from recranker_core.analysis import slices, verdict

    at = app(SLICES)
    assert not at.exception
    metrics = json.loads((full / "metrics.json").read_text())
    short = [m for m in verdict.default_methods(metrics) if m != metrics["reference"]]
    assert at.multiselect(key="slices_methods").value == short  # the short set, the rest a click away
    frames = [d.value for d in at.dataframe]
    table = next(f for f in frames if "method" in f.columns)
    hurt, helped = (f for f in frames if "slice" in f.columns)
    # The judged method's slices, worst first and best first, over every kind of slice.
    assert list(hurt["delta"]) == sorted(hurt["delta"]) and list(helped["delta"]) == sorted(
        helped["delta"], reverse=True
    )
    assert (
        hurt["delta"].iloc[0] <= helped["delta"].iloc[0]
        and all(": " in name for name in [*hurt["slice"], *helped["slice"]])  # "dimension: group"
    )
    assert f"Where {metrics['selected']['method']} hurt and helped NDCG@3 most" in texts(at)
    evaluated = metrics["test_users"]
    by_group = table.drop_duplicates("group")
    assert by_group["users"].sum() == evaluated  # activity quartiles hold every user once
    at.selectbox(key="slices_dimension").select("base position").run()
    table = next(d.value for d in at.dataframe if "method" in d.value.columns)
    folded = {f"{n} slices under {slices.MIN_USERS} users" for n in range(2, 5)}
    assert set(table["group"]) <= {"1–3", "4–6", "7–10", "not in the ten"} | folded
    missed = table[table["group"] == "not in the ten"]
    assert (missed["delta"].dropna() == 0).all()  # no method can rerank an item the base model did not list
    assert {"slices_chart", "slices_changes"} <= set(charts(at))
    link = at.get("page_link")[0].proto
    group = at.selectbox(key="slices_group").value
    query = parse_qs(link.query_string)
    assert link.page == "users" and query["slice"] == [f"base position: {group}"]
    assert "users" not in query  # the explorer finds the slice's users: no ids in the URL
    at.selectbox(key="slices_metric").select("arp@5").run()
    assert not at.exception
    judged = metrics["selected"]["method"]
    assert f"Where {judged} lowered and raised arp@5 most" in texts(at)
    table = next(d.value for d in at.dataframe if "method" in d.value.columns)
    # The reference lists every evaluated user; a slice's beyond-accuracy values are over those users.
    reference = table[table["method"] == metrics["reference"]]
    assert reference["users"].sum() == evaluated and (reference["value"] > 0).all()


def test_the_user_explorer_shows_a_slices_users(full):
    from recranker_core.analysis import slices
    from recranker_core.runfiles import evaluation_truth

    tables = [
        pd.read_parquet(full / name) for name in ("split.parquet", "items.parquet", "candidates.parquet")
    ]
    members = slices.groups(slices.user_features(*tables, evaluation_truth(full), "implicitmf"))
    first = members[members["dimension"] == "activity"].iloc[0]
    same = (members["dimension"] == "activity") & (members["group"] == first["group"])
    expected = sorted(members.loc[same, "user_id"].astype(str))
    name = f"activity: {first['group']}"
    at = app(USERS, slice=name)
    assert not at.exception
    assert f"{len(expected)} users of the slice {name!r}" in texts(at)
    assert at.selectbox(key="users_filter").value == "All test users"
    assert sorted(str(o).split(" ")[1] for o in at.selectbox(key="users_user").options) == expected
    at.button(key="users_all").click().run()
    assert "slice" not in at.query_params and len(at.selectbox(key="users_user").options) > len(expected)
    at = app(USERS, slice="activity: no such group")
    assert "No slice called 'activity: no such group'" in shown(at.warning[0].value)


def what_if_user(run) -> tuple[whatif.Scenario, dict, object]:
    """The What-if page's first user: their stored scenario, the page's titles, and an item they never rated
    that is not among their candidates."""
    prompts = rundir.read_jsonl(run / rundir.INSTRUCTIONS / "test.jsonl")
    user = prompts[0]["meta"]["user_id"]
    stored = whatif.stored([p for p in prompts if p["meta"]["user_id"] == user])
    items = distinct_titles(pd.read_parquet(run / rundir.ITEMS))
    split = pd.read_parquet(run / rundir.SPLIT)
    rated = set(split.loc[split["user_id"] == user, "item_id"]) | set(stored.candidates)
    unrated = next(i for i in items["item_id"] if i not in rated)
    return stored, dict(zip(items["item_id"], items["title"])), unrated


def test_what_if_scores_an_edit_beside_the_original_and_attributes_the_score(full):
    stored, titles, unrated = what_if_user(full)
    at = app(WHATIF)
    at.selectbox(key="whatif_task").select("pointwise").run()
    at.multiselect(key="whatif_leave_out").select(stored.liked[0]).run()
    at.multiselect(key="whatif_add_liked").select(unrated).run()
    at.selectbox(key="whatif_rating_hint").select("").run()
    history, *_, question = at.code[0].value.split("\n")
    assert f'"{titles[stored.liked[0]]}"' not in history and f'"{titles[unrated]}": 5' in history
    assert question.startswith("Rate the movie")  # no hint line after it
    at.button(key="whatif_go").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["label"].tolist() == ["1", "2", "3", "4", "5"]
    assert table["stored"].sum() == pytest.approx(1) and table["edited"].sum() == pytest.approx(1)
    assert not np.allclose(table["stored"], table["edited"])
    assert "expected rating" in texts(at)
    at.button(key="whatif_attribute").click().run()
    assert not at.exception
    bars = charts(at)["whatif_chart"]["data"]
    assert {trace["name"] for trace in bars} == {"liked", "disliked", "hint"}


def test_what_if_reranks_the_whole_user_with_a_replaced_candidate_and_another_hint_model(full):
    stored, titles, unrated = what_if_user(full)
    at = app(WHATIF)
    at.multiselect(key="whatif_list_hints").set_value(["bpr"]).run()
    at.selectbox(key="whatif_task").select("listwise").run()
    assert "Hint: BPR-MF ranks" in at.code[0].value and "ImplicitMF" not in at.code[0].value
    at.toggle(key="whatif_edit_candidates").set_value(True).run()
    at.selectbox(key="whatif_candidate_0").select(unrated).run()
    old, new = titles[stored.candidates[0]], titles[unrated]
    assert not at.exception and f'"{new}"' in at.code[0].value and f'"{old}"' not in at.code[0].value
    at.button(key="whatif_rerank").click().run()
    assert not at.exception
    judged = json.loads((full / "metrics.json").read_text())["selected"]["method"].removeprefix("zeroshot:")
    assert judged in at.multiselect(key="whatif_methods").value  # the judged method, as on every page
    at.multiselect(key="whatif_methods").set_value(["listwise", "hybrid"]).run()
    lineup = lineup_table(at)
    assert list(lineup.columns) == [
        f"{name} · {kind}"
        for name in ("base:implicitmf", "listwise", "hybrid")
        for kind in ("stored", "edited")
    ]
    assert lineup["base:implicitmf · edited"].iloc[0].startswith(new)
    assert new not in " ".join(lineup["listwise · stored"]) and new in " ".join(lineup["listwise · edited"])
    assert re.search(r"The held-out item (moved from \d+ to \d+|stayed at \d+) in listwise", texts(at))


def test_what_if_attribution_of_a_listwise_prompt_belongs_to_the_candidate_scored(full):
    at = app(WHATIF)
    at.selectbox(key="whatif_task").select("listwise").run()
    variant = at.selectbox(key="whatif_variant").value
    label = at.selectbox(key=f"whatif_label_{variant}")
    # The held-out item's label is the one scored first, and the page names the item and the history.
    user = at.selectbox(key="whatif_user").value
    prompt = next(
        p
        for p in rundir.read_prompts(full / "instructions" / "test.jsonl")
        if p["meta"]["user_id"] == user
        and p["meta"]["variant"] == variant
        and p["meta"]["task"] == "listwise"
    )
    truth = pd.read_parquet(full / "split.parquet").query("role == 'test'").set_index("user_id")["item_id"]
    assert label.value == f"({chr(65 + list(prompt['meta']['items']).index(truth[user]))}) · held out"
    assert "Held-out test item:" in texts(at) and any(
        "history as the prompts show it" in e.label for e in at.expander
    )
    at.button(key="whatif_attribute").click().run()
    assert "whatif_chart" in charts(at)
    other = "(B)" if label.value != "(B)" else "(C)"
    at.selectbox(key=f"whatif_label_{variant}").select(other).run()
    assert not at.exception and "whatif_chart" not in charts(at)  # one label's attribution is not another's


@pytest.mark.parametrize("edit", ["no history", "a candidate twice"])
def test_what_if_says_why_an_edit_cannot_be_scored(full, edit):
    stored, *_ = what_if_user(full)
    at = app(WHATIF)
    if edit == "no history":
        at.multiselect(key="whatif_leave_out").set_value(list(stored.liked)).run()
        expected = "keep at least one liked item"
    else:
        at.toggle(key="whatif_edit_candidates").set_value(True).run()
        at.selectbox(key="whatif_candidate_1").select(at.selectbox(key="whatif_candidate_0").value).run()
        expected = "listed twice in the candidates"
    assert not at.exception
    assert expected in shown(at.warning[0].value)


def test_prompt_inspector_switches_task_and_shows_both_pair_orders(full):
    user = llm_users(full)[0]
    at = app(PROMPTS, user=str(user))
    assert at.segmented_control(key="prompts_task").value == "listwise"
    assert at.selectbox(key="prompts_variant").value == "copy 0"
    order = at.dataframe[0].value
    assert len(order) == 10 and order["target"].sum() <= 1
    at.segmented_control(key="prompts_task").set_value("pairwise").run()
    assert at.selectbox(key="prompts_variant").value.startswith("pair ")
    assert "Both orders" in texts(at)
    assert {m.label for m in at.metric} >= {"The orders agree"}
    at.segmented_control(key="prompts_task").set_value("pointwise").run()
    expected = float(metric(at, "Parsed score: expected rating"))
    assert 1.0 <= expected <= 5.0


def test_prompt_inspector_without_llm_outputs_still_shows_the_prompt(full):
    # The run as it is after `train`, before `rerank`.
    (full / "llm_outputs.parquet").unlink()
    manifest = json.loads((full / "manifest.json").read_text())
    del manifest["stages"]["rerank"]
    (full / "manifest.json").write_text(json.dumps(manifest))
    at = app(PROMPTS)
    assert not at.exception
    assert at.dataframe  # the shown order comes from the prompt alone
    assert "no `llm_outputs.parquet` yet" in texts(at)


def test_hybrid_lab_reproduces_the_stored_hybrids_and_reacts_to_sliders(full):
    stored = json.loads((full / "metrics.json").read_text())["methods"]
    at = app(HYBRID)
    table = at.dataframe[0].value.set_index("method")
    for name, method in (
        ("paper weights", "hybrid"),
        ("tuned weights", "hybrid-tuned"),
        ("base:implicitmf", "base:implicitmf"),
    ):
        for metric_name in ("HR@3", "NDCG@5", "HR@10"):
            assert table.loc[name, metric_name] == pytest.approx(
                stored[method]["metrics"][metric_name]["value"], abs=1e-6
            )
    # Everything off but the base position: the hybrid is the base order.
    for name in ("pointwise", "pairwise", "listwise"):
        at.toggle(key=f"hybrid_{name}_on").set_value(False)
    at.run()
    table = at.dataframe[0].value.set_index("method")
    assert table.loc["your weights", "NDCG@5"] == pytest.approx(table.loc["base:implicitmf", "NDCG@5"])
    at.button(key="hybrid_reset").click().run()
    table = at.dataframe[0].value.set_index("method")
    assert table.loc["your weights", "NDCG@5"] == pytest.approx(table.loc["tuned weights", "NDCG@5"])


def test_position_bias_page_splits_by_prompt_set(full):
    at = app(BIAS)
    both = charts(at)["bias_positions"]
    assert {t["name"] for t in both["data"]} >= {"tuned", "zeroshot", "chance"}
    copies = at.dataframe[0].value
    assert set(copies["copies"]) == {"copy 0 alone", "copy 1 alone", "first 2 averaged"}
    at.segmented_control(key="bias_split").set_value("test prompts").run()
    assert not at.exception


def test_sampling_page_names_a_missing_embeddings_file(full):
    at = app(SAMPLING)
    assert {"sampling_activity", "sampling_duplicates", "sampling_projection"} <= set(charts(at))
    (full / "user_embeddings.parquet").unlink()
    at = app(SAMPLING)
    assert "records its `baselines` stage as done, but `user_embeddings.parquet` is not in" in texts(at)


def test_live_rerank_matches_the_stored_rankings(full):
    # Judged here: pairwise, which the default lineup holds only as the judged method.
    metrics = json.loads((full / "metrics.json").read_text())
    (full / "metrics.json").write_text(
        json.dumps({**metrics, "selected": {**metrics["selected"], "method": "pairwise"}})
    )
    at = app(LIVE)
    at.button(key="live_go").click().run(timeout=120)
    assert not at.exception
    assert "Identical to the rankings the run stored" in texts(at)
    assert "live_bump" in charts(at)
    # Fusion and the hint control are recomputed with the run's lambdas, and are among the identical ones.
    assert {"fusion", "control:hints"} <= set(at.session_state["live_result"][2]["method"])
    picked = at.multiselect(key="live_methods").value
    assert list(lineup_table(at).columns) == ["base:implicitmf", *picked] and len(picked) <= 4
    assert "pairwise" in picked  # the judged method is lined up


def test_pages_of_a_run_without_llm_stages_say_what_to_run(runs):
    for page, missing in (
        (HYBRID, "task_scores.parquet"),
        (BIAS, "llm_outputs.parquet"),
        (LIVE, "instructions"),
        (PROMPTS, "instructions"),
    ):
        at = app(page)
        assert not at.exception
        assert f"no `{missing}` yet" in texts(at), page
        assert "python -m recranker_core" in at.code[0].value


def test_a_truncated_table_is_named(full):
    path = full / "rankings.parquet"
    path.write_bytes(path.read_bytes()[:100])
    at = app(USERS)
    assert not at.exception
    assert "rankings.parquet" in shown(at.error[0].value)


def test_no_runs_on_an_analysis_page_offers_to_start_one(tmp_path, monkeypatch):
    monkeypatch.setenv("RECRANKER_RUNS", str(tmp_path / "none"))
    at = app(USERS)
    assert not at.exception and "No runs yet" in shown(at.info[0].value)


def test_a_stage_done_elsewhere_without_its_files_says_so(full):
    import shutil

    shutil.rmtree(full / "adapter")  # e.g. trained on a GPU machine, results copied back without it
    at = app(LIVE)
    assert not at.exception
    assert "records its `train` stage as done, but `adapter` is not in" in shown(at.warning[0].value)


def test_a_run_with_collaborative_tokens_shows_them_and_scores_its_what_ifs(
    tmp_path, collab_run, monkeypatch
):
    run = shutil.copytree(collab_run, tmp_path / "runs" / "collab")
    monkeypatch.setenv("RECRANKER_RUNS", str(tmp_path / "runs"))
    at = app(PROMPTS)
    shown = " ".join(element.proto.body for element in at.get("html"))
    assert "collaborative token" in shown and "⟨user " in shown and "⟨item " in shown
    stored, _, unrated = what_if_user(run)
    at = app(WHATIF)
    at.selectbox(key="whatif_task").select("pointwise").run()
    at.multiselect(key="whatif_leave_out").select(stored.liked[0]).run()
    at.multiselect(key="whatif_add_liked").select(unrated).run()
    at.button(key="whatif_go").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["edited"].sum() == pytest.approx(1) and not np.allclose(table["stored"], table["edited"])
    at.segmented_control(key="whatif_family").set_value("zeroshot").run()
    at.button(key="whatif_rerank").click().run()
    assert not at.exception
    columns = list(lineup_table(at).columns)
    # The candidates are unchanged: the stored base list, then each method's stored and edited lists.
    assert columns[0] == "base:implicitmf · stored" and len(columns) in (3, 5)
    assert "zeroshot:listwise · edited" in columns and all(c.startswith("zeroshot:") for c in columns[1:])


OVERVIEW = "views/overview.py"
EVERY_PAGE = (OVERVIEW, USERS, PROMPTS, HYBRID, SLICES, BIAS, SAMPLING, LIVE, WHATIF)


def _drop(name: str, column: str):
    def damage(run):
        path = run / name
        pd.read_parquet(path).drop(columns=column).to_parquet(path)
        return f"{name}: no column {column}"

    return damage


def _document(name: str, key: str, value):
    def damage(run):
        path = run / name
        path.write_text(json.dumps(json.loads(path.read_text()) | {key: value}))
        return f"{name}: '{key}' should be"

    return damage


def _ranks_as_text(run):
    path = run / "rankings.parquet"
    table = pd.read_parquet(path)
    table.astype({"rank": str}).to_parquet(path)
    return "rankings.parquet: column rank holds string, not numbers"


def _probabilities_as_numbers(run):  # damage no reader checks: the page names the run and the error
    path = run / "llm_outputs.parquet"
    pd.read_parquet(path).assign(probs=0.5).to_parquet(path)
    return "could not show run **smoke**"


DAMAGES = {
    "rankings without rank": _drop("rankings.parquet", "rank"),
    "split without role": _drop("split.parquet", "role"),
    "items without titles": _drop("items.parquet", "title"),
    "candidates without scores": _drop("candidates.parquet", "score"),
    "task scores without the base rank": _drop("task_scores.parquet", "base_rank"),
    "llm outputs without probabilities": _drop("llm_outputs.parquet", "probs"),
    "sampled users without draws": _drop("sampled_users.parquet", "draw"),
    "metrics whose methods are a list": _document("metrics.json", "methods", []),
    "hybrid without its grid": _document("hybrid.json", "grid", None),
    "ranks written as text": _ranks_as_text,
    "probabilities that are numbers": _probabilities_as_numbers,
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_run_file_gets_one_clear_message_on_every_page(full, damage):
    message = DAMAGES[damage](full)
    at = app()
    named = []
    for page in EVERY_PAGE:
        at.switch_page(page).run()
        assert not at.exception, (damage, page)
        if at.error:
            said = shown(at.error[0].value)
            assert len(at.error) == 1 and message in said, (page, said)
            named.append(page)
    assert named, f"no page reads the file that {damage} damaged"
