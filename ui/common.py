"""Small Streamlit helpers: run a backend call with a message instead of a traceback."""
from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, Callable

import pandas as pd
import streamlit as st

from backend.data import store
from backend.errors import LabError

log = logging.getLogger("finetune_lab.ui")


def attempt(action: Callable[..., Any], *args, **kwargs) -> Any | None:
    """Call a backend function; show a LabError as a message, anything else as a short error, return None."""
    try:
        return action(*args, **kwargs)
    except LabError as exc:
        st.error(str(exc))
    except Exception as exc:  # shown as a message, logged with its traceback for the operator
        log.exception("action failed")
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")
    return None


@st.cache_data(show_spinner=False, max_entries=16)
def cached_frame(ref: str, content_hash: str, table: str = store.MAIN_TABLE) -> pd.DataFrame:
    """A version's rows; versions are immutable, so (ref, hash) is a safe cache key."""
    return store.load_frame(ref, table)


def frame_of(dv: store.DatasetVersion, table: str = store.MAIN_TABLE) -> pd.DataFrame:
    return cached_frame(dv.ref, dv.content_hash, table)


CURRENT_DATASET = "current_dataset"  # (name, version): the dataset this session last made or chose
_LINKED = "current_dataset_link"  # the ?dataset= deep link already applied


def remembered(key: str) -> dict:
    """A widget's key, kept for the whole browser session: `st.text_input("Base URL", **remembered("k"))`.

    Streamlit forgets the value of a widget that is not drawn, so going to another page and back reset every
    form; with these arguments (persist_state="session") the value comes back with the page. The widget's own
    default applies only until the user changes it. Every form widget that should survive navigation uses
    this one helper."""
    return {"key": key, "persist_state": "session"}


def current_dataset() -> tuple[str, int | None] | None:
    """(name, version) this session last made or chose, or None; the dataset pickers of every page show it."""
    return st.session_state.get(CURRENT_DATASET)


def set_current_dataset(dv: store.DatasetVersion | None, version: int | None = None, *,
                        name: str | None = None) -> None:
    """Make a version the one every dataset picker shows from now on (call it when an action made one: an
    import, a filter, a split, a trace job). Pickers already drawn in this run follow on the next run."""
    if dv is not None:
        name, version = dv.dataset, dv.version
    if name:
        st.session_state[CURRENT_DATASET] = (name, version)


def select_version(dv: store.DatasetVersion, *keys: str) -> None:
    """Make `dv` the choice of the dataset pickers from the next run on, e.g. the version a split just made;
    call st.rerun() after it when the pickers are already drawn in this run. (`keys` are not needed any more:
    every picker follows the session's current dataset.)"""
    set_current_dataset(dv)


def _chose_dataset(key: str) -> None:
    set_current_dataset(None, name=st.session_state.get(f"{key}_dataset"))  # its latest version


def _chose_version(key: str, name: str) -> None:
    set_current_dataset(None, st.session_state.get(f"{key}_version_{name}"), name=name)


def pick_version(key: str, label: str = "Dataset",
                 recipe: str | Collection[str] | None = None) -> store.DatasetVersion | None:
    """Dataset and version selectors; returns the chosen version or None when there are no datasets.

    Every picker shows the session's current dataset (the one last made or chosen, on any page) when it
    offers it, else what it showed last; a ?dataset=NAME deep link chooses once."""
    recipes = [recipe] if isinstance(recipe, str) else recipe  # one recipe or several (None: any)
    datasets = [d for d in store.list_datasets() if d["versions"] and (recipes is None or d["recipe"] in recipes)]
    if not datasets:
        st.info("No datasets yet. Import one in the Import tab, or load the demo data from the Home page.")
        return None
    names = [d["name"] for d in datasets]
    numbers_of = {d["name"]: [v["version"] for v in d["versions"]][::-1] for d in datasets}  # latest first
    wanted = st.query_params.get("dataset")  # deep links: /data?dataset=demo-saige
    if not wanted:
        st.session_state.pop(_LINKED, None)
    elif wanted in names and st.session_state.get(_LINKED) != wanted:
        st.session_state[_LINKED] = wanted
        set_current_dataset(None, name=wanted)
    current = current_dataset()
    if current and current[0] in names:  # before the boxes are drawn: a widget's value cannot change after that
        name, version = current[0], current[1]
        if version not in numbers_of[name]:
            version = numbers_of[name][0]
            st.session_state[CURRENT_DATASET] = (name, version)
        if st.session_state.get(f"{key}_dataset") != name:
            st.session_state[f"{key}_dataset"] = name
        if st.session_state.get(f"{key}_version_{name}") != version:
            st.session_state[f"{key}_version_{name}"] = version
    left, right = st.columns([3, 1])
    name = left.selectbox(label, names, on_change=_chose_dataset, args=(key,), **remembered(f"{key}_dataset"),
                          format_func=lambda n: f"{n} ({next(d['recipe'] for d in datasets if d['name'] == n)})")
    versions = next(d for d in datasets if d["name"] == name)["versions"]
    version = right.selectbox("Version", numbers_of[name], on_change=_chose_version, args=(key, name),
                              **remembered(f"{key}_version_{name}"),
                              format_func=lambda v: f"v{v} · "
                                                    f"{next(x for x in versions if x['version'] == v)['operation']}")
    return store.resolve(f"{name}@{version}")
