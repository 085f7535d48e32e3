"""Prompt inspector: the exact prompt the model saw, its marked parts, the shown order and the answer."""

import streamlit as st
from studio import promptview, session

from recranker_core import rundir
from recranker_core.analysis import bias, charts, whatif
from recranker_core.analysis.escaping import markdown as md
from recranker_core.ranking import TASKS

st.title("Prompt inspector")
run = session.require_run()
session.require(run, rundir.INSTRUCTIONS)
splits = {"test": rundir.TEST_PROMPTS, "validation (tunes the hybrid)": rundir.VALID_RERANK_PROMPTS}
which = st.segmented_control("Prompts", list(splits), default="test", key="prompts_split") or "test"
prompts = session.prompts(run, splits[which])
if not prompts:
    st.info(
        "This run has no rerank prompts (no user's held-out item is among the base candidates).",
        icon=":material/info:",
    )
    st.stop()
items = session.items(run)
titles = dict(zip(items["item_id"], items["title"]))
has_outputs = (run.path / rundir.LLM_OUTPUTS).is_file()
outputs = session.table(run, rundir.LLM_OUTPUTS) if has_outputs else None
split = session.table(run, rundir.SPLIT)
role = "test" if which == "test" else "valid"
targets = split[split["role"] == role].set_index("user_id")["item_id"]
scale = session.scale(split)

user_rows = promptview.prompt_users(prompts)
left, middle, right = st.columns([2, 2, 1])
with left:
    user = session.pick_user(user_rows, key="prompts_user", label="User")
task = middle.segmented_control("Task", TASKS, default="listwise", key="prompts_task") or "listwise"
families = sorted(outputs["family"].unique()) if outputs is not None else []  # tuned first
family = (
    right.radio("Model", families, format_func=md, key="prompts_family", horizontal=True)
    if families
    else None
)

mine = [p for p in prompts if p["meta"]["user_id"] == user and p["meta"]["task"] == task]
if not mine:
    st.info(f"User {md(user)} has no {task} prompt.", icon=":material/info:")
    st.stop()
variants = [p["meta"]["variant"] for p in mine]
variant = st.selectbox("Prompt", variants, key="prompts_variant")
prompt = mine[variants.index(variant)]
target = targets.get(user)

text, answer = st.columns([3, 2])
with text:
    st.subheader("What the model saw")
    st.html(promptview.legend_html(promptview.has_markers(prompt)))
    st.html(promptview.to_html(promptview.segments(prompt), prompt["meta"]))
    st.markdown("**Shown order**")
    st.caption("Original position: where the item stood before shifting (listwise: the base model's order).")
    st.dataframe(
        promptview.shown_order(prompt, titles, target), hide_index=True, width="stretch", key="prompts_order"
    )
with answer:
    st.subheader("What it answered")
    if outputs is None:
        session.require(run, rundir.LLM_OUTPUTS)
    key = (
        (outputs["split"] == prompt["meta"]["split"])
        & (outputs["user_id"] == user)
        & (outputs["task"] == task)
    )
    row = outputs[key & (outputs["variant"] == variant) & (outputs["family"] == family)]
    if row.empty:
        st.info("No model output for this prompt.", icon=":material/info:")
        st.stop()
    row = row.iloc[0]
    if row["raw"] is not None:
        st.markdown(
            f"Generated text: “{md(row['raw'])}”"
            + ("" if row["parsed"] else " — **did not parse**; the fallback was used")
        )
    labels = promptview.answer_table(task, row["probs"], scale)
    shown = list(prompt["meta"]["items"])
    marks = [item == target for item in shown] if task == "listwise" else None
    st.plotly_chart(charts.probability_bars(labels, marks), width="stretch", key="prompts_probs")
    if task == "pointwise":
        st.metric(
            "Parsed score: expected rating", f"{whatif.prompt_score('pointwise', row['probs'], scale):.3f}"
        )
    elif task == "pairwise":
        st.metric("P(first item preferred)", f"{row['probs'][0]:.3f}")
    else:
        probs = list(row["probs"])
        best = max(range(len(shown)), key=probs.__getitem__)
        st.markdown(
            f"**First choice:** {md(labels['label'][best])} "
            f"{md(titles.get(shown[best], shown[best]))} ({probs[best]:.3f})"
        )
        if target in shown:
            where = shown.index(target)
            place = 1 + sum(p > probs[where] for p in probs)
            st.markdown(
                f"**Held-out item:** {md(labels['label'][where])} {md(titles.get(target, target))} "
                f"({probs[where]:.3f}, choice #{place})"
            )

if task == "pairwise":
    st.subheader("Both orders")
    pairs = bias.pair_orders(outputs[key & (outputs["family"] == family)])
    pair = variant.rsplit(" ", 1)[0].removeprefix("pair ")
    this = pairs[pairs["pair"] == pair]
    if this.empty:
        st.caption("This pair was asked in one order only.")
    else:
        this = this.iloc[0]
        first = md(titles.get(this["first"], this["first"]))
        cols = st.columns(3)
        cols[0].metric(f"P({first} preferred), asked first", f"{this['p_ab']:.3f}")
        cols[1].metric(f"P({first} preferred), asked second", f"{this['p_ba']:.3f}")
        cols[2].metric("The orders agree", "yes" if this["agree"] else "no")
