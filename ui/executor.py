"""Where a job runs: this machine's queue, or a Slurm cluster with its resources (only offered when sbatch exists).

The Slurm widgets, their labels and defaults come from SlurmOptions' field metadata (ui/field_form.py)."""
from __future__ import annotations

import streamlit as st

from backend.errors import LabError
from backend.jobs import slurm
from backend.jobs.slurm import SlurmOptions
from ui.field_form import field_widget, form_fields, start_value, widget_key

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
    defaults, shown = SlurmOptions(), form_fields(SlurmOptions)
    values = {f.name: field_widget(col, f, start_value(f, defaults), key=widget_key(f, key))
              for col, f in zip(st.columns(len(shown)), shown)}
    try:
        return SlurmOptions(**values)
    except LabError as exc:
        st.error(str(exc))
        return False
