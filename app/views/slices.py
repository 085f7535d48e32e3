"""Slices: where each method helps or hurts, by user activity, the test item's popularity, its base
position and its genre, paired against the base model within each slice."""

import streamlit as st
from studio import session

from recranker_core import rundir
from recranker_core.analysis import charts, glossary, slices, tables, verdict


@st.cache_data(show_spinner="Evaluating every slice …", max_entries=8)
def slice_table(_rankings, _truth, _features, _evaluation, seed, reference, methods, key):
    """Per (dimension, group, method, metric) metrics and paired differences (see ``analysis.slices``)."""
    return slices.all_slices(_rankings, _truth, _features, _evaluation, seed, reference)


st.title("Slices")
run = session.require_run()
session.require(run, rundir.RANKINGS, rundir.CANDIDATES, rundir.ITEMS, rundir.METRICS)
reference = session.primary(run)
metrics = session.document(run, rundir.METRICS)
others = sorted((m for m in metrics["methods"] if m != reference), key=tables.method_order)
config = session.guarded(lambda: run.manifest.config)
rankings, truth = session.table(run, rundir.RANKINGS), session.truth(run)
key = session.stamp(run)
features = session.user_features(run)

left, middle, right = st.columns([2, 1, 1])
judged = verdict.judged_method(metrics, set(metrics["methods"]))
short = [m for m in verdict.default_methods(metrics) if m != reference]
methods = left.multiselect(
    f"Methods, each against {reference}", others, default=short or others[:3], key="slices_methods"
)
dimension = middle.selectbox(
    "Slice by", list(slices.DIMENSIONS), key="slices_dimension", format_func=str.capitalize
)
names = [f"{name}@{k}" for k in metrics["ks"] for name in ("NDCG", "HR")]
metric = right.selectbox("Metric", names, key="slices_metric")
if not methods:
    st.info("Pick at least one method to compare with the base model.", icon=":material/checklist:")
    st.stop()

compared = list(dict.fromkeys([*methods, *([judged] if judged else [])]))
chosen = rankings[rankings["method"].isin([reference, *compared])]
table = slice_table(chosen, truth, features, config.evaluation, config.seed, reference, tuple(compared), key)
if judged:
    st.subheader(
        f"Where {judged} hurt and helped most", help="The judged method: " + glossary.METHODS["judged"]
    )
    hurt, helped = slices.extremes(table, judged, metric)
    formats = {c: st.column_config.NumberColumn(format="%+.3f") for c in ("delta", "delta_low", "delta_high")}
    formats["p_value"] = st.column_config.NumberColumn("p", format="%.3f")
    worst, best = st.columns(2)
    worst.caption(f"Hurt most: {metric} minus {reference}'s on the slice's users, lowest first")
    worst.dataframe(hurt, hide_index=True, width="stretch", column_config=formats, key="slices_hurt")
    best.caption("Helped most: highest first")
    best.dataframe(helped, hide_index=True, width="stretch", column_config=formats, key="slices_helped")
    st.caption(
        "Slices of all four kinds together; a small slice has a wide interval, so read the interval first."
    )
table = table[table["method"].isin([reference, *methods])]
part = table[table["dimension"] == dimension]
st.caption(
    f"Slices by {slices.DIMENSIONS[dimension]}. Bars: each method's {metric} minus {reference}'s on the "
    "slice's users, resampled together (95% interval); a small slice has a wide interval."
)
st.plotly_chart(charts.slice_bars(part, metric), width="stretch", key="slices_chart")
shown = part[part["metric"] == metric].sort_values(["order", "method"], kind="stable")
# The reference against itself: no difference (the table printed None).
own = shown["method"] == reference
shown.loc[own, ["delta", "delta_low", "delta_high"]] = 0.0
shown.loc[own, "p_value"] = 1.0
st.dataframe(
    shown[
        [
            "group",
            "users",
            "method",
            "value",
            "ci_low",
            "ci_high",
            "delta",
            "delta_low",
            "delta_high",
            "p_value",
        ]
    ],
    hide_index=True,
    width="stretch",
    key="slices_table",
    column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("value", "ci_low", "ci_high")}
    | {c: st.column_config.NumberColumn(format="%+.3f") for c in ("delta", "delta_low", "delta_high")},
)

st.subheader("Where each method moves the test item")
changes = slices.rank_changes(chosen, truth, reference)
if changes.empty:
    st.info(f"None of these methods ranks a test item that {reference} lists.", icon=":material/info:")
else:
    st.caption(f"Users whose test item is among {reference}'s ten: places each method moved it (> 0: up).")
    st.plotly_chart(charts.rank_change_histogram(changes), width="stretch", key="slices_changes")

st.subheader("These users in the User explorer")
groups = slices.groups(features)
groups = groups[groups["dimension"] == dimension].sort_values("order", kind="stable")
group = st.selectbox("Slice", groups["group"].unique().tolist(), key="slices_group")
members = groups.loc[groups["group"] == group, "user_id"].astype(str).tolist()
st.page_link(
    "views/users.py",
    label=f"Open the {len(members)} users of '{group}' in the User explorer",
    icon=":material/person_search:",
    query_params={"run": run.name, "slice": f"{dimension}: {group}"},  # the explorer finds its users
)
