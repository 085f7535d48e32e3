"""What-if: change what the model sees in a user's stored test prompts (history, hints, candidates; tuned or
zero-shot model), score one prompt or rerank the whole user live beside the stored results, and attribute a
prompt's score to each history item and the hints."""

from contextlib import contextmanager, nullcontext
from dataclasses import replace
from functools import cache

import pandas as pd
import streamlit as st
from studio import live, promptview, session, users

from recranker_core import rundir
from recranker_core.analysis import charts, hintmodels, whatif
from recranker_core.analysis.escaping import markdown as md
from recranker_core.errors import InputError
from recranker_core.instructions.phase import labels as hint_labels
from recranker_core.methods import FAMILY_LABELS, Method
from recranker_core.prompt_record import user_text

st.title("What-if")
run = session.require_run()
session.require(run, rundir.INSTRUCTIONS, rundir.ADAPTER, rundir.HYBRID)
config = session.guarded(lambda: run.manifest.config)
prompts = session.prompts(run, rundir.TEST_PROMPTS)
split = session.table(run, rundir.SPLIT)
scale = session.scale(split)
items = session.items(run)
titles = dict(zip(items["item_id"], items["title"]))
user = session.pick_user(promptview.prompt_users(prompts), key="whatif_user")
if user is None:
    st.info("This run has no test prompts.", icon=":material/info:")
    st.stop()
mine = [p for p in prompts if p["meta"]["user_id"] == user]
base_method = session.primary(run)
stored = whatif.stored(mine)
models = whatif.hint_models(config.baselines.models)
model_names = hint_labels()
families = ["tuned"] if config.llm.full_finetune else ["tuned", "zeroshot"]
family = (
    st.segmented_control(
        "Model", families, default="tuned", format_func=FAMILY_LABELS.get, key="whatif_family"
    )
    or "tuned"
)


def title(item) -> str:
    return titles.get(item, f"item {item}")


truth = session.truth(run)
held_out = truth.set_index("user_id")["item_id"].get(user)
st.markdown(
    f"**Held-out test item:** {md(title(held_out))}"
    + (" (among the candidates)" if held_out in stored.candidates else " (not among the candidates)")
)
with st.expander(
    f"The user's history as the prompts show it ({len(stored.liked)} liked, {len(stored.disliked)} disliked)"
):
    st.markdown("**Liked:** " + md("; ".join(map(title, stored.liked))))
    st.markdown("**Disliked:** " + md("; ".join(map(title, stored.disliked)) or "none"))

st.subheader("What the model sees")
st.caption(f"Edits apply to all {len(mine)} prompts of user {md(user)}.")
history, hints = st.columns(2)
shown = stored.liked + stored.disliked
leave_out = history.multiselect("Leave out of the history", shown, format_func=title, key="whatif_leave_out")
rated = set(split.loc[split["user_id"] == user, "item_id"]) - set(shown)
taken = set(shown) | set(stored.candidates)
others = [i for i in items["item_id"] if i not in taken]
add_liked = history.multiselect("Add as liked", others, format_func=title, key="whatif_add_liked")
add_disliked = history.multiselect("Add as disliked", others, format_func=title, key="whatif_add_disliked")
history.caption(
    f"An added item the user rated shows their rating in pointwise prompts; others show {scale[1]} "
    f"(liked) or {scale[0]} (disliked)."
)
raters = [""] + [m for m, explicit in models.items() if explicit]
rating_hint = hints.selectbox(
    "Pointwise hint",
    raters,
    index=raters.index(stored.rating_hint) if stored.rating_hint in raters else 0,
    format_func=lambda m: model_names.get(m, "none"),
    key="whatif_rating_hint",
)
pair_hints, list_hints = (
    hints.multiselect(f"{kind} hints", list(models), default=now, format_func=model_names.get, key=widget)
    for kind, now, widget in (
        ("Pairwise", stored.pair_hints, "whatif_pair_hints"),
        ("Listwise", stored.list_hints, "whatif_list_hints"),
    )
)
candidates = list(stored.candidates)
if st.toggle("Replace or reorder the candidates", key="whatif_edit_candidates"):
    pool = list(stored.candidates) + [i for i in others if i not in rated]
    slots = st.columns(5)
    candidates = [
        slots[k % 5].selectbox(
            f"Candidate {k + 1}", pool, index=k, format_func=title, key=f"whatif_candidate_{k}"
        )
        for k in range(len(stored.candidates))
    ]
scenario = replace(
    stored,
    liked=tuple(i for i in stored.liked if i not in leave_out) + tuple(add_liked),
    disliked=tuple(i for i in stored.disliked if i not in leave_out) + tuple(add_disliked),
    candidates=tuple(candidates),
    rating_hint=rating_hint,
    pair_hints=tuple(pair_hints),
    list_hints=tuple(list_hints),
)


@cache
def writer() -> whatif.Writer:
    """Built only when an edit or an attribution writes prompts, not on every rerun. A model whose scores
    no stored prompt recorded is fitted when an edit first needs it, once per run."""
    lookup = hintmodels.HintScores(
        whatif.known_scores(mine),
        lambda name, batch: hintmodels.scores(session.hint_model(run, name), user, batch),
    )
    return whatif.writer(split, session.table(run, rundir.ITEMS), config.prompts, user, lookup)


def rewritten(scenario: whatif.Scenario, batch: list[dict]) -> list[dict]:
    return whatif.rewrite(batch, scenario, writer())


@contextmanager
def chosen_model():
    """The run's model and tokenizer, switched to the untuned model for the zero-shot family."""
    from recranker_core.llm.collab import untuned

    model, tokenizer = session.tuned_model(run)
    with untuned(model) if family == "zeroshot" else nullcontext():
        yield model, tokenizer


try:
    whatif.check(scenario, set(items["item_id"]), models, name=title)
    edited = mine if scenario == stored else rewritten(scenario, mine)
except InputError as exc:
    st.warning(f"This edit cannot be scored: {md(exc)}.", icon=":material/edit_off:")
    st.stop()


def scored(batch: list[dict]) -> list:
    """Label probabilities of a prompt and its variants (``batch[1:]``) from the run's model, tuned or
    zero-shot, in one call that reuses the first prompt's encoding where a variant's text agrees with it."""
    from recranker_core.llm.rerank import score_variants

    with chosen_model() as (model, tokenizer):
        return score_variants(model, tokenizer, batch, scale=scale)


st.subheader("One prompt")
left, middle, right = st.columns(3)
task = left.selectbox("Task", sorted({p["meta"]["task"] for p in mine}), key="whatif_task")
variants = [p["meta"]["variant"] for p in mine if p["meta"]["task"] == task]
variant = middle.selectbox("Prompt", variants, key="whatif_variant")
index = next(i for i, p in enumerate(mine) if p["meta"]["task"] == task and p["meta"]["variant"] == variant)
prompt, changed = mine[index], edited[index]
position = 0
if task == "listwise":
    shown_items = list(prompt["meta"]["items"])
    # The held-out item's label says so and is the one scored by default.
    held = shown_items.index(held_out) if held_out in shown_items else None
    labels = [f"({chr(65 + i)})" + (" · held out" if i == held else "") for i in range(len(shown_items))]
    position = labels.index(
        right.selectbox("Score of candidate", labels, index=held or 0, key=f"whatif_label_{variant}")
    )
with st.expander("The edited prompt"):
    st.code(user_text(changed), language=None, wrap_lines=True)
key = (run.name, user, index, family, scenario)
go, attribute = st.columns(2)
if go.button("Score the edited prompt", type="primary", icon=":material/bolt:", key="whatif_go"):
    st.session_state["whatif_scores"] = (key, scored([prompt, changed]))
if attribute.button("Attribute the score", icon=":material/bar_chart:", key="whatif_attribute"):
    without, parts = whatif.without_each(scenario)
    batch = [changed] + [rewritten(s, [prompt])[0] for s in without]
    with st.spinner(f"Scoring {len(batch)} prompts …"):
        found = [whatif.prompt_score(task, p, scale, position) for p in scored(batch)]
    st.session_state["whatif_parts"] = ((*key, position), whatif.attribution(found, parts))

kept = st.session_state.get("whatif_scores")
if kept and kept[0] == key:
    original, new = (promptview.answer_table(task, p, scale) for p in kept[1])
    table = original.rename(columns={"probability": "stored"}).assign(edited=new["probability"])
    st.dataframe(table, hide_index=True, key="whatif_table")
    before, after = (whatif.prompt_score(task, p, scale, position) for p in kept[1])
    unit = {"pointwise": "expected rating", "pairwise": "P(Yes)", "listwise": "label probability"}[task]
    st.caption(
        f"{unit}: {before:.4f} stored, {after:.4f} edited; change {after - before:+.4f} "
        f"({FAMILY_LABELS[family]} model)."
    )
found = st.session_state.get("whatif_parts")
if found and found[0] == (*key, position):
    table = found[1].assign(part=[title(i) if i is not None else "the hints" for i in found[1]["item"]])
    st.plotly_chart(charts.influence_bars(table), width="stretch", key="whatif_chart")
    st.caption(
        "Influence: the prompt's score minus its score without that part (leave one out); "
        "> 0 means the part raised it."
    )

st.subheader("The whole user")
if st.button("Rerank the user with these edits", icon=":material/bolt:", key="whatif_rerank"):
    hybrid = session.document(run, rundir.HYBRID)
    bar = st.progress(0.0, text="starting")
    base = live.base_table(
        session.table(run, rundir.CANDIDATES), user, list(scenario.candidates), config.baselines.primary
    )
    with chosen_model() as (model, tokenizer):
        _, ranked = live.rerank_user(
            model,
            tokenizer,
            edited,
            base,
            scale=scale,
            mode=config.rerank.mode,
            batch_size=config.rerank.batch_size,
            paper=tuple(hybrid["paper_weights"]),
            tuned=tuple(hybrid["tuned_weights"]),
            family=family,
            progress=lambda fraction, text: bar.progress(fraction, text=text),
            fused=hybrid.get("fusion"),
            primary=config.baselines.primary,
        )
    bar.empty()
    fresh = pd.concat([ranked, base.assign(method=base_method, rank=base["base_rank"] + 1)])
    st.session_state["whatif_reranked"] = ((run.name, user, family, scenario), fresh)
result = st.session_state.get("whatif_reranked")
if result and result[0] == (run.name, user, family, scenario):
    fresh = result[1]
    stored_rankings = session.table(run, rundir.RANKINGS)
    stored_rankings = stored_rankings[stored_rankings["user_id"] == user]
    llm = [m for m in dict.fromkeys(fresh["method"]) if m != base_method]
    # The judged method first (in the family scored here), then the listwise task and the hybrid.
    plain = {Method.parse(m).name: m for m in llm}
    judged = session.judged(run, stored_rankings)
    wanted = [Method.parse(judged).name if judged else None, "listwise", "hybrid"]
    chosen = st.multiselect(
        f"Methods beside {base_method} (up to 2: each shows its stored and its edited list)",
        llm,
        default=[plain[w] for w in dict.fromkeys(wanted) if w in plain][:2],
        max_selections=2,
        key="whatif_methods",
    )
    # The base list changes only where the candidates were edited.
    chosen = ([base_method] if scenario.candidates != stored.candidates else []) + chosen
    test_item = split.loc[(split["user_id"] == user) & (split["role"] == "test"), "item_id"].iloc[0]
    both = live.beside(stored_rankings, fresh, chosen)
    reference = f"{base_method} · stored"
    if base_method not in chosen:
        both = pd.concat(
            [stored_rankings[stored_rankings["method"] == base_method].assign(method=reference), both]
        )
    names = list(dict.fromkeys(both["method"]))
    long = users.lineup(both, user, names, reference, test_item)
    grid, mask = users.lineup_grid(long, titles)
    summary = whatif.moved(stored_rankings, fresh, test_item, [m for m in chosen if m != base_method])
    if summary:
        st.markdown(f"**{md(summary)}**")
    st.table(users.highlighted(grid, mask))  # whole titles, as in the User explorer
    st.caption("▲/▼: places moved against the stored base list; the test item is highlighted.")
