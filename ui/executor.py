"""Where a job runs: this machine's queue, or a Slurm cluster with its resources (only offered when sbatch exists)."""
from __future__ import annotations

import streamlit as st

from backend.errors import LabError
from backend.jobs import slurm
from backend.jobs.slurm import SlurmOptions

LOCAL, CLUSTER = "This machine", "Slurm cluster"


@st.cache_data(ttl=60, show_spinner=False)
def _slurm_here() -> bool:
    return slurm.available()


def executor_picker(key: str) -> SlurmOptions | None | bool:
    """Returns None (this machine), SlurmOptions, or False when the Slurm options are invalid (shown)."""
    if not _slurm_here():
        return None
    where = st.radio("Run on", [LOCAL, CLUSTER], horizontal=True, key=f"{key}_executor",
                     help="Slurm: the job is submitted with sbatch; the state folder must be shared with the nodes")
    if where == LOCAL:
        return None
    cols = st.columns(5)
    partition = cols[0].text_input("Partition (empty = default)", key=f"{key}_partition")
    gpus = int(cols[1].number_input("GPUs", 0, 64, 1, key=f"{key}_slurm_gpus"))
    cpus = int(cols[2].number_input("CPUs", 1, 512, 2, key=f"{key}_cpus"))
    mem = cols[3].text_input("Memory", "8G", key=f"{key}_mem")
    time_limit = cols[4].text_input("Time limit", "04:00:00", key=f"{key}_time")
    try:
        return SlurmOptions(partition=partition or None, gpus=gpus, cpus=cpus, mem=mem, time=time_limit)
    except LabError as exc:
        st.error(str(exc))
        return False
