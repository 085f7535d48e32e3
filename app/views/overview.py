"""Runs: the picked run's manifest, metrics with CIs, change over the base model, a second run beside it."""

import streamlit as st
from studio import session

from recranker_core import rundir
from recranker_core.analysis import charts, glossary, tables, verdict
from recranker_core.analysis.escaping import markdown as md
from recranker_core.beyond import NAMES as BEYOND
from recranker_core.errors import InputError
from recranker_core.manifest import list_runs
from recranker_core.methods import Method


def differences(table, label: str, key: str) -> None:
    """A table of paired differences (value, ci_low, ci_high, p_value, verdict), each difference and its
    interval in one cell; the numbers stay in the table (hidden) for sorting and the tests."""
    st.dataframe(
        table.assign(interval=tables.interval_text(table, signed=True)),
        hide_index=True,
        width="stretch",
        column_order=[c for c in ("against", "method", "interval", "p_value", "verdict") if c in table],
        column_config={
            "interval": st.column_config.TextColumn(f"{label} (95% interval)"),
            "p_value": st.column_config.NumberColumn("p", format="%.3f"),
            "verdict": st.column_config.TextColumn("interval excludes 0"),
        },
        key=key,
    )


st.title("Runs")
run = session.require_run()
manifest = run.manifest
dataset = manifest.dataset
kept = dataset.get("split", {}).get("users_kept", "?")
try:
    metrics = session.read_document(run, rundir.METRICS)
except InputError as exc:
    metrics, problem = None, exc

left, middle, right, last = st.columns(4)
left.metric("Dataset", md(dataset.get("name", "?")), help=md(dataset.get("source", "?")))
evaluated = metrics["test_users"] if metrics else kept
subset = metrics is not None and metrics.get("evaluation_users") == "random subset"
middle.metric(
    "Test users",
    f"{evaluated:,}" if isinstance(evaluated, int) else md(evaluated),
    help=f"a seeded random subset of the {md(kept)} users with three or more likes"
    if subset
    else "users with three or more likes",
)
right.metric("Profile", md(manifest.get("profile", "?")), help=md(f"seed {manifest.get('seed', '?')}"))
last.metric("Model", md(session.guarded(lambda: manifest.config.llm.model)))
data_facts = [
    dataset.get("format"),
    dataset.get("scale") and f"ratings {dataset['scale']}",
    (like := dataset.get("split", {}).get("like_threshold")) is not None and f"likes ≥ {like:g}",
    dataset.get("order") and f"order: {dataset['order']}",
]
st.caption(
    md(
        " · ".join(
            [
                f"Created {str(manifest.get('created', '?'))[:16].replace('T', ' ')} UTC",
                f"seed {manifest.get('seed', '?')}",
                *filter(None, data_facts),
            ]
        )
    )
)
if metrics is None:
    st.error(f"No metrics to show: {md(problem)}", icon=":material/error:")
    st.stop()

judged = tables.verdict(metrics)
if len(judged):
    selected = metrics["selected"]
    st.subheader("Does the LLM beat its base model?", help=glossary.METHODS["judged"])
    with st.container(border=True):
        text = verdict.sentence(metrics)
        head, _, rest = text.partition(": ")
        st.markdown(f"**{md(head)}**: {md(rest)}")
        found = session.guarded(
            lambda: verdict.findings(
                metrics,
                session.read_table(run, rundir.LLM_OUTPUTS),
                session.read_table(run, rundir.TASK_SCORES),
                session.read_table(run, rundir.RANKINGS),
            )
        )
        st.markdown("\n".join(f"- {md(line)}" for line in found))
    differences(judged, "Δ NDCG@3", key="verdict")
    st.caption(
        f"{md(selected['method'])} was chosen by {md(selected['chosen_by'])} among the LLM methods before "
        "any test number was read; its test NDCG@3 minus each rival's on the same users and resamples. "
        "control:hints fuses the hint models' scores with the base score, no LLM: beating the base but not "
        "it means the hints did the work."
    )

st.subheader("Metrics", help=glossary.METRICS["HR@k"] + " " + glossary.METRICS["NDCG@k"])
st.caption(
    f"Mean over {metrics['test_users']:,} test users, with {metrics['ci_level']:.0%} bootstrap intervals "
    f"({metrics['bootstrap_samples']:,} resamples). Coverage: share of users whose test item is in the list."
)
table = tables.metrics_table(metrics)  # every method, numbers and intervals: the CSV download
short = verdict.default_methods(metrics)
every = st.toggle(
    f"Show every method ({len(metrics['methods'])})",
    key="overview_every_method",
    help="First: the reference, the judged method, the no-LLM control, the three tasks and the hybrid.",
    disabled=len(short) == len(metrics["methods"]),
)
shown = None if every else short
compact = tables.metrics_compact(metrics, shown)
judged_name = verdict.judged_method(metrics, set(metrics["methods"]))
st.dataframe(
    compact.style.apply(
        lambda row: [charts.JUDGED_STYLE if row["method"] == judged_name else ""] * len(row), axis=1
    ),
    hide_index=True,
    width="stretch",
    column_config={
        "coverage": st.column_config.NumberColumn(
            format="%.3f", help=glossary.METRICS["coverage (accuracy table)"]
        ),
        **{
            name: st.column_config.TextColumn(help=glossary.help_for(name))
            for name in compact.columns
            if "@" in name
        },
    },
    key="metrics_table",
)
long = tables.metrics_long(metrics)
st.plotly_chart(
    charts.metric_bars(
        long if every else long[long["method"].isin(short)], tables.HEADLINE, judged=judged_name
    ),
    width="stretch",
    key="metric_bars",
)
if "seeds" in metrics:
    seeds = metrics["seeds"]["seeds"]
    st.subheader(f"Across {len(seeds)} seeds")
    st.dataframe(tables.seed_table(metrics), hide_index=True, width="stretch")
    st.caption(
        f"Mean ± standard deviation over the seeds {', '.join(map(str, seeds))}: sampling, prompts, "
        "training and rerank repeated on the same candidates and test users, so the spread is training "
        "noise. The table above is the first seed."
    )

beyond = tables.beyond_table(metrics)
beyond = beyond if every else beyond[beyond["method"].isin(short)]
if len(beyond):
    st.subheader("Beyond accuracy: does the LLM push popular items?")
    rerank_users = session.guarded(lambda: manifest.config.prompts.rerank_users)
    st.dataframe(
        beyond,
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(
                format="%+.3f" if c.startswith("Δ") else "%.3f", help=glossary.help_for(f"{c}@5")
            )
            for c in beyond.columns
            if c not in ("method", "users")
        },
        key="beyond",
    )
    st.caption(
        "At k = 5. coverage: distinct items in the top 5 lists / the catalogue; arp: mean popularity "
        "(share of users who rated an item in training) of the top 5; tail: share outside the 20% most "
        "popular items; novelty: mean −log2 popularity; ild: mean genre distance within a list; "
        "miscalibration: KL of the user's training genres from the list's. Each over the users the method "
        f"has lists for (`users`; the LLM methods rerank the `{rerank_users}` users, "
        "`[prompts] rerank_users`); Δ: minus "
        f"{md(metrics.get('reference'))} over the users both have. Intervals and p: metrics.json `beyond`."
    )
    pushed = tables.beyond_deltas(metrics)
    pushed = pushed if every else pushed[pushed["method"].isin(short)]
    names = [f"{name}@5" for name in BEYOND]
    shown = st.segmented_control("Difference in", names, default="arp@5", key="overview_beyond_metric")
    st.plotly_chart(
        charts.delta_bars(pushed, shown or "arp@5", against=metrics.get("reference"), judged=judged_name),
        width="stretch",
        key="beyond_deltas",
    )

reference = metrics.get("reference")
change = tables.deltas(metrics)
change = change if every else change[change["method"].isin(short)]
if len(change):
    st.subheader(f"Change over the base model ({md(reference)})", help=glossary.METRICS["paired difference"])
    metric = (
        st.segmented_control("Metric", tables.HEADLINE, default="NDCG@3", key="overview_change_metric")
        or "NDCG@3"
    )
    st.plotly_chart(charts.delta_bars(change, metric, judged=judged_name), width="stretch", key="deltas")
    differences(change[change["metric"] == metric].drop(columns="metric"), f"Δ {metric}", key="delta_table")
    st.caption(
        f"Each method minus {md(reference)} on the same test users, over the same bootstrap resamples "
        f"({metrics['ci_level']:.0%} interval, two-sided bootstrap p). "
        f"{md(reference)} ranks the same ten candidates "
        "the LLM methods rerank; the other base models rank their own."
    )
elif len(metrics["methods"]) > 1:
    st.caption(
        "This run's metrics.json has no paired differences: recompute it with "
        "`python -m recranker_core evaluate --run RUN`."
    )
if all(Method.parse(m).family == "base" for m in metrics["methods"]):
    st.caption(
        "No LLM methods in this run yet: its LLM stages have not run "
        "(finish it with the command in *Run details*)."
    )

with st.expander("Glossary: every method and metric", icon=":material/menu_book:"):
    st.markdown(glossary.markdown())

downloads = st.columns(4)
downloads[0].download_button(
    "Metrics (CSV)",
    table.to_csv(index=False),
    file_name=f"{run.name}-metrics.csv",
    mime="text/csv",
    icon=":material/download:",
    key="download_metrics",
)
rankings_file = run.path / rundir.RANKINGS
downloads[1].download_button(
    "Rankings (Parquet)",
    rankings_file.read_bytes,
    file_name=f"{run.name}-rankings.parquet",
    mime="application/vnd.apache.parquet",
    icon=":material/download:",
    key="download_rankings_parquet",
)


def rankings_csv() -> str:
    from recranker_core.runfiles import evaluation_truth

    rankings = session.read_table(run, rundir.RANKINGS)
    return tables.rankings_with_titles(rankings, session.items(run), evaluation_truth(run.path)).to_csv(
        index=False
    )


downloads[2].download_button(
    "Rankings with titles (CSV)",
    rankings_csv,
    file_name=f"{run.name}-rankings.csv",
    mime="text/csv",
    icon=":material/download:",
    key="download_rankings_csv",
)


def report_html() -> str:
    from recranker_core.analysis import report

    compared = st.session_state.get("overview_compare") or []
    return report.build(run.path, tuple(rundir.run_path(rundir.runs_root(), name) for name in compared))


downloads[3].download_button(
    "Report (HTML)",
    report_html,
    file_name=f"{run.name}-report.html",
    mime="text/html",
    icon=":material/summarize:",
    key="download_report",
    help=(
        "One self-contained file for stakeholders: settings, metrics with intervals and paired "
        "differences, slices, position bias, hybrid weights, user stories, and the runs picked under "
        "'Compare with other runs'."
    ),
)


def compare_runs(documents: dict, configs: dict) -> None:
    names = tuple(documents)
    long = tables.compare_runs(documents)
    metric = (
        st.segmented_control("Metric", tables.HEADLINE, default="NDCG@5", key="overview_compare_metric")
        or "NDCG@5"
    )
    differences = [c for c in tables.compare_wide(long, metric, names).columns if " − " in c]
    st.dataframe(
        tables.compare_wide(long, metric, names),
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%+.3f") for c in differences},
        key="compare_table",
    )
    st.plotly_chart(
        charts.metric_bars(long[long["metric"] == metric], names, by="run", ytitle=metric),
        width="stretch",
        key="compare_bars",
    )
    st.caption("Methods every run has. Intervals are each run's own; the runs' test users may differ.")
    st.markdown("**Settings that differ**")
    st.dataframe(tables.settings_diff(configs), hide_index=True, width="stretch", key="compare_settings")


others = [r for r in list_runs(rundir.runs_root()) if r.name != run.name and r.manifest]
with st.expander("Compare with other runs", expanded=False):
    if not others:
        st.caption("There is no other run to compare with.")
    else:
        labels = {r.name: tables.run_label(r.name, r.manifest) for r in others}
        chosen = st.multiselect("Other runs", list(labels), format_func=labels.get, key="overview_compare")
        picked = [r for r in others if r.name in chosen]
        try:
            documents = {run.name: metrics} | {
                r.name: session.read_document(r, rundir.METRICS) for r in picked
            }
            configs = {r.name: r.manifest.config.to_dict() for r in (run, *picked)}
        except InputError as exc:
            st.error(f"Cannot read a run to compare with: {md(exc)}", icon=":material/error:")
        else:
            if picked:
                compare_runs(documents, configs)

# Drawn only while open: its tables and configuration cost the first page about a second in the browser.
details = st.expander("Run details", key="overview_details", on_change="rerun")
if details.open:
    with details:
        st.markdown("**Command**")
        st.code(manifest.get("command", "?"), language="bash")
        st.markdown("**Stages**")
        st.dataframe(tables.stage_table(manifest), hide_index=True)
        st.markdown("**Baseline fit and candidate time (seconds)**")
        st.dataframe(tables.baseline_timing_table(manifest), hide_index=True)
        cost = tables.llm_cost_table(manifest)
        if not cost.empty:
            st.markdown("**LLM stages: device, precision and throughput**")
            st.dataframe(cost, hide_index=True)
        st.markdown("**Configuration**")
        st.json(manifest.get("config", {}), expanded=False)
