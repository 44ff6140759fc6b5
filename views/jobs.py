"""Jobs: every background job (traces now; training and evaluation next), live."""
import pandas as pd
import streamlit as st

from backend.jobs import manager
from backend.users import current_user
from ui.common import attempt
from ui.jobs import job_controls, live_job

st.title(":material/settings: Jobs")
st.caption("Jobs run in their own processes: closing this tab or restarting the dashboard does not stop them.")

mine_only = st.toggle("Only my jobs", key="jobs_mine", help=f"you are {current_user()}; everyone sees the whole queue")
jobs = attempt(manager.list_jobs, owner=current_user() if mine_only else None) or []
if not jobs:
    st.info("No jobs yet. Start one from the Traces page or the CLI (`python -m backend traces run ...`).")
    st.stop()

table = pd.DataFrame([{"id": j.id, "kind": j.kind, "status": j.status, "owner": j.owner, "title": j.title,
                       "runs on": j.runs_on,
                       "waiting for": j.wait_reason or "",
                       "progress": (f"{(j.progress or {}).get('done') or 0:,} / {j.progress['total']:,}"
                                    if (j.progress or {}).get("total") else ""),
                       "created": j.created_at, "ended": j.ended_at} for j in jobs])
st.dataframe(table, hide_index=True, width="stretch")

summary = manager.queue_summary()
if summary["users"]:
    limits = summary["limits"]
    st.caption("Now: " + " · ".join(f"{u['owner']}: {u['running']} running, {u['queued']} queued, {u['gpus']} GPU(s)"
                                    for u in summary["users"])
               + (f" — per-user limits: {', '.join(f'{k} {v}' for k, v in limits.items())}" if limits else ""))

ids = [j.id for j in jobs]
chosen = st.selectbox("Job", ids, index=ids.index(st.query_params["job"]) if st.query_params.get("job") in ids else 0,
                      key="jobs_selected")
job_controls(chosen, key="jobs")
live_job(chosen)
