"""Finetune Lab: the frame and the router. Every screen lives in views/.

Not pages/: Streamlit serves a folder of that name as its own page list, so a first deep link (/data) on a
fresh server would run the page without this file, and so without the login gate."""
import streamlit as st

from ui.auth import gate

st.set_page_config(page_title="Finetune Lab", page_icon=":material/science:", layout="wide")
gate()

pages = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/data.py", title="Data", icon=":material/database:"),
    st.Page("views/retrieval.py", title="Retrieval", icon=":material/search:"),
    st.Page("views/traces.py", title="Traces", icon=":material/psychology:"),
    st.Page("views/train.py", title="Train", icon=":material/model_training:"),
    st.Page("views/monitor.py", title="Monitor", icon=":material/monitoring:"),
    st.Page("views/evaluate.py", title="Evaluate", icon=":material/target:"),
    st.Page("views/playground.py", title="Playground", icon=":material/chat:"),
    st.Page("views/models.py", title="Models", icon=":material/inventory_2:"),
    st.Page("views/jobs.py", title="Jobs", icon=":material/settings:"),
]
st.navigation(pages).run()
