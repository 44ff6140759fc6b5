"""Finetune Lab: the frame and the router. Every screen lives in views/.

Not pages/: Streamlit serves a folder of that name as its own page list, so a first deep link (/data) on a
fresh server would run the page without this file, and so without the login gate."""
import streamlit as st

from ui.auth import gate

st.set_page_config(page_title="Finetune Lab", page_icon="🧪", layout="wide")
gate()

pages = [
    st.Page("views/home.py", title="Home", icon="🏠", default=True),
    st.Page("views/data.py", title="Data", icon="🗂️"),
    st.Page("views/retrieval.py", title="Retrieval", icon="🔎"),
    st.Page("views/traces.py", title="Traces", icon="🧠"),
    st.Page("views/train.py", title="Train", icon="🏋️"),
    st.Page("views/monitor.py", title="Monitor", icon="📈"),
    st.Page("views/evaluate.py", title="Evaluate", icon="🎯"),
    st.Page("views/playground.py", title="Playground", icon="💬"),
    st.Page("views/models.py", title="Models", icon="📦"),
    st.Page("views/jobs.py", title="Jobs", icon="⚙️"),
]
st.navigation(pages).run()
