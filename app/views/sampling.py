"""Sampling: which users the instruction data came from, by activity and by cluster, and the duplicates."""

import streamlit as st
from studio import sampling, session

from recranker_core import rundir
from recranker_core.analysis import charts

st.title("Sampling")
run = session.require_run()
session.require(run, rundir.USER_SAMPLING, rundir.SAMPLED_USERS)
users = session.table(run, rundir.USER_SAMPLING)
draws = session.table(run, rundir.SAMPLED_USERS)
summary = run.manifest.summary("sample")

cols = st.columns(4)
cols[0].metric("Method", summary.get("method", "?"))
cols[1].metric("Draws", f"{len(draws):,}")
cols[2].metric(
    "Distinct users",
    f"{draws['user_id'].nunique():,}",
    help=f"of {len(users):,} eligible users (two or more training likes)",
)
cols[3].metric(
    "Duplicates: pool → sample",
    f"{summary.get('pool_duplicates', '?')} → {summary.get('sample_duplicates', '?')}",
    help=(
        "entries beyond a user's first, in the adaptive pool (importance + clustering) "
        "and after the repetition penalty"
    ),
)

left, right = st.columns(2)
with left:
    st.subheader("By activity")
    st.plotly_chart(
        charts.activity_histogram(sampling.activity(users, draws)), width="stretch", key="sampling_activity"
    )
    st.caption(
        "Importance sampling draws users in proportion to ln(training likes): "
        "the sampled draws lean towards active users."
    )
with right:
    st.subheader("Duplicates before and after the penalty")
    st.plotly_chart(
        charts.duplicate_bars(sampling.duplicates(users)), width="stretch", key="sampling_duplicates"
    )
    st.caption("How many users appear 0, 1, 2, … times in the adaptive pool and in the final sample.")

st.subheader("By cluster")
session.require(run, rundir.USER_EMBEDDINGS)
embeddings = session.table(run, rundir.USER_EMBEDDINGS)
st.plotly_chart(
    charts.projection_scatter(sampling.projection(embeddings, users)),
    width="stretch",
    key="sampling_projection",
)
st.caption(
    "User embeddings of the base model projected on their first two principal components, "
    "coloured by KMeans cluster; "
    "marker size grows with the times a user was sampled, crosses were never sampled."
)
