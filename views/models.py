"""Models: every adapter, checkpoint, merged model and GGUF file, with lineage and scores; export and delete."""
import pandas as pd
import streamlit as st

from backend.models.export import DEFAULT_FORMATS, FORMATS, ExportRequest, launch_export
from backend.models.registry import delete_model, list_models
from ui.common import attempt
from ui.jobs import live_job

st.title(":material/inventory_2: Models")
models = attempt(list_models) or []
if not models:
    st.info("No models yet: train one on the Train page.")
    st.stop()

table = pd.DataFrame([{"id": m["id"], "kind": m["kind"], "base": m["base_model"], "method": m["method"],
                       "dataset": m["dataset"], "MB": round((m["bytes"] or 0) / 2**20, 1),
                       "scores": ", ".join(f"{x['headline']} {x['value']:.3f}" for x in m["metrics"] if x.get("value") is not None),
                       "made from it": ", ".join(m["dependents"]), "created": m["created_at"]} for m in models])
st.dataframe(table, hide_index=True, width="stretch")

chosen = st.selectbox("Model", [m["id"] for m in models], key="models_selected")
model = next(m for m in models if m["id"] == chosen)
st.json({k: model[k] for k in ("path", "job_id", "base_model", "method", "dataset", "recipe", "metrics", "dependents")},
        expanded=False)

st.subheader("Export")
formats = st.multiselect("Formats", FORMATS, default=list(DEFAULT_FORMATS), key="models_formats",
                         help="merged 16-bit safetensors; GGUF f16 / q8_0 (read back and checked); an Ollama Modelfile; "
                              "a model card; push to the Hugging Face Hub (needs HF_TOKEN and network)")
repo = st.text_input("Hub repository (for 'hub')", key="models_repo") if "hub" in formats else None
if st.button("Export", type="primary", key="models_export"):
    job = attempt(launch_export, ExportRequest(model_id=chosen, formats=list(formats), hub_repo=repo or None))
    if job:
        st.session_state["models_job"] = job.id
if st.session_state.get("models_job"):
    live_job(st.session_state["models_job"])

st.subheader("Delete")
if model["dependents"]:
    st.warning(f"Made from this model: {', '.join(model['dependents'])}. Deleting it with 'also delete those' removes them too.")
force = st.checkbox("Also delete what was made from it", key="models_force")
if st.button("Delete", key="models_delete"):
    deleted = attempt(delete_model, chosen, force=force)
    if deleted:
        st.success(f"Deleted {', '.join(deleted)}")
        st.rerun()
