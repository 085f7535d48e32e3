"""User explorer: one test user's history, candidates, and every method's list side by side."""

import streamlit as st
from studio import session, users

from recranker_core import rundir
from recranker_core.analysis import charts, stories, tables
from recranker_core.analysis.escaping import markdown as md
from recranker_core.methods import Method


@st.cache_data(show_spinner=False, max_entries=8)
def user_table(rankings, truth, base, judged):
    """Once per run: every test user's ranks (see ``users.user_table``)."""
    return users.user_table(rankings, truth, base, judged)


st.title("User explorer")
run = session.require_run()
session.require(run, rundir.RANKINGS, rundir.ITEMS, rundir.CANDIDATES)
base = session.primary(run)
rankings = session.table(run, rundir.RANKINGS)
split = session.table(run, rundir.SPLIT)
items = session.items(run)
candidates = session.table(run, rundir.CANDIDATES)
titles = dict(zip(items["item_id"], items["title"]))
judged = session.judged(run, rankings)
table = user_table(rankings, session.truth(run), base, judged)

from_slice = st.query_params.get("slice")
if from_slice is not None:  # a link from the Slices page names the slice, not every user in it
    members = session.slice_members(run, from_slice)
    if members is None:
        st.warning(
            f"No slice called {md(repr(from_slice))} in this run; showing every user.",
            icon=":material/warning:",
        )
        members = table["user_id"].astype(str).tolist()
    table = users.only(table, members)
    note, clear = st.columns([4, 1])
    note.info(
        f"{len(table):,} users of the slice {md(repr(from_slice))} (from Slices).",
        icon=":material/pie_chart:",
    )
    if clear.button("Show every user", key="users_all"):
        st.query_params.pop("slice", None)
        st.rerun()

left, right = st.columns([1, 2])
names = list(users.FILTERS)
default = 0 if table["llm"].any() and from_slice is None else 1
which = left.selectbox("Show", names, index=default, key="users_filter")
shown = users.filter_users(table, which)
left.caption(f"{len(shown):,} of {len(table):,} test users")
with right:
    user = session.pick_user(shown, key="users_user")
if user is None:
    st.info("No test user matches this filter; choose another one above.", icon=":material/filter_alt_off:")
    st.stop()
row = table.set_index("user_id").loc[user]
test_item = row["test_item"]

item, story = st.columns([3, 1])
item.markdown(f"**Test item:** {md(titles.get(test_item, f'item {test_item}'))}")


def story_html() -> str:
    from recranker_core.analysis.report import user_story

    return user_story(run.path, user)


story.download_button(
    "This user's story (HTML)",
    story_html,
    file_name=f"{run.name}-user-{user}.html",
    mime="text/html",
    icon=":material/download:",
    help=f"One self-contained page: the held-out item, {md(base)}'s and {md(judged or base)}'s lists, "
    "the prompt the model read and the user's history.",
    key="users_story",
)
available = users.methods_for(rankings, user, base, zeroshot=True)[1:]
if "users_methods" in st.session_state:  # another user may lack some of the methods picked for the last
    st.session_state["users_methods"] = [m for m in st.session_state["users_methods"] if m in available]
picked = st.multiselect(
    f"Methods beside {md(base)} (up to {users.LINEUP})",
    available,
    default=users.default_lineup(available, judged),
    max_selections=users.LINEUP,
    key="users_methods",
)
methods = [base, *sorted(picked, key=tables.method_order)]
if not available:
    st.info(
        "No LLM results for this user (their test item is not among the base model's ten candidates, or the "
        "LLM stages did not run for them); showing the base model only.",
        icon=":material/info:",
    )
long = users.lineup(rankings, user, methods, base, test_item)
if long.empty:
    st.warning(f"{md(base)} has no list for user {md(user)}.", icon=":material/warning:")
else:
    st.subheader("Rankings side by side")
    st.caption(f"Highlighted: the test item. ▲/▼: places moved against {md(base)}.")
    grid, mask = users.lineup_grid(long, titles)
    st.table(users.highlighted(grid, mask))  # a static table wraps whole titles; a grid cut them
    st.plotly_chart(charts.bump(long, titles), width="stretch", key="users_bump")

history, cands = st.columns([3, 2])
with history:
    st.subheader("History")
    rated = stories.history(split, items, user)
    liked = (rated["feedback"] == "like").sum()
    disliked = (rated["feedback"] == "dislike").sum()
    st.caption(
        f"{liked} liked and {disliked} disliked (of {len(rated)} rated) before the test item, "
        "most recent first."
    )
    st.dataframe(rated, hide_index=True, width="stretch", height=380, key="users_history")
with cands:
    st.subheader("Candidates")
    st.caption(f"{md(base)}'s ten unseen items with the highest scores: what the LLM reranks.")
    st.dataframe(
        users.candidates(candidates, items, user, Method.parse(base).name, test_item),
        hide_index=True,
        width="stretch",
        height=380,
        key="users_candidates",
    )
