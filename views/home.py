"""Home: what exists in this lab, and what to do next. The first screen comes from one cheap backend call
(backend.home.overview: SQL counts); the lineage table, which reads more, is drawn last."""
import pandas as pd
import streamlit as st

from backend.home import overview
from backend.recipes import RECIPES
from ui.common import attempt

st.title(":material/science: Finetune Lab")
st.caption("Curate data, generate reasoning traces, train LoRA/QLoRA adapters and evaluate them, in one place.")

lab = overview()
datasets = [d for d in lab["datasets"] if d["versions"]]

if not datasets:
    st.info("This lab is empty. Load the demo datasets (generated on this machine, no network) to try every "
            "workflow, or import your own data on the Data page.")
elif lab["demo_loaded"]:
    st.success(f"Demo data is loaded: {', '.join(lab['demo_loaded'])}. It was generated locally for the four "
               "workflows below, so everything runs on a laptop CPU with no network. Import your own data on the "
               "Data page.")
missing = lab["demo_missing"]
if st.button("Load demo data", type="primary" if not datasets else "secondary", key="home_load_demo",
             disabled=not missing,
             help=f"generates and imports {', '.join(missing)}" if missing else "every demo dataset is loaded"):
    from backend.data.demo import create_demo_datasets

    with st.spinner("Generating and importing the demo datasets..."):
        created = attempt(create_demo_datasets)
    if created:
        st.rerun()

st.subheader("Workflows")
workflows = [recipe for recipe in RECIPES.values() if recipe.demo]  # the seeds' workflows, which have demo data
for col, recipe in zip(st.columns(len(workflows)), workflows):
    with col.container(border=True):
        st.markdown(f"**{recipe.title}**")
        st.caption(recipe.description)
        st.metric("datasets", lab["by_recipe"].get(recipe.name, 0))

st.subheader("What to do next")
operations = lab["operations"]
steps = [
    ("Import or load data", bool(datasets)),
    ("Curate it: filter (SAIGE sliders), deduplicate", bool(operations.get("filter") or operations.get("dedup"))),
    ("Split it and check train/test leakage", lab["split_versions"] > 0),
    ("Generate reasoning traces (Traces page)", bool(operations.get("traces"))),
    ("Train a model (Train page)", lab["succeeded_runs"] > 0),
    ("Evaluate it (Evaluate page)", lab["evaluations"] > 0),
]
for text, done in steps:
    st.markdown(f"{':material/check_box:' if done else ':material/check_box_outline_blank:'} {text}")
st.page_link("views/data.py", label="Open the Data page", icon=":material/database:")

st.subheader("Datasets")
if datasets:
    st.dataframe(pd.DataFrame([{"dataset": d["dataset"], "recipe": d["recipe"], "versions": d["versions"],
                                "latest": f"v{d['latest']} · {d['latest_operation']}", "rows": d["rows"],
                                "owner": d["owner"], "updated": d["updated"]} for d in datasets]),
                 hide_index=True, width="stretch")
    st.caption("Every version, its splits and what it was made from: the Data page's Browse tab.")
else:
    st.write("No datasets yet.")

st.subheader("Lineage: data → traces → model → score")
if lab["evaluations"]:
    from backend.lineage import lineage_rows

    lineage = attempt(lineage_rows) or []
    st.dataframe(pd.DataFrame(lineage), hide_index=True, width="stretch")
else:
    st.write("No evaluations yet: train a model and evaluate it to see its lineage here.")
