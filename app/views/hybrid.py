"""Hybrid lab: weigh the three tasks and the base order yourself; metrics follow from the stored task
scores."""

import pandas as pd
import streamlit as st
from studio import session
from studio.hybrid import Weights, compare

from recranker_core import rundir
from recranker_core.analysis import charts, tables, verdict
from recranker_core.ranking import HYBRID_K, HYBRID_NDCG

YOURS, PAPER, TUNED = "your weights", "paper weights", "tuned weights"

st.title("Hybrid lab")
run = session.require_run()
session.require(run, rundir.TASK_SCORES, rundir.HYBRID)
scores = session.table(run, rundir.TASK_SCORES)
hybrid = session.document(run, rundir.HYBRID)
config = session.guarded(lambda: run.manifest.config)
table = scores[(scores["split"] == "test") & (scores["family"] == "tuned")].reset_index(drop=True)
truth = session.truth(run)
paper, tuned = Weights.of(hybrid["paper_weights"]), Weights.of(hybrid["tuned_weights"])

st.caption(
    "score = w · expected rating + a1 · pairwise wins + a2 · (10 − base position) "
    "+ a3 · max(0, 5 − listwise position). "
    f"Metrics over all {truth['user_id'].nunique():,} evaluated test users; "
    f"{table['user_id'].nunique():,} of them "
    "have their test item among the candidates, the rest score 0 for every weighting."
)
if st.button("Start from the tuned weights", key="hybrid_reset"):
    for name, value in zip(("pointwise", "pairwise", "base", "listwise"), (1.0, *hybrid["tuned_weights"])):
        st.session_state[f"hybrid_{name}"] = float(value)
        st.session_state[f"hybrid_{name}_on"] = True

sliders = {
    "pointwise": ("w · pointwise (expected rating)", 0.0, 2.0, 1.0),
    "pairwise": ("a1 · pairwise wins", 0.0, 2.0, paper.pairwise),
    "base": ("a2 · base position", 0.0, 0.5, paper.base),
    "listwise": ("a3 · listwise position bonus", 0.0, 0.5, paper.listwise),
}
values = {}
for column, (name, (label, low, high, start)) in zip(st.columns(4), sliders.items()):
    st.session_state.setdefault(f"hybrid_{name}_on", True)
    st.session_state.setdefault(f"hybrid_{name}", float(start))
    on = column.toggle(name, key=f"hybrid_{name}_on")
    value = column.slider(
        label, low, high, step=0.005 if high <= 0.5 else 0.05, key=f"hybrid_{name}", disabled=not on
    )
    values[name] = value if on else 0.0
mine = Weights(**values)

methods = compare(
    table,
    truth,
    {YOURS: mine, PAPER: paper, TUNED: tuned},
    session.primary(run),
    config.evaluation,
    config.seed,
)
long = tables.metrics_long({"methods": methods})
wide = tables.metrics_table({"methods": methods})
left, right = st.columns([3, 2])
metric = verdict.METRIC  # the verdict's; the tuned weights were chosen by validation NDCG@HYBRID_K
yours = long[(long["method"] == YOURS) & (long["metric"] == metric)]["value"].iloc[0]
paper_value = long[(long["method"] == PAPER) & (long["metric"] == metric)]["value"].iloc[0]
left.metric(f"Your {metric}", f"{yours:.4f}", delta=f"{yours - paper_value:+.4f} vs the paper's weights")
right.markdown(
    f"**Paper's weights** a1={paper.pairwise}, a2={paper.base}, a3={paper.listwise}  \n"
    f"**Tuned on validation** a1={tuned.pairwise}, a2={tuned.base}, a3={tuned.listwise} "
    f"(best validation NDCG@{HYBRID_K} over {len(hybrid.get('grid', []))} grid points)"
)
st.plotly_chart(charts.metric_bars(long, tables.HEADLINE), width="stretch", key="hybrid_bars")
st.dataframe(wide, hide_index=True, width="stretch", key="hybrid_table")
if hybrid.get("grid"):
    with st.expander("The validation grid"):
        grid = pd.DataFrame(hybrid["grid"]).sort_values(HYBRID_NDCG, ascending=False)
        st.dataframe(grid, hide_index=True, width="stretch")
