"""The stakeholder report: one self-contained HTML file (plotly inline, nothing fetched) with a run's
settings, metrics with intervals and paired differences, the main plots, slices and user stories.

`python -m recranker_core report --run RUN [--compare RUN ...] --out FILE.html`, and the Runs page's
download button, write the same file."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from recranker_core import rundir
from recranker_core.analysis import bias, charts, escaping, slices, stories, tables, verdict
from recranker_core.analysis.titles import distinct_titles, title_map
from recranker_core.errors import InputError
from recranker_core.manifest import Manifest

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2rem auto; padding: 0 1rem; }
body { color: #212529; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #dee2e6; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1rem; }
table { display: block; overflow-x: auto; } /* a wide table scrolls inside itself */
th, td { border: 1px solid #dee2e6; padding: 0.25rem 0.5rem; text-align: left; }
th { background: #f1f3f5; } .muted { color: #868e96; } .test { background: #fff3bf; font-weight: 600; }
.lists { display: flex; gap: 2rem; } pre { white-space: pre-wrap; background: #f8f9fa; padding: 0.6rem; }
.better { color: #2b8a3e; font-weight: 600; } .worse { color: #c92a2a; font-weight: 600; }
"""
METRIC = verdict.METRIC


def build(run: Path, compare: tuple[Path, ...] = ()) -> str:
    """The report of the run folder ``run`` (and its comparison with the runs in ``compare``) as HTML:
    the answer first (verdict, findings and three charts), then the details."""
    manifest = Manifest.read(run)
    metrics = _read(run, rundir.METRICS, rundir.read_json)
    figures = _Figures()
    sections = [
        _heading(run),
        _answer(run, metrics, figures),
        "<h2 class='part'>Details</h2>",
        _facts(manifest, metrics),
        _rivals(metrics),
        _metrics(metrics, figures),
        _beyond(metrics),
        _slices(run, manifest, metrics, figures),
        _hybrid(run),
        _stories(run, manifest, metrics),
        _comparison(run, manifest, metrics, compare, figures),
        _settings(manifest),
    ]
    return page(f"RecRanker report: {run.name}", "\n".join(section for section in sections if section))


def page(title: str, body: str) -> str:
    """A whole self-contained HTML document in the report's style, under a policy that runs only the
    scripts ``body`` holds and loads nothing from outside (:func:`escaping.policy`)."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{escaping.policy(body)}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"  # a phone: no zoomed-out page
        f"<title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def write(run: Path, out: Path, compare: tuple[Path, ...] = ()) -> Path:
    """Write :func:`build`'s report to ``out`` (a new or replaced .html file)."""
    if out.suffix.lower() != ".html":
        raise InputError(f"--out {out}: name an .html file")
    if out.is_symlink():  # the report is written whole and renamed into place, which replaces a link
        raise InputError(f"--out {out}: is a symbolic link; give the file itself (or a new name)")
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; name an .html file")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: {out.parent} is not a folder")
    document = build(run, compare)
    rundir.write_text(out, document)
    return out


def user_story(run: Path, user) -> str:
    """One test user's story as a self-contained HTML page: the run's verdict, the held-out item, the
    reference's and the judged method's lists, the prompt the model read and the user's history."""
    from recranker_core.runfiles import evaluation_truth

    manifest = Manifest.read(run)
    metrics = _read(run, rundir.METRICS, rundir.read_json)
    rankings = rundir.read_table(run / rundir.RANKINGS)
    reference = manifest.primary_method
    method = verdict.judged_method(metrics, set(rankings["method"])) or reference
    prompts_file = run / rundir.TEST_PROMPTS
    prompts = rundir.read_prompts(prompts_file) if prompts_file.is_file() else []
    told = stories.story(rankings, evaluation_truth(run), prompts, user, method, reference)
    items = distinct_titles(rundir.read_table(run / rundir.ITEMS))
    titles = dict(zip(items["item_id"], items["title"]))
    history = stories.history(rundir.read_table(run / rundir.SPLIT), items, user)  # the explorer's
    said = verdict.sentence(metrics)
    body = (
        f"<h1>User {html.escape(str(user))}: {html.escape(method)} against {html.escape(reference)}</h1>"
        f"<p class='muted'>From the run {html.escape(run.name)}, by RecRanker Studio."
        + (f" The run's verdict: {html.escape(said)}." if said else "")
        + "</p>"
        + _story(told, titles, method, reference)
        + f"<h3>History: {len(history)} rated before the test item, most recent first</h3>"
        + _html_table(history)
    )
    return page(f"RecRanker story: user {user} in {run.name}", body)


class _Figures:
    """plotly figures as HTML: the first carries plotly.js inline, the rest use it."""

    def __init__(self):
        self.count = 0

    def __call__(self, figure) -> str:
        self.count += 1
        return figure.to_html(
            full_html=False, include_plotlyjs=self.count == 1, config={"displaylogo": False}
        )


def _heading(run: Path) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<h1>RecRanker report: {html.escape(run.name)}</h1><p class='muted'>Made {when} by RecRanker "
        "Studio. Every interval is a 95% bootstrap interval over the evaluated test users; every difference "
        "is paired (same users, same resamples) against the base model whose candidates the LLM reranks."
        "</p>"
    )


def _answer(run: Path, metrics: dict, figure) -> str:
    """The verdict, the measured findings and three charts: the paired difference in accuracy, the
    position bias, and the difference in how popular the listed items are."""
    said = verdict.sentence(metrics)
    parts = ["<h2>The answer</h2>"]
    if said:
        answer, _, rest = said.partition(": ")
        found = verdict.findings(
            metrics,
            rundir.read_table(run / rundir.LLM_OUTPUTS),
            rundir.read_table(run / rundir.TASK_SCORES),
            rundir.read_table(run / rundir.RANKINGS),
        )
        parts.append(
            f"<p class='verdict'><b>{html.escape(answer)}</b>: {html.escape(rest)}</p><ul>"
            + "".join(f"<li>{html.escape(line)}</li>" for line in found)
            + "</ul>"
        )
    short, judged = verdict.default_methods(metrics), verdict.judged_method(metrics, set(metrics["methods"]))
    reference = metrics["reference"]
    accuracy = tables.deltas(metrics)
    if len(accuracy):
        parts += [
            f"<h3>Does the LLM beat {html.escape(reference)}?</h3>",
            figure(charts.delta_bars(accuracy[accuracy["method"].isin(short)], METRIC, reference, judged)),
        ]
    parts.append(_bias(run, figure))
    popular = tables.beyond_deltas(metrics)
    if len(popular):
        parts += [
            "<h3>Does it push popular items?</h3><p class='muted'>arp@5: the mean popularity (share of "
            "users who rated an item in training) of the top 5, minus the reference's on the same users.</p>",
            figure(charts.delta_bars(popular[popular["method"].isin(short)], "arp@5", reference, judged)),
        ]
    return "".join(parts)


def _facts(manifest: Manifest, metrics: dict) -> str:
    config = manifest.config
    facts = {
        "dataset": manifest.dataset.get("name", "?"),
        "profile": manifest.get("profile", "?"),
        "model": config.llm.model,
        "base model (reranked)": manifest.primary_method,
        "evaluated test users": metrics["test_users"],
        "created": manifest.get("created", "?"),
    }
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items()
    )
    return f"<h3>The run</h3><table>{rows}</table>"


def _rivals(metrics: dict) -> str:
    judged = tables.verdict(metrics, METRIC)
    if judged.empty:
        return ""
    selected, indexed = metrics["selected"], judged.set_index("against")
    rows = "".join(
        f"<tr><th>{html.escape(rival)}</th><td>{_delta_text(indexed, rival)}</td>"
        f"<td>{indexed.loc[rival, 'p_value']:.3f}</td></tr>"
        for rival in indexed.index
    )
    return (
        f"<h3>The judged method against its rivals</h3><p>Judged method: "
        f"<b>{html.escape(selected['method'])}</b>, chosen by {html.escape(selected['chosen_by'])} before "
        f"any test number was read. Its test {METRIC} minus each rival's, paired; control:hints fuses the "
        "hint models' scores with the base score and no LLM.</p>"
        f"<table><tr><th>against</th><th>Δ {METRIC}</th><th>p</th></tr>{rows}</table>"
    )


def _beyond(metrics: dict) -> str:
    table = tables.beyond_table(metrics)
    if table.empty:
        return ""
    return (
        "<h3>Beyond accuracy</h3><p class='muted'>At k = 5, each method "
        "over the users it has lists for; Δ: minus the reference over the users both have (definitions: "
        "docs/run-format.md).</p>" + _html_table(table)
    )


def _metrics(metrics: dict, figure) -> str:
    long = tables.metrics_long(metrics)
    headline = long[long["metric"].isin(tables.HEADLINE)]
    headline = headline.assign(text=tables.interval_text(headline))
    table = headline.pivot(index="method", columns="metric", values="text")[list(tables.HEADLINE)]
    table = table.loc[list(dict.fromkeys(headline["method"]))].rename_axis(columns=None).reset_index()
    paired = tables.deltas(metrics)
    paired = paired[paired["metric"] == METRIC].set_index("method")
    table[f"Δ {METRIC}"] = table["method"].map(lambda m: _delta_text(paired, m))
    table["method"] = table["method"].map(html.escape)  # the table is written unescaped for its Δ cells
    judged = verdict.judged_method(metrics, set(metrics["methods"]))
    return (
        "<h3>Metrics</h3>"
        + _html_table(table, escape=False)
        + figure(charts.metric_bars(headline, tables.HEADLINE, judged=judged))
    )


def _delta_text(deltas: pd.DataFrame, method: str) -> str:
    if method not in deltas.index:
        return "–"
    row = deltas.loc[[method]]
    text, verdict_ = tables.interval_text(row, signed=True).iloc[0], row["verdict"].iloc[0]
    text = html.escape(text)
    return f"<span class='{html.escape(verdict_)}'>{text}</span>" if verdict_ else text


def _slices(run: Path, manifest: Manifest, metrics: dict, figure) -> str:
    """The judged method's paired difference by each kind of slice."""
    if not all((run / f).is_file() for f in (rundir.RANKINGS, rundir.SPLIT, rundir.CANDIDATES)):
        return ""
    from recranker_core.runfiles import evaluation_truth

    config, reference = manifest.config, manifest.primary_method
    rankings, truth = rundir.read_table(run / rundir.RANKINGS), evaluation_truth(run)
    judged = verdict.judged_method(metrics, set(rankings["method"]))
    if judged is None:
        return ""
    features = slices.user_features(
        rundir.read_table(run / rundir.SPLIT),
        rundir.read_table(run / rundir.ITEMS),
        rundir.read_table(run / rundir.CANDIDATES),
        truth,
        config.baselines.primary,
    )
    chosen = rankings[rankings["method"].isin([reference, judged])]
    table = slices.all_slices(chosen, truth, features, config.evaluation, config.seed, reference)
    parts = [f"<h3>Slices: {html.escape(judged)}'s {METRIC} minus {html.escape(reference)}'s</h3>"]
    for dimension, text in slices.DIMENSIONS.items():
        parts += [
            f"<h4>By {html.escape(text)}</h4>",
            figure(charts.slice_bars(table[table["dimension"] == dimension], METRIC, [judged], judged)),
        ]
    return "".join(parts)


def _bias(run: Path, figure) -> str:
    if not (run / rundir.LLM_OUTPUTS).is_file():
        return ""
    split = rundir.read_table(run / rundir.SPLIT)
    truth = bias.targets(
        split.loc[split["role"] == "test", ["user_id", "item_id"]],
        split.loc[split["role"] == "valid", ["user_id", "item_id"]],
    )
    per_prompt = bias.listwise_positions(rundir.read_table(run / rundir.LLM_OUTPUTS), truth)
    if per_prompt.empty:
        return ""
    return (
        "<h3>Does it copy the order it was shown?</h3><p class='muted'>Listwise: how often the held-out "
        "item is the model's first choice, by the position it was shown at (a flat profile means no "
        "position bias).</p>" + figure(charts.position_accuracy(bias.accuracy_by_position(per_prompt)))
    )


def _hybrid(run: Path) -> str:
    if not (run / rundir.HYBRID).is_file():
        return ""
    hybrid = rundir.read_json(run / rundir.HYBRID)
    weights = pd.DataFrame(
        [hybrid["paper_weights"], hybrid["tuned_weights"]],
        index=["paper", "tuned on validation users"],
        columns=["a1 · pairwise wins", "a2 · base position", "a3 · listwise position"],
    )
    return (
        "<h3>Hybrid weights</h3><p>score = expected rating + a1 · pairwise wins + a2 · (10 − base position) "
        f"+ a3 · (5 − listwise position); tuned on {hybrid.get('validation_users', '?')} validation "
        "users.</p>" + weights.to_html(float_format="{:.3f}".format)
    )


def _stories(run: Path, manifest: Manifest, metrics: dict) -> str:
    if not (run / rundir.TEST_PROMPTS).is_file():
        return ""
    from recranker_core.runfiles import evaluation_truth

    rankings, reference = (
        rundir.read_table(run / rundir.RANKINGS),
        manifest.primary_method,
    )
    method = verdict.judged_method(metrics, set(rankings["method"]))
    if method is None:
        return ""
    titles = title_map(rundir.read_table(run / rundir.ITEMS))
    prompts = rundir.read_prompts(run / rundir.TEST_PROMPTS)
    helped, hurt = stories.stories(rankings, evaluation_truth(run), prompts, method, reference)
    parts = [f"<h3>User stories: {html.escape(method)} against {html.escape(reference)}</h3>"]
    for heading, told in (("Helped most", helped), ("Hurt most", hurt)):
        parts.append(f"<h4>{heading}</h4>")
        parts += [_story(story, titles, method, reference) for story in told] or [
            "<p class='muted'>None.</p>"
        ]
    return "".join(parts)


def _story(story: stories.Story, titles: dict, method: str, reference: str) -> str:
    def ranked(items: list) -> str:
        rows = "".join(
            f"<li{' class=test' if item == story.test_item else ''}>{_title(titles, item)}</li>"
            for item in items
        )
        return f"<ol>{rows}</ol>"

    prompt = (
        "<details><summary>The listwise prompt the model read</summary>"
        f"<pre>{html.escape(story.prompt)}</pre></details>"
        if story.prompt
        else ""
    )
    return (
        f"<h5>User {html.escape(str(story.user_id))}: test item "
        f"<span class='test'>{_title(titles, story.test_item)}</span>, "
        f"{METRIC} {story.change:+.3f}</h5><div class='lists'><div><b>{html.escape(reference)}</b>"
        f"{ranked(story.reference)}</div><div><b>{html.escape(method)}</b>{ranked(story.method)}</div></div>"
        + prompt
    )


def _title(titles: dict, item) -> str:
    return html.escape(titles.get(item, f"item {item}"))


def _comparison(run: Path, manifest: Manifest, metrics: dict, compare: tuple[Path, ...], figure) -> str:
    if not compare:
        return ""
    others = {path.name: Manifest.read(path) for path in compare}
    documents = {run.name: metrics} | {
        path.name: _read(path, rundir.METRICS, rundir.read_json) for path in compare
    }
    names = tuple(documents)
    long = tables.compare_runs(documents)
    configs = {run.name: manifest.config.to_dict()} | {n: m.config.to_dict() for n, m in others.items()}
    return (
        "<h3>Compared runs</h3><p>Methods every run has; intervals are each run's own.</p>"
        + _html_table(tables.compare_wide(long, METRIC, names))
        + figure(charts.metric_bars(long[long["metric"] == METRIC], names, by="run", ytitle=METRIC))
        + "<h4>Settings that differ</h4>"
        + _html_table(tables.settings_diff(configs))
    )


def _settings(manifest: Manifest) -> str:
    # As a profile writes them (4.0, not the tables' 4.0000).
    table = tables.settings_table(manifest.config.to_dict()).assign(value=lambda t: t["value"].map(str))
    return f"<details><summary><b>Settings</b> ({len(table)})</summary>{_html_table(table)}</details>"


def _html_table(table: pd.DataFrame, escape: bool = True) -> str:
    return table.to_html(index=False, escape=escape, float_format="{:.3f}".format, na_rep="–")


def _read(run: Path, name: str, reader):
    if not (run / name).is_file():
        raise InputError(f"{run}: no {name}; finish the run (the command in its manifest.json resumes it)")
    return reader(run / name)
