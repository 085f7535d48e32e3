"""RecRanker Studio dashboard: `streamlit run app/streamlit_app.py` (or `make run`)."""

import streamlit as st

st.set_page_config(page_title="RecRanker Studio", page_icon=":material/leaderboard:", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Runs", icon=":material/leaderboard:", default=True),
]
st.navigation(pages).run()
