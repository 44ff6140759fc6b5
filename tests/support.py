"""Shared test helpers: a lab state for a whole test module, and a dashboard page in AppTest."""
from __future__ import annotations

import contextlib
import time
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.browser_support import ROOT


@contextlib.contextmanager
def isolated_state(tmp_path_factory, name: str, **env: str) -> Iterator:
    """FTLAB_STATE and friends pointing at a fresh folder for a module-scoped fixture (CPU only, user 'tester')."""
    with pytest.MonkeyPatch.context() as mp:
        state = tmp_path_factory.mktemp(name) / "state"
        for key, value in {"FTLAB_STATE": str(state), "FTLAB_USER": "tester", "FTLAB_GPUS": "", **env}.items():
            mp.setenv(key, value)
        yield state


def wait_for(predicate, timeout: float = 30.0, poll: float = 0.1) -> bool:
    """Poll until `predicate()` is true; AssertionError after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    raise AssertionError("condition not reached in time")


def open_page(page: str, timeout: float = 120) -> AppTest:
    """The app routed to one page, rendered once without an exception."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()
    if page != "views/home.py":
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def split_demo_from_page() -> AppTest:
    """The Data page after "Create split" with the orgaccess preset on demo-orgaccess (the run checked by the caller)."""
    at = open_page("views/data.py")
    at.selectbox(key="data_split_dataset").select("demo-orgaccess")
    at.run()
    at.selectbox(key="data_split_preset").select("orgaccess")
    at.run()
    at.button(key="data_split_go").click()
    at.run()
    return at
