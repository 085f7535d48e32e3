"""Live rerank: load the run's tuned model once and rerank one test user now."""

import pandas as pd
import streamlit as st
from studio import live, promptview, session, users

from recranker_core import rundir
from recranker_core.analysis import charts, tables
from recranker_core.analysis.escaping import markdown as md
from recranker_core.methods import Method

st.title("Live rerank")
run = session.require_run()
session.require(run, rundir.INSTRUCTIONS, rundir.ADAPTER, rundir.HYBRID)
config = session.guarded(lambda: run.manifest.config)
prompts = session.prompts(run, rundir.TEST_PROMPTS)
split = session.table(run, rundir.SPLIT)
items = session.items(run)
candidates = session.table(run, rundir.CANDIDATES)
hybrid = session.document(run, rundir.HYBRID)
titles = dict(zip(items["item_id"], items["title"]))
base = session.primary(run)


user_rows = promptview.prompt_users(prompts)
user = session.pick_user(user_rows, key="live_user", label="Test user")
if user is None:
    st.info("This run has no test prompts to rerank.", icon=":material/info:")
    st.stop()
mine = [p for p in prompts if p["meta"]["user_id"] == user]
test_item = split.loc[(split["user_id"] == user) & (split["role"] == "test"), "item_id"].iloc[0]
base_rows = candidates[
    (candidates["target"] == "test")
    & (candidates["model"] == Method.parse(base).name)
    & (candidates["user_id"] == user)
]
st.caption(
    f"{len(mine)} prompts for user {md(user)}, scored with the run's settings ({config.rerank.mode} mode). "
    "The first rerank loads the model; later ones reuse it."
)

if st.button("Rerank now", type="primary", icon=":material/bolt:", key="live_go"):
    model, tokenizer = session.tuned_model(run)
    bar = st.progress(0.0, text="starting")
    base_table = live.base_table(
        candidates, user, base_rows.sort_values("rank")["item_id"].tolist(), config.baselines.primary
    )
    outputs, ranked = live.rerank_user(
        model,
        tokenizer,
        mine,
        base_table,
        scale=session.scale(split),
        mode=config.rerank.mode,
        batch_size=config.rerank.batch_size,
        paper=tuple(hybrid["paper_weights"]),
        tuned=tuple(hybrid["tuned_weights"]),
        progress=lambda fraction, text: bar.progress(fraction, text=text),
        fused=hybrid.get("fusion"),
        primary=config.baselines.primary,
    )
    bar.empty()
    st.session_state["live_result"] = (run.name, user, ranked)

result = st.session_state.get("live_result")
if result is None or result[:2] != (run.name, user):
    st.stop()
ranked = result[2]
rankings = pd.concat(
    [
        ranked,
        pd.DataFrame(
            {"user_id": user, "method": base, "item_id": base_rows["item_id"], "rank": base_rows["rank"]}
        ),
    ]
)
available = users.methods_for(rankings, user, base, zeroshot=False)[1:]
st.subheader("Fresh rankings")
picked = st.multiselect(
    f"Methods beside {md(base)} (up to {users.LINEUP})",
    available,
    default=users.default_lineup(available, session.judged(run, session.table(run, rundir.RANKINGS))),
    max_selections=users.LINEUP,
    key="live_methods",
)
methods = [base, *sorted(picked, key=tables.method_order)]
long = users.lineup(rankings, user, methods, base, test_item)
grid, mask = users.lineup_grid(long, titles)
st.caption(f"Highlighted: the test item. ▲/▼: places moved against {md(base)}.")
st.table(users.highlighted(grid, mask))  # whole titles, as in the User explorer
st.plotly_chart(charts.bump(long, titles), width="stretch", key="live_bump")
stored = session.table(run, rundir.RANKINGS)
stored = stored[(stored["user_id"] == user) & stored["method"].isin(ranked["method"])]
if live.same_rankings(ranked, stored):
    st.success("Identical to the rankings the run stored for this user.", icon=":material/check_circle:")
else:
    st.warning(
        "Differs from the stored rankings (a different machine or library version can change near-ties).",
        icon=":material/warning:",
    )
