"""Slices: where each method helps or hurts, by user activity, the test item's popularity, its base
position and its genre, paired against the base model within each slice, in accuracy and in the
beyond-accuracy metrics."""

import streamlit as st
from studio import session

from recranker_core import beyond, rundir
from recranker_core.analysis import charts, glossary, slices, tables, verdict
from recranker_core.analysis.escaping import markdown as md


@st.cache_data(show_spinner="Evaluating every slice …", max_entries=8)
def accuracy_table(_rankings, _truth, _features, _evaluation, seed, reference, methods, key):
    """Per (dimension, group, method, metric) metrics and paired differences (see ``analysis.slices``)."""
    return slices.all_slices(_rankings, _truth, _features, _evaluation, seed, reference)


@st.cache_data(show_spinner="Measuring every slice's lists …", max_entries=8)
def beyond_table(_rankings, _split, _items, _features, _evaluation, seed, reference, methods, key):
    """The same for the beyond-accuracy metrics (``analysis.slices.beyond_slices``)."""
    catalogue = beyond.Catalogue.build(_split, _items)
    return slices.beyond_slices(_rankings, catalogue, slices.groups(_features), _evaluation, seed, reference)


FORMATS = {c: st.column_config.NumberColumn(format="%.3f") for c in ("value", "ci_low", "ci_high")} | {
    c: st.column_config.NumberColumn(format="%+.3f") for c in ("delta", "delta_low", "delta_high")
}
FORMATS["p_value"] = st.column_config.NumberColumn("p", format="%.3f")

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
    f"Methods, each against {md(reference)}", others, default=short or others[:3], key="slices_methods"
)
methods = sorted(methods, key=tables.method_order)
dimension = middle.selectbox(
    "Slice by", list(slices.DIMENSIONS), key="slices_dimension", format_func=str.capitalize
)
accuracy = [f"{name}@{k}" for k in metrics["ks"] for name in ("NDCG", "HR")]
metric = right.selectbox(
    "Metric",
    accuracy + [f"{name}@{k}" for k in beyond.KS for name in beyond.NAMES],
    key="slices_metric",
    help="Accuracy first, then the beyond-accuracy metrics: " + glossary.METRICS["arp@k"],
)
if not methods:
    st.info("Pick at least one method to compare with the base model.", icon=":material/checklist:")
    st.stop()

compared = list(dict.fromkeys([*methods, *([judged] if judged else [])]))
chosen = rankings[rankings["method"].isin([reference, *compared])]
if metric in accuracy:
    table = accuracy_table(
        chosen, truth, features, config.evaluation, config.seed, reference, tuple(compared), key
    )
    lowered, raised, counted = "hurt", "helped", "the slice's users"
else:
    split, items = session.table(run, rundir.SPLIT), session.table(run, rundir.ITEMS)
    table = beyond_table(
        chosen, split, items, features, config.evaluation, config.seed, reference, tuple(compared), key
    )
    lowered, raised = "lowered", "raised"
    counted = "the slice's users both have lists for (an LLM method's: the users it reranked)"
    st.caption(f"{metric}: {glossary.help_for(metric)}")
if judged:
    st.subheader(
        f"Where {md(judged)} {lowered} and {raised} {metric} most",
        help="The judged method: " + glossary.METHODS["judged"],
    )
    low, high = (
        rows.assign(
            slice=rows["dimension"] + ": " + rows["group"],
            interval=tables.interval_text(rows, "delta", "delta_low", "delta_high", signed=True),
        )[["slice", "users", "delta", "interval", "p_value"]]
        for rows in slices.extremes(table, judged, metric)
    )
    # The difference is in the interval's cell; its number stays for sorting, hidden.
    columns = FORMATS | {"interval": st.column_config.TextColumn(f"Δ {metric} (95% interval)"), "delta": None}
    worst, best = st.columns(2)
    worst.caption(f"{lowered.capitalize()} most: {metric} minus {md(reference)}'s on {counted}, lowest first")
    worst.dataframe(low, hide_index=True, width="stretch", column_config=columns, key="slices_hurt")
    best.caption(f"{raised.capitalize()} most: highest first")
    best.dataframe(high, hide_index=True, width="stretch", column_config=columns, key="slices_helped")
    st.caption(
        "Slices of all four kinds together; a small slice has a wide interval, so read the interval first."
    )
table = table[table["method"].isin([reference, *methods])]
part = table[table["dimension"] == dimension]
st.subheader(f"By {slices.DIMENSIONS[dimension]}")
st.caption(
    f"One panel per method: its {metric} minus {md(reference)}'s on {counted}, resampled together (95% "
    f"interval). Genres of fewer than {slices.MIN_USERS} users are folded into one."
)
st.plotly_chart(charts.slice_bars(part, metric, methods, judged), width="stretch", key="slices_chart")
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
    column_config=FORMATS,
)

st.subheader("Where each method moves the test item")
changes = slices.rank_changes(chosen[chosen["method"].isin([reference, *methods])], truth, reference)
if changes.empty:
    st.info(f"None of these methods ranks a test item that {md(reference)} lists.", icon=":material/info:")
else:
    st.caption(
        f"Users whose test item is among {md(reference)}'s ten and the method ranks: how many it moved down, "
        "left in place and moved up."
    )
    counts = slices.move_counts(changes, [m for m in methods if m in set(changes["method"])])
    st.plotly_chart(charts.move_bars(counts), width="stretch", key="slices_changes")

st.subheader("These users in the User explorer")
groups = slices.groups(features)
groups = groups[groups["dimension"] == dimension].sort_values("order", kind="stable")
group = st.selectbox("Slice", groups["group"].unique().tolist(), key="slices_group")
members = groups.loc[groups["group"] == group, "user_id"].astype(str).tolist()
st.page_link(
    "views/users.py",
    label=f"Open the {len(members)} users of '{md(group)}' in the User explorer",
    icon=":material/person_search:",
    query_params={"run": run.name, "slice": f"{dimension}: {group}"},  # the explorer finds its users
)
