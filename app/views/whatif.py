"""What-if: change what the model sees in one stored prompt (history items, the hint, tuned or zero-shot)
and score it live beside the original; attribute the prompt's score to each history item and the hint."""

from contextlib import nullcontext

import pandas as pd
import plotly.express as px
import streamlit as st
from studio import promptview, session

from recranker_core import rundir
from recranker_core.analysis import whatif
from recranker_core.analysis.charts import PALETTE
from recranker_core.errors import InputError

st.title("What-if")
run = session.require_run()
session.require(run, rundir.INSTRUCTIONS, rundir.ADAPTER)
config = session.guarded(lambda: run.manifest.config)
prompts = session.prompts(run, "test.jsonl")
scale = session.scale(session.table(run, rundir.SPLIT))
user = session.pick_user(promptview.prompt_users(prompts), key="whatif_user")
if user is None:
    st.info("This run has no test prompts.", icon=":material/info:")
    st.stop()
mine = [p for p in prompts if p["meta"]["user_id"] == user]
left, middle, right = st.columns(3)
task = left.selectbox("Task", sorted({p["meta"]["task"] for p in mine}), key="whatif_task")
of_task = [p for p in mine if p["meta"]["task"] == task]
variant = middle.selectbox("Prompt", [p["meta"]["variant"] for p in of_task], key="whatif_variant")
prompt = next(p for p in of_task if p["meta"]["variant"] == variant)
families = ["tuned"] if config.llm.full_finetune else ["tuned", "zero-shot"]
family = right.segmented_control("Model", families, default="tuned", key="whatif_family") or "tuned"
shown = whatif.history(prompt)
leave_out = st.multiselect(
    "Leave out of the history", shown["liked"] + shown["disliked"], key="whatif_leave_out"
)
hint = st.toggle("Show the hint", value=True, key="whatif_hint")
position = 0
if task == "listwise":
    labels = [f"({chr(65 + i)})" for i in range(len(prompt["meta"]["items"]))]
    position = labels.index(st.selectbox("Score of candidate", labels, key="whatif_label"))


def score(batch: list[dict]) -> list[float]:
    """What the rerank stage reads from each prompt, scored with the run's model in one call."""
    from recranker_core.llm.rerank import score_prompts

    model, tokenizer = session.tuned_model(run)
    context = model.disable_adapter() if family == "zero-shot" else nullcontext()
    with context:
        outputs = score_prompts(
            model, tokenizer, batch, mode="logits", scale=scale, batch_size=config.rerank.batch_size
        )
    return [whatif.prompt_score(task, probs, scale, position) for probs in outputs["probs"]]


try:
    changed = whatif.edited(prompt, whatif.Edit(tuple(leave_out), hint))
except InputError as exc:
    st.warning(f"This edit cannot be scored: {exc}.", icon=":material/edit_off:")
    st.stop()
with st.expander("The edited prompt"):
    st.code(changed["messages"][1]["content"], language=None, wrap_lines=True)
scores, attribute = st.columns(2)
if scores.button("Score the edited prompt", type="primary", icon=":material/bolt:", key="whatif_go"):
    original, edited = score([prompt, changed])
    st.session_state["whatif_scores"] = (prompt["meta"], family, original, edited)
if attribute.button("Attribute the score", icon=":material/bar_chart:", key="whatif_attribute"):
    batch, parts = whatif.variants(prompt)
    with st.spinner(f"Scoring {len(batch)} prompts …"):
        st.session_state["whatif_parts"] = (prompt["meta"], family, whatif.attribution(score(batch), parts))

kept = st.session_state.get("whatif_scores")
if kept and kept[:2] == (prompt["meta"], family):
    unit = {"pointwise": "expected rating", "pairwise": "P(Yes)", "listwise": "label probability"}[task]
    st.dataframe(
        pd.DataFrame({"prompt": ["original", "edited"], unit: kept[2:]}), hide_index=True, key="whatif_table"
    )
    st.caption(f"Change: {kept[3] - kept[2]:+.4f} ({family} model).")
found = st.session_state.get("whatif_parts")
if found and found[:2] == (prompt["meta"], family):
    table = found[2].sort_values("influence", key=abs, ascending=False)
    figure = px.bar(
        table, x="influence", y="part", color="kind", orientation="h", color_discrete_sequence=PALETTE
    )
    figure.update_layout(template="plotly_white", yaxis={"autorange": "reversed", "title": None})
    st.plotly_chart(figure, width="stretch", key="whatif_chart")
    st.caption(
        "Influence: the prompt's score minus its score without that part (leave one out); "
        "> 0 means the part raised it."
    )
