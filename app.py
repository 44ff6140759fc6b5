"""Finetune Lab: the frame and the router. Every screen lives in pages/."""
import streamlit as st

from ui.auth import gate

st.set_page_config(page_title="Finetune Lab", page_icon="🧪", layout="wide")
gate()

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/data.py", title="Data", icon="🗂️"),
    st.Page("pages/retrieval.py", title="Retrieval", icon="🔎"),
    st.Page("pages/traces.py", title="Traces", icon="🧠"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/monitor.py", title="Monitor", icon="📈"),
    st.Page("pages/evaluate.py", title="Evaluate", icon="🎯"),
    st.Page("pages/playground.py", title="Playground", icon="💬"),
    st.Page("pages/models.py", title="Models", icon="📦"),
    st.Page("pages/jobs.py", title="Jobs", icon="⚙️"),
]
st.navigation(pages).run()
