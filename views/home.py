"""Home: what exists in this lab, and what to do next."""
import pandas as pd
import streamlit as st

from backend.data.demo import DEMO_DATASETS, create_demo_datasets
from backend.data.store import list_datasets
from backend.jobs.manager import list_jobs
from backend.lineage import lineage_rows
from backend.recipes import RECIPES
from ui.common import attempt

st.title("🧪 Finetune Lab")
st.caption("Curate data, generate reasoning traces, train LoRA/QLoRA adapters and evaluate them, in one place.")

datasets = list_datasets()
demo_names = [d["name"] for d in datasets if d["name"] in DEMO_DATASETS]

if not datasets:
    st.info("This lab is empty. Load the demo datasets (generated on this machine, no network) to try every "
            "workflow, or import your own data on the Data page.")
    if st.button("Load demo data", type="primary", key="home_load_demo"):
        with st.spinner("Generating and importing the demo datasets..."):
            created = attempt(create_demo_datasets)
        if created:
            st.rerun()
elif demo_names:
    st.success(f"Demo data is loaded: {', '.join(demo_names)}. It was generated locally for the four workflows "
               "below, so everything runs on a laptop CPU with no network. Import your own data on the Data page.")

st.subheader("Workflows")
cols = st.columns(4)
for col, name in zip(cols, ("guard", "saige", "raft", "orgaccess")):
    recipe = RECIPES[name]
    with col.container(border=True):
        st.markdown(f"**{recipe.title}**")
        st.caption(recipe.description)
        count = sum(1 for d in datasets if d["recipe"] == name)
        st.metric("datasets", count)

st.subheader("Datasets")
if datasets:
    rows = []
    for d in datasets:
        for v in d["versions"]:
            rows.append({"dataset": d["name"], "recipe": d["recipe"], "version": v["version"], "rows": v["rows"],
                         "made by": v["operation"], "from": v["parent"] or "", "splits": ", ".join(
                             f"{k} {n}" for k, n in (v["summary"].get("splits") or {}).items()),
                         "hash": v["content_hash"], "owner": v["owner"], "created": v["created_at"]})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
else:
    st.write("No datasets yet.")

st.subheader("Lineage: data → traces → model → score")
lineage = attempt(lineage_rows) or []
if lineage:
    st.dataframe(pd.DataFrame(lineage), hide_index=True, width="stretch")
else:
    st.write("No evaluations yet: train a model and evaluate it to see its lineage here.")

st.subheader("What to do next")
has_split = any(v["summary"].get("splits") for d in datasets for v in d["versions"])
steps = [
    ("Import or load data", bool(datasets)),
    ("Curate it: filter (SAIGE sliders), deduplicate", any(v["operation"] in ("filter", "dedup") for d in datasets for v in d["versions"])),
    ("Split it and check train/test leakage", has_split),
    ("Generate reasoning traces (Traces page)", any(v["operation"] == "traces" for d in datasets for v in d["versions"])),
    ("Train a model (Train page)", any(j.status == "succeeded" for j in list_jobs(kind="train"))),
    ("Evaluate it (Evaluate page)", bool(lineage)),
]
for text, done in steps:
    st.markdown(f"{'✅' if done else '⬜'} {text}")
st.page_link("views/data.py", label="Open the Data page", icon="🗂️")
