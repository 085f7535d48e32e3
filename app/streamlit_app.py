"""RecRanker Studio dashboard: `python -m recranker_core serve` (or `make run`), which runs this file with
`streamlit run` and the server's settings (``recranker_core.serve``).

Each page picks its run in the sidebar (``studio.session``; ``?run=NAME`` deep-links one) and is a
thin layer over the pure functions in ``studio``."""

from pathlib import Path

import streamlit as st
from studio import session

# A file of ours, served by the server: a Material icon as the page's icon is fetched from Google's fonts.
ICON = str(Path(__file__).with_name("favicon.png"))
st.set_page_config(page_title="RecRanker Studio", page_icon=ICON, layout="wide")

pages = [
    st.Page("views/overview.py", title="Runs", icon=":material/leaderboard:", default=True),
    st.Page("views/users.py", title="User explorer", icon=":material/person_search:"),
    st.Page("views/prompts.py", title="Prompt inspector", icon=":material/chat:"),
    st.Page("views/hybrid.py", title="Hybrid lab", icon=":material/tune:"),
    st.Page("views/slices.py", title="Slices", icon=":material/pie_chart:"),
    st.Page("views/bias.py", title="Position bias", icon=":material/swap_vert:"),
    st.Page("views/sampling.py", title="Sampling", icon=":material/scatter_plot:"),
    st.Page("views/live.py", title="Live rerank", icon=":material/bolt:"),
    st.Page("views/whatif.py", title="What-if", icon=":material/edit_note:"),
]
try:
    st.navigation(pages).run()
except Exception as exc:  # st.stop and st.rerun are BaseExceptions and pass through
    session.failed(exc)
