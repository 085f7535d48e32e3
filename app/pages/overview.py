"""Runs: pick a run (``?run=NAME``), read its manifest, metrics table and metric bars."""

from pathlib import Path

import streamlit as st
from studio import charts, tables

from recranker_core import rundir
from recranker_core.errors import InputError

NEW_RUN = "python -m recranker_core run --profile quick --dataset ml-100k --out runs/ml-100k-quick"


@st.cache_data(show_spinner=False)
def read_json(path: str, mtime: float) -> dict:
    return rundir.read_json(Path(path))


def cached_json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return read_json(str(path), path.stat().st_mtime)


st.title("RecRanker Studio")
root = rundir.runs_root()
runs = rundir.list_runs(root)
if not runs:
    st.info(f"No runs yet in `{root.resolve()}`. Create one from the project folder:", icon=":material/info:")
    st.code(NEW_RUN, language="bash")
    st.stop()

names = [run.name for run in runs]
wanted = st.query_params.get("run")
if wanted is not None and wanted not in names:
    st.warning(f"No run called {wanted!r} in `{root}`; showing the newest run instead.")
labels = {run.name: tables.run_label(run.name, run.manifest) for run in runs}
choice = st.selectbox(
    "Run", names, index=names.index(wanted) if wanted in names else 0, format_func=labels.get, key="overview_run"
)
st.query_params["run"] = choice
run = runs[names.index(choice)]
if run.problem:
    st.error(f"This run cannot be read: {run.problem}", icon=":material/error:")
    st.stop()

manifest = run.manifest or {}
dataset = manifest.get("dataset", {})
kept = dataset.get("split", {}).get("users_kept", "?")
try:
    metrics = cached_json(run.path / rundir.METRICS)
except InputError as exc:
    metrics = None
    problem = exc
left, middle, right, last = st.columns(4)
left.metric("Dataset", dataset.get("name", "?"), help=dataset.get("source"))
evaluated = metrics["test_users"] if metrics else kept
subset = metrics is not None and metrics.get("evaluation_users") == "random subset"
middle.metric(
    "Test users",
    f"{evaluated:,}" if isinstance(evaluated, int) else str(evaluated),
    help=f"a seeded random subset of the {kept} users with three or more likes" if subset else "users with three or more likes",
)
right.metric("Profile · seed", f"{manifest.get('profile', '?')} · {manifest.get('seed', '?')}")
last.metric("Created (UTC)", str(manifest.get("created", "?"))[:16].replace("T", " "))
if metrics is None:
    st.error(f"No metrics to show: {problem}", icon=":material/error:")
    st.stop()

st.subheader("Metrics")
st.caption(
    f"Mean over {metrics['test_users']:,} test users, with {metrics['ci_level']:.0%} bootstrap intervals "
    f"({metrics['bootstrap_samples']:,} resamples). Coverage: share of users whose test item is in the list."
)
table = tables.metrics_table(metrics)
number = st.column_config.NumberColumn(format="%.4f")
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={name: number for name in table.columns if "@" in name and not name.endswith("CI")},
)
st.plotly_chart(charts.metric_bars(tables.metrics_long(metrics), tables.HEADLINE), width="stretch")

with st.expander("Run details"):
    st.markdown("**Stages**")
    st.dataframe(tables.stage_table(manifest), hide_index=True)
    st.markdown("**Baseline fit and candidate time (seconds)**")
    st.dataframe(tables.baseline_timing_table(manifest), hide_index=True)
    st.markdown("**Configuration**")
    st.json(manifest.get("config", {}), expanded=False)
