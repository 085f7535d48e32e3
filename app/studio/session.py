"""What every page shares: the run picked in the sidebar, cached readers that name a broken file,
and the user picker. The only module of the dashboard's helpers that talks to Streamlit."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from recranker_core import rundir
from recranker_core.analysis import tables
from recranker_core.analysis.escaping import markdown as md
from recranker_core.errors import InputError
from recranker_core.manifest import RunInfo, list_runs
from recranker_core.prompt_record import Prompt
from recranker_core.stages import written_by
from studio import jobs

RUN_KEY = "run"
NARROW_KEY = "run_narrow"
NARROW_PX = 768
"""Streamlit folds the sidebar away below this width; there the run picker is shown on the page."""


# Cached by path and modification time, so a run that a later stage extends is read afresh.
@st.cache_data(show_spinner=False, max_entries=64)
def _table(path: str, mtime: float) -> pd.DataFrame:
    return rundir.read_table(Path(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _json(path: str, mtime: float) -> dict[str, Any]:
    return rundir.read_json(Path(path))


@st.cache_data(show_spinner=False, max_entries=16)
def _prompts(path: str, mtime: float) -> list[Prompt]:
    return rundir.read_prompts(Path(path))


def _read(reader, path: Path):
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    return reader(str(path), path.stat().st_mtime)


def read_table(run: RunInfo, name: str) -> pd.DataFrame:
    """A Parquet file of the run (cached); raises InputError naming a missing or broken file."""
    return _read(_table, run.path / name)


def read_document(run: RunInfo, name: str) -> dict[str, Any]:
    """A JSON file of the run (cached); raises InputError naming a missing or broken file."""
    return _read(_json, run.path / name)


def table(run: RunInfo, name: str) -> pd.DataFrame:
    """:func:`read_table`, stopping the page with one line when the file is broken."""
    return guarded(read_table, run, name)


def document(run: RunInfo, name: str) -> dict[str, Any]:
    """:func:`read_document`, stopping the page with one line when the file is broken."""
    return guarded(read_document, run, name)


def items(run: RunInfo) -> pd.DataFrame:
    """The run's items with titles that tell items apart (``analysis.titles.distinct_titles``)."""
    from recranker_core.analysis.titles import distinct_titles

    return distinct_titles(table(run, rundir.ITEMS))


def prompts(run: RunInfo, file: str) -> list[Prompt]:
    """One of the run's prompt files (``rundir.TEST_PROMPTS``, ...; cached), stopping the page when it is
    broken."""
    return guarded(_read, _prompts, run.path / file)


def pick_run() -> RunInfo | None:
    """The sidebar's run selector (``?run=NAME`` deep-links one); None when there are no runs."""
    root = runs_folder()
    runs = list_runs(root)
    if not runs:
        return None
    names = [run.name for run in runs]
    url = st.query_params.get("run")
    if url is not None and url != st.session_state.get("run_url"):  # a link or a typed URL
        if url in names:
            st.session_state["current_run"] = url
        else:
            st.sidebar.warning(
                f"No run called {md(repr(url))} in {md(root)}; showing the newest run instead."
            )
    if st.session_state.get("current_run") not in names:
        st.session_state["current_run"] = names[0]
    # Streamlit forgets a widget's value when the page changes: each page's selector starts from
    # the choice kept in "current_run", which the selector's callback updates.
    st.session_state[RUN_KEY] = st.session_state[NARROW_KEY] = st.session_state["current_run"]
    labels = {run.name: tables.run_label(run.name, run.manifest) for run in runs}
    choice = st.sidebar.selectbox(
        "Run", names, format_func=labels.get, key=RUN_KEY, on_change=_remember, args=(RUN_KEY, "current_run")
    )
    # On a phone the sidebar is folded away: the same choice on the page itself, shown only there.
    with st.container(key="narrow_run"):
        st.selectbox(
            "Run",
            names,
            format_func=labels.get,
            key=NARROW_KEY,
            on_change=_remember,
            args=(NARROW_KEY, "current_run"),
        )
    st.html(f"<style>@media (min-width: {NARROW_PX}px) {{ .st-key-narrow_run {{ display: none; }} }}</style>")
    st.session_state["run_url"] = choice
    st.query_params["run"] = choice
    with st.sidebar:
        builds_panel()
    return runs[names.index(choice)]


@st.fragment(run_every=3)
def builds_panel() -> None:
    """The runs being built in the runs folder (``jobs.builds``), followed live: the whole page runs again
    whenever one of them finishes a stage, so that its new results show."""
    job = jobs.current()  # a run started here has its own panel (job_progress)
    current = {b.name: b for b in jobs.builds(rundir.runs_root()) if job is None or b.name != job.name}
    progress = {name: build.done for name, build in current.items()}
    before = st.session_state.get("builds_seen")
    st.session_state["builds_seen"] = progress
    if before is not None and progress != before:
        st.rerun(scope="app")
    for build in current.values():
        doing = f"{build.running} …" if build.running else "starting …"
        st.progress(
            build.fraction, text=f"Building **{md(build.name)}**: {md(doing)} ({build.done}/{build.planned})"
        )


def _go(key: str, by_text: dict[str, Any]) -> None:
    typed = st.session_state[f"{key}_exact"].strip()
    st.session_state["user_missing"] = None if typed in by_text or not typed else typed
    if typed in by_text:
        st.session_state["user"] = st.session_state[key] = by_text[typed]


def _remember(widget: str, shared: str) -> None:
    st.session_state[shared] = st.session_state[widget]


def require_run() -> RunInfo:
    """The run picked in the sidebar, or (no runs / unreadable run) a clear message and a way on,
    then stop."""
    run = pick_run()
    if run is None:
        no_runs()
        st.stop()
    if run.problem:
        st.error(f"This run cannot be read: {md(run.problem)}", icon=":material/error:")
        st.caption("Pick another run in the sidebar, or re-create this one with `--overwrite`.")
        st.stop()
    return run


def require(run: RunInfo, *names: str) -> None:
    """Stop with the next step when a file that a stage writes is missing."""
    for name in names:
        if not (run.path / name).exists():
            stage = written_by(name)
            if run.manifest.done(stage):
                st.warning(
                    f"Run **{md(run.name)}** records its `{stage}` stage as done, but `{name}` is not in "
                    f"{md(run.path)} (was it run on another machine?). Copy it there to use this page.",
                    icon=":material/folder_off:",
                )
                st.stop()
            command = run.manifest.get("command", f"python -m recranker_core run --out {run.path}")
            st.info(
                f"Run **{md(run.name)}** has no `{name}` yet: the `{stage}` stage writes it. "
                "Finish the run (it resumes where it stopped):",
                icon=":material/hourglass_empty:",
            )
            st.code(command, language="bash")
            st.stop()


def guarded(read, *args):
    """Call a reader; a broken file stops the page with one line naming it."""
    try:
        return read(*args)
    except InputError as exc:
        st.error(f"This run has a broken file: {md(exc)}", icon=":material/error:")
        st.caption("Re-create the run with `--overwrite`, or pick another run in the sidebar.")
        st.stop()


def failed(exc: Exception) -> None:
    """A page that stopped on something it read: one line naming the run and the error, the details folded
    (a run damaged in a way the readers do not check, or a bug, must not end a page in a traceback)."""
    name = st.session_state.get("current_run", "?")
    st.error(
        f"This page could not show run **{md(name)}**: {type(exc).__name__}: {md(exc)}",
        icon=":material/error:",
    )
    st.caption(
        "Its files may be damaged or written by another version: re-create the run with `--overwrite`, "
        "or pick another run in the sidebar."
    )
    with st.expander("Details"):
        st.code("".join(traceback.format_exception(exc)), language="text")


def runs_folder(*, write: bool = False) -> Path:
    """The runs folder (``rundir.runs_root``), or one line saying why it cannot be used, and stop."""
    try:
        return rundir.runs_root(write=write)
    except InputError as exc:
        st.error(f"The runs folder cannot be used: {md(exc)}", icon=":material/folder_off:")
        st.caption(md(f"Point ${rundir.RUNS_ENV} at a folder you can read (and write, to start runs here)."))
        st.stop()


def no_runs() -> None:
    root = rundir.runs_root()
    st.info(
        f"No runs yet in {md(root)}. Start one here, or from the project folder:",
        icon=":material/info:",
    )
    st.code(jobs.command("quick", root / "ml-100k-quick"), language="bash")
    builds_panel()
    job = jobs.current()
    if job is None and not jobs.builds(root):
        left, right = st.columns(2)
        smoke = left.button(
            "Start a smoke run (about a minute)", key="start_smoke", icon=":material/play_arrow:"
        )
        quick = right.button(
            "Start a quick run (about 15 minutes)", key="start_quick", icon=":material/play_arrow:"
        )
        if smoke or quick:
            jobs.start(runs_folder(write=True), "smoke" if smoke else "quick")
            st.rerun()
    job_progress()


@st.fragment(run_every=2)
def job_progress() -> None:
    job = jobs.current()
    if job is None:
        return
    state = job.state()
    if state.finished and state.returncode == 0:
        st.success(f"Run **{md(job.name)}** is ready.", icon=":material/check_circle:")
        if st.button("Open it", key="open_new_run", type="primary"):
            jobs.forget()
            st.query_params["run"] = job.name
            st.rerun(scope="app")
        return
    if state.finished:
        st.error(
            f"The {md(job.profile)} run failed (exit {state.returncode}): {md(state.last_line)}",
            icon=":material/error:",
        )
        st.caption(f"Full log: {md(job.log)}")
        if st.button("Dismiss", key="dismiss_job"):
            jobs.forget()
            st.rerun(scope="app")
        return
    st.progress(state.fraction, text=f"{md(job.profile)} run: {md(state.last_line)}")


@st.cache_resource(show_spinner="Loading the model and adapter (once per run)…", max_entries=2)
def _tuned_model(path: str, trained: str):
    from recranker_core.manifest import Manifest
    from recranker_core.runfiles import load_tuned_on_cpu

    return load_tuned_on_cpu(Path(path), Manifest.read(Path(path)))


def tuned_model(run: RunInfo):
    """(model, tokenizer) of the run's tuned model, loaded once per run (and again when it is retrained)."""
    return _tuned_model(str(run.path), run.manifest.stage("train").get("ended", ""))


@st.cache_resource(show_spinner="Fitting {name} on the run's training rows (once per run)…", max_entries=8)
def _hint_model(path: str, name: str, fitted: str):
    from recranker_core.analysis.hintmodels import refit

    return refit(Path(path), name)


def hint_model(run: RunInfo, name: str):
    """The run's model ``name`` fitted again as its hint models were, once per run (see
    ``analysis.hintmodels.refit``)."""
    return _hint_model(str(run.path), name, run.manifest.stage("baselines").get("ended", ""))


# The run's folder and its files' modification times key the cache: the tables themselves (with list
# columns) are not hashed.
@st.cache_data(show_spinner=False, max_entries=8)
def _features(_split, _items, _candidates, _truth, primary, key):
    from recranker_core.analysis import slices

    return slices.user_features(_split, _items, _candidates, _truth, primary)


def stamp(run: RunInfo) -> tuple:
    """A cache key for what the run's rankings and split hold: its folder and their modification times."""
    return (str(run.path), *((run.path / name).stat().st_mtime for name in (rundir.RANKINGS, rundir.SPLIT)))


def user_features(run: RunInfo) -> pd.DataFrame:
    """Each evaluated user's activity, test item popularity, base position and genres (once per run; see
    ``analysis.slices.user_features``): what the slices group users by."""
    key = stamp(run)
    primary = guarded(lambda: run.manifest.config.baselines.primary)
    tables = (table(run, name) for name in (rundir.SPLIT, rundir.ITEMS, rundir.CANDIDATES))
    return _features(*tables, truth(run), primary, key)


def slice_members(run: RunInfo, name: str) -> list[str] | None:
    """The user ids (as text) of the slice called ``name`` ("dimension: group", as the Slices page links
    it), or None for a name no slice has."""
    from recranker_core.analysis import slices

    dimension, _, group = name.partition(": ")
    members = slices.groups(user_features(run))
    rows = members[(members["dimension"] == dimension) & (members["group"] == group)]
    return rows["user_id"].astype(str).tolist() if len(rows) else None


def judged(run: RunInfo, rankings: pd.DataFrame) -> str | None:
    """The run's judged method (``analysis.verdict.judged_method``), the one every page follows."""
    from recranker_core.analysis.verdict import judged_method

    try:
        metrics = read_document(run, rundir.METRICS)
    except InputError:
        metrics = {}
    return judged_method(metrics, set(rankings["method"]))


def pick_user(users: pd.DataFrame, key: str, label: str = "Test user") -> Any:
    """A searchable user selector over ``users`` (user_id and a ``label`` column); ``?user=ID`` picks one.

    The choice is shared by the pages (session state ``user``) and kept in the URL."""
    if users.empty:
        return None
    ids = users["user_id"].tolist()
    labels = dict(zip(ids, users["label"]))
    by_text = {str(user): user for user in ids}
    url = st.query_params.get("user")
    if (
        url is not None and url != st.session_state.get("user_url") and url in by_text
    ):  # a link or a typed URL
        st.session_state["user"] = by_text[url]
    if st.session_state.get("user") not in labels:
        st.session_state["user"] = ids[0]
    st.session_state[key] = st.session_state["user"]
    left, right = st.columns([3, 1])
    user = left.selectbox(
        label, ids, format_func=labels.get, key=key, on_change=_remember, args=(key, "user")
    )
    # The selector's search matches any part of a label ("54" finds 154 and 549): an exact id goes here.
    right.text_input(
        "Go to user id", key=f"{key}_exact", placeholder="e.g. 54", on_change=_go, args=(key, by_text)
    )
    if st.session_state.get("user_missing"):
        st.warning(
            f"No user {md(repr(st.session_state['user_missing']))} here.", icon=":material/person_off:"
        )
    st.session_state["user_url"] = str(user)
    st.query_params["user"] = str(user)
    return user


@st.cache_data(show_spinner=False, max_entries=16)
def _truth(path: str, stamp: tuple[float, ...]) -> pd.DataFrame:
    from recranker_core.runfiles import evaluation_truth

    return evaluation_truth(Path(path))


def truth(run: RunInfo) -> pd.DataFrame:
    """user_id, item_id of the evaluated test items (see ``runfiles.evaluation_truth``)."""
    files = (run.path / rundir.SPLIT, run.path / rundir.EVALUATION_USERS)
    return guarded(_truth, str(run.path), tuple(f.stat().st_mtime for f in files if f.is_file()))


def primary(run: RunInfo) -> str:
    """The method name of the base model whose candidates the LLM reranks."""
    return guarded(lambda: run.manifest.primary_method)


def scale(split: pd.DataFrame) -> tuple[int, int]:
    """The rating scale the prompts asked for, by the rule the run used."""
    from recranker_core.data.split import Split

    return Split(split, 0).rating_scale()
