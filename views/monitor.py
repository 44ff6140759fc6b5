"""Monitor: live loss, eval loss, learning rate, grad norm and throughput of a training job; the machine;
several runs' loss curves side by side, live while any of them runs."""
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from backend.jobs import manager
from backend.jobs.system import process_snapshot, system_snapshot
from backend.training.metrics import MetricsSeries
from ui.jobs import job_controls

TICK_SECONDS = 2
CHARTS = (("loss", "Loss", ("loss", "eval_loss")), ("learning_rate", "Learning rate", ("learning_rate",)),
          ("grad_norm", "Grad norm", ("grad_norm",)), ("tokens_per_second", "Tokens / s", ("tokens_per_second",)))

st.title(":material/monitoring: Monitor")
jobs = manager.list_jobs(kind="train")
if not jobs:
    st.info("No training jobs yet: start one on the Train page.")
    st.stop()
ids = [j.id for j in jobs]
drawn = {j.id: j for j in jobs}  # the jobs as this run of the page shows them (the picker, the controls)
wanted = st.query_params.get("job") or st.session_state.get("train_job")
if st.session_state.get("monitor_job") in ids:
    # The browser keeps a selectbox's old label when only its text changes ("· starting" while the job runs):
    # setting the choice again sends the label as it is now.
    st.session_state["monitor_job"] = st.session_state["monitor_job"]
    wanted = None
job_id = st.selectbox("Training job", ids, index=ids.index(wanted) if wanted in ids else 0, key="monitor_job",
                      format_func=lambda i: f"{i} · {drawn[i].status}")
job_controls(job_id, key="monitor")
active = drawn[job_id].active


def series_for(job) -> MetricsSeries:
    """Kept in the session, so each refresh reads only the bytes appended since the last one."""
    cache = st.session_state.setdefault("monitor_series", {})
    if job.id not in cache:
        cache[job.id] = MetricsSeries(Path(job.job_dir))
    return cache[job.id]


def chart(data: dict, keys: tuple[str, ...], title: str, key: str):
    fig = go.Figure()
    for name in keys:
        steps, values = data.get(name, ([], []))
        if len(steps):
            fig.add_scatter(x=list(steps), y=list(values), name=name, mode="lines+markers" if name == "eval_loss" else "lines")
    fig.update_layout(title=title, height=260, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="step")
    st.plotly_chart(fig, width="stretch", key=key)


def redraw_if_changed(job) -> None:
    """A status that moved on since the page was drawn (starting -> running -> succeeded): draw the whole page
    again, so the picker and the buttons say what the job is doing now and the ticking stops when it ends."""
    if job.id not in drawn or job.status != drawn[job.id].status:
        st.rerun()


@st.fragment(run_every=TICK_SECONDS if active else None)
def live():
    manager.reconcile()
    job = manager.get(job_id)
    series = series_for(job)
    series.refresh()
    latest = series.latest() or {}
    total = (job.progress or {}).get("total") or 0
    step = latest.get("step") or (job.progress or {}).get("done") or 0
    st.markdown(f"**{job.title}** · **{job.status}**" + (f" · {job.error}" if job.error else ""))
    if total:
        eta = latest.get("eta_s")
        st.progress(min(1.0, step / total), f"step {step:,} / {total:,}" + (f" · ETA {eta / 60:.1f} min" if eta else ""))
    data = series.chart_data(max_points=2000)
    left, right = st.columns(2)
    for i, (key, title, keys) in enumerate(CHARTS):
        with (left if i % 2 == 0 else right):
            chart(data, keys, title, key=f"monitor_chart_{key}")
    system = system_snapshot()
    cols = st.columns(4)
    cols[0].metric("CPU", f"{system['cpu_percent']:.0f}%")
    cols[1].metric("RAM", f"{system['ram_used_gb']:.1f} / {system['ram_total_gb']:.1f} GB")
    cols[2].metric("Disk free", f"{system['disk']['free_gb']:.0f} GB")
    if job.pid and job.active:
        proc = process_snapshot(job.pid)
        if proc["alive"]:  # two short metrics: one "0.69 GB · 33% CPU" did not fit its column
            cols[3].metric("Job memory", f"{proc['rss_gb']:.2f} GB", help=f"resident memory of process {job.pid}")
            st.columns(4)[3].metric("Job CPU", f"{proc['cpu_percent']:.0f}%",
                                    help=f"CPU use of process {job.pid} (100% = one core)")
        else:
            cols[3].metric("Job process", "ended")
    for gpu in system["gpus"]:
        used, total, util = gpu.get("mem_used_gb"), gpu.get("mem_total_gb"), gpu.get("util_percent")
        st.caption(f"GPU {gpu['index']} {gpu.get('name') or ''}: {'?' if util is None else f'{util:.0f}'}% busy · "
                   f"{'?' if used is None else f'{used:.1f}'} / {'?' if total is None else f'{total:.1f}'} GB")
    with st.expander("Log"):
        st.code(manager.log_tail(job.id, 6000) or "(empty)", language=None)
    redraw_if_changed(job)


live()

st.subheader("Compare runs")
chosen = st.multiselect("Runs", ids, default=ids[:2], key="monitor_overlay")


@st.fragment(run_every=TICK_SECONDS if any(drawn[i].active for i in chosen) else None)
def compare():
    """The chosen runs' training loss from the same session-kept series as above (each tick reads only what
    was appended), so a running or resumed run's curve grows here too."""
    fig, waiting = go.Figure(), []
    for run_id in chosen:
        job = manager.get(run_id)
        series = series_for(job)
        series.refresh()
        steps, values = series.chart_data(max_points=1000).get("loss", ([], []))
        if len(steps):
            fig.add_scatter(x=list(steps), y=list(values), name=run_id, mode="lines")
        else:
            waiting.append(f"{run_id} ({job.status})")
    if fig.data:
        fig.update_layout(title="Training loss", height=320, xaxis_title="step")
        st.plotly_chart(fig, width="stretch", key="monitor_overlay_chart")
    if waiting:
        st.caption("No training loss logged yet: " + ", ".join(waiting))
    for run_id in chosen:
        if run_id != job_id:  # the live view above redraws for the selected job
            redraw_if_changed(manager.get(run_id))


if chosen:
    compare()
