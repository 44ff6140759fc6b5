"""The Data page's Leakage tab: a check of two splits runs as a job; the newest check of a version is shown."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from backend.data import splits as splitting
from backend.data.store import DatasetVersion
from backend.jobs.gpus import gpu_inventory
from backend.jobs.status import JobStatus
from backend.retrieval.leakage import latest_leakage_job, launch_leakage
from ui.common import attempt, remembered
from ui.jobs import live_job


def leakage(dv: DatasetVersion) -> None:
    if splitting.SPLIT_COLUMN not in dv.columns:
        st.info("Split this dataset first (Split tab); the leakage check compares two splits.")
        return
    names = attempt(splitting.split_names, dv) or []  # also a version with a split column it did not make
    a, b, c = st.columns(3)
    first = a.selectbox("Split A", names, index=names.index("train") if "train" in names else 0, key="data_leak_a")
    second = b.selectbox("Split B", ["(all test/validation)"] + [n for n in names if n != first], key="data_leak_b")
    threshold = c.slider("Near-duplicate threshold (cosine)", 0.5, 1.0, 0.9, 0.01,
                         **remembered("data_leak_threshold"))
    gpu = bool(gpu_inventory()) and st.checkbox("Embed on a GPU", key="data_leak_gpu",
                                                help="the job waits for a free GPU; far faster than the CPU")
    if st.button("Check leakage", type="primary", key="data_leak_go",
                 help="runs as a background job: it goes on if you leave the page, and embeds only texts "
                      "whose embeddings are not cached yet"):
        attempt(launch_leakage, dv.ref, a=first, b=None if second.startswith("(") else second,
                threshold=threshold, gpus=int(gpu))
    job = attempt(latest_leakage_job, dv.ref)  # the newest check of this version: it survives reloads
    if job is None:
        st.caption(f"No leakage check of {dv.ref} yet.")
        return
    live_job(job.id, more=_leakage_progress)
    report = job.result or {}
    if job.status == JobStatus.SUCCEEDED and "exact" in report:
        _leakage_result(report)


_LEAK_PHASES = {"compare": "Comparing normalised texts", "embed": "Embedding the texts not in the cache yet",
                "search": "Searching each row's nearest neighbours"}


def _leakage_progress(job) -> None:
    progress = job.progress or {}
    if job.status == JobStatus.RUNNING and progress.get("phase") in _LEAK_PHASES:
        pace = f" · {progress['rows_per_s']:,.1f} rows/s" if progress.get("rows_per_s") else ""
        st.caption(_LEAK_PHASES[progress["phase"]] + pace)


def _leakage_result(report: dict) -> None:
    x, y, z = st.columns(3)
    x.metric("Exact duplicates", f"{report['exact']:,}")
    y.metric("Near duplicates", f"{report['near']:,}")
    z.metric("Rows compared", f"{report['checked']['a']:,} · {report['checked']['b']:,}")
    st.caption(f"{report['b']} rows against {report['a']} in {report['dataset']}, cosine >= {report['threshold']} "
               f"({report['model']}); {report['embedded']:,} texts embedded, {report['cached']:,} from the cache, "
               f"{report['seconds']:.1f} s")
    if report["pairs"]:
        st.dataframe(pd.DataFrame(report["pairs"]), hide_index=True, width="stretch")
    else:
        st.success("No leaked rows at this threshold.")
