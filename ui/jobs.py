"""Job widgets shared by pages: live progress (a fragment that ticks only while the job runs) and controls."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from backend.jobs import manager
from backend.jobs.status import JobStatus
from backend.traces.report import NO_PRICE
from backend.users import may_change
from ui.common import attempt

TICK_SECONDS = 2


def _progress_view(job) -> None:
    p = job.progress or {}
    total, done = p.get("total") or 0, p.get("done") or 0
    st.markdown(f"**{job.title or job.kind}** · `{job.id}` · **{job.status}** · {job.owner} · {job.where}"
                + (f" · {job.error}" if job.error else ""))
    if job.status == JobStatus.QUEUED and job.wait_reason:
        st.caption(f"Waiting: {job.wait_reason}")
    if job.message:  # a job that ended with something to say: failed items, a budget stop
        st.warning(job.message)
    if total:
        st.progress(min(1.0, done / total), f"{done:,} / {total:,}")
    metrics = {k: p[k] for k in ("accepted", "rejected", "failed", "cache_hits") if k in p}
    if "usd" in p and p.get("priced", True):
        metrics["spent (USD)"] = f"{p['usd']:.4f}"
    elif "usd" in p:  # a teacher with no price: not "0.0000", which reads as a measurement
        metrics["spent"] = NO_PRICE
    if p.get("possibly_billed_requests"):
        metrics["possibly billed"] = f"{p['possibly_billed_requests']} · {p.get('possibly_billed_usd', 0):.4f} USD"
    if p.get("eta_s") is not None and job.status == JobStatus.RUNNING:
        metrics["ETA"] = f"{p['eta_s'] / 60:.1f} min"
    if metrics:
        for col, (name, value) in zip(st.columns(len(metrics)), metrics.items()):
            col.metric(name, value)
    with st.expander("Log", expanded=job.status in (JobStatus.FAILED, JobStatus.LOST)):
        st.code(manager.log_tail(job.id, 6000) or "(empty)", language=None)


def live_job(job_id: str, more: Callable[[object], None] | None = None) -> None:
    """Shows a job; re-renders every few seconds while it is queued or running, then stops ticking.
    `more(job)` draws what a page adds below the job's view, ticking with it."""
    job = attempt(manager.get, job_id)
    if job is None:
        return
    active = job.active

    @st.fragment(run_every=TICK_SECONDS if active else None)
    def view():
        manager.reconcile()
        current = manager.get(job_id)
        _progress_view(current)
        if more is not None:
            more(current)
        if active and not current.active:
            st.rerun()  # it just ended: redraw the page so the ticking stops

    view()


def job_controls(job_id: str, key: str) -> None:
    job = attempt(manager.get, job_id)
    if job is None:
        return
    mine = may_change(job.owner)
    if not mine:
        st.caption(f"This job belongs to {job.owner}: only they or an admin can cancel, resume or delete it.")
    cols = st.columns(4)
    if cols[0].button("Cancel", key=f"{key}_cancel", disabled=not mine or not job.can_cancel):
        attempt(manager.cancel, job_id)
        st.rerun()
    if cols[1].button("Resume", key=f"{key}_resume", disabled=not mine or not job.can_resume):
        attempt(manager.resume, job_id)
        st.rerun()
    if cols[2].button("Retry as new job", key=f"{key}_retry", disabled=job.active):
        new = attempt(manager.retry, job_id)
        if new:
            st.success(f"Started {new.id}")
    if cols[3].button("Delete", key=f"{key}_delete", disabled=not mine or not job.can_delete):
        if attempt(manager.delete, job_id) is None:
            st.rerun()
