"""Train: pick a preset, adjust the form, check the memory estimate, launch; the queue below."""
from dataclasses import replace

import pandas as pd
import streamlit as st

from backend.errors import LabError
from backend.jobs import manager
from backend.training.launch import launch_training
from backend.training.memory import estimate_memory
from backend.training.spec import PRESETS, TrainSpec
from ui.common import attempt, pick_version, remembered
from ui.executor import executor_picker
from ui.train_form import spec_form

st.title(":material/model_training: Train")
st.caption("LoRA, QLoRA or full fine-tuning as a background job: it keeps running if you close this tab.")

preset_name = st.selectbox("Preset", list(PRESETS), **remembered("train_preset"),
                           format_func=lambda n: f"{n} · {PRESETS[n].source}")
st.caption(PRESETS[preset_name].note)
dv = pick_version("train", label="Dataset (a trace version where the recipe has traces)")
if dv is None:
    st.stop()

values = spec_form(PRESETS[preset_name].spec, key=f"train_{preset_name}")
try:
    spec = replace(TrainSpec(**values), dataset=dv.ref)
except LabError as exc:
    st.error(str(exc))
    st.stop()

st.markdown("**Equivalent command**")
st.code(spec.cli_command(preset_name), language="bash")

st.markdown("**Memory estimate**")
estimate = attempt(estimate_memory, spec)
if estimate:
    (st.success if estimate.fits else st.warning if estimate.fits is False else st.info)(estimate.verdict)
    st.dataframe(pd.DataFrame([estimate.table()]), hide_index=True)  # GB, or MB for small parts
    for suggestion in estimate.suggestions:
        st.markdown(f"- {suggestion}")

placement = executor_picker("train")
if st.button("Launch training", type="primary", key="train_launch", disabled=placement is False):
    job = attempt(launch_training, spec, slurm_options=placement)
    if job:
        st.session_state["train_job"] = job.id
        st.success(f"Started {job.id}.")
        st.page_link("views/monitor.py", label="Watch it on the Monitor page", icon=":material/monitoring:")

def steps_text(progress: dict | None) -> str:
    """'12 / 60' once the job reports steps; empty before (a queued job has none: not "None")."""
    done, total = (progress or {}).get("done"), (progress or {}).get("total")
    return f"{done or 0:,} / {total:,}" if total else ""


st.subheader("Queue")
jobs = [j for j in manager.list_jobs(kind="train")]
if jobs:
    st.dataframe(pd.DataFrame([{"job": j.id, "status": j.status, "title": j.title, "owner": j.owner,
                                "runs on": j.runs_on,
                                "waiting for": j.wait_reason or "", "steps": steps_text(j.progress),
                                "GPUs": j.gpu_ids or "-", "created": j.created_at} for j in jobs]),
                 hide_index=True, width="stretch")
else:
    st.write("No training jobs yet.")
