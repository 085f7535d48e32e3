"""The least a first page can cost: a title, one small table and one small chart, for bench/dashboard.py."""

import pandas as pd
import plotly.express as px
import streamlit as st

st.title("Floor")
st.dataframe(pd.DataFrame({"method": ["a", "b"], "NDCG@3": [0.1, 0.2]}))
st.plotly_chart(px.bar(x=["a", "b"], y=[0.1, 0.2]))
