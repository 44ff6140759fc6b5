"""The training form: one widget per TrainSpec field, with its help text, in the sections the fields name.

Everything about a field's widget is in its metadata (ui/field_form.py), so a new TrainSpec field shows up here
by itself: in its "group", or in "Other" until it names one.
"""
from __future__ import annotations

from dataclasses import Field

import streamlit as st

from backend.training.spec import FORM_OPEN, TrainSpec
from ui.common import remembered
from ui.field_form import field_widget, form_fields, widget_key

OTHER = "Other"


def form_sections() -> dict[str, list[Field]]:
    """Section -> its TrainSpec fields, sections in the order the fields first name them."""
    sections: dict[str, list[Field]] = {}
    for f in form_fields(TrainSpec):
        sections.setdefault(f.metadata.get("group", OTHER), []).append(f)
    return sections


def spec_form(base: TrainSpec, key: str) -> dict:
    """Widgets prefilled from `base`; returns the chosen values (validated by TrainSpec by the caller). Each value
    stays for the session, across pages (ui.common.remembered)."""
    values = {}
    for group, section in form_sections().items():
        with st.expander(group, expanded=group in FORM_OPEN):
            cols = st.columns(3)
            for i, f in enumerate(section):
                values[f.name] = field_widget(cols[i % 3], f, getattr(base, f.name), **remembered(widget_key(f, key)))
    return values
