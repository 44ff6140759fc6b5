"""Trust on a shared server, in the dashboard: two people logged in through OIDC (AppTest's `at.user`), who
see only their own or shared templates, cannot touch each other's jobs or datasets, and whose "Key:" caption
never shows a character of a key that is not their own."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from backend.jobs import manager
from backend.users import acting_as
from tests.browser_support import ROOT
from tests.trace_support import make_dataset

AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "lab",
        "client_secret": "s", "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}
DB_SECRET = "dbpw-Q7xZ9wK2mP4vR8tY1nB6cJ3hF5"
LAB_KEY = "sk-lab-W3eR5tY7uI9oP1aS2dF4gH6jK8"
LAB_URL = "http://127.0.0.1:9/v1"


@pytest.fixture()
def lab(state, monkeypatch):
    for name in ("OPENAI_API_KEY", "FTLAB_MULTI_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FTLAB_SECRETS", str(state.parent / "none.toml"))
    monkeypatch.setenv("FTLAB_GPUS", "")
    monkeypatch.setenv("FTLAB_JOB_PLUGINS", "tests.trust_job_kinds")
    make_dataset("g", 4)
    return state


def page_as(email: str, page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": email}
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shows_part_of(text: str, secret: str, n: int = 5) -> bool:
    return any(secret[i:i + n] in text for i in range(len(secret) - n + 1))


def all_text(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("caption", "markdown", "text", "code", "success", "info", "warning",
                                               "error") for e in getattr(at, kind))


def test_the_key_caption_shows_nothing_of_a_server_variable(lab, monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", DB_SECRET)
    monkeypatch.setenv("LAB_VLLM_KEY", LAB_KEY)
    monkeypatch.setenv("FTLAB_TEACHER_KEYS", f"{LAB_URL}=LAB_VLLM_KEY")
    at = page_as("alice@lab.test", "views/traces.py")
    at.text_input(key="traces_base_url").set_value("http://evil.example/v1")
    at.text_input(key="traces_key_env").set_value("DB_PASSWORD")
    at.run()
    [caption] = [c.value for c in at.caption if c.value.startswith("Key:")]
    assert caption.startswith("Key: (none): save your own DB_PASSWORD") and "allowlists no key" in caption
    assert not shows_part_of(all_text(at), DB_SECRET)
    at.text_input(key="traces_base_url").set_value(LAB_URL)
    at.run()
    [caption] = [c.value for c in at.caption if c.value.startswith("Key:")]
    assert "the lab's key for this endpoint (LAB_VLLM_KEY, allowlisted" in caption
    assert not shows_part_of(all_text(at), LAB_KEY) and not shows_part_of(all_text(at), DB_SECRET)


def test_templates_are_private_unless_shared(lab):
    at = page_as("alice@lab.test", "views/traces.py")
    builtin = at.selectbox(key="traces_template").value
    for name, share in (("alice-private", False), ("alice-shared", True)):
        at.text_area(key=f"traces_user_{builtin}").set_value(f"{name}: {{prompt}}")
        at.text_input(key="traces_tmpl_name").set_value(name)
        at.checkbox(key="traces_tmpl_share").set_value(share)
        at.button(key="traces_tmpl_save").click()
        at.run()
        assert not at.exception and any(s.value.startswith(f"Saved {name}") for s in at.success), \
            [e.value for e in at.error]
    at.text_area(key=f"traces_user_{builtin}").set_value("{prompt:>400000000}")
    at.text_input(key="traces_tmpl_name").set_value("huge")
    at.button(key="traces_tmpl_save").click()
    at.run()
    assert any("format specs and conversions are not allowed" in e.value for e in at.error)
    shown = at.selectbox(key="traces_template").options  # "NAME: description"
    assert any(o.startswith("alice-private: ") for o in shown) and any(o.startswith("alice-shared: ") for o in shown)

    bob = page_as("bob@lab.test", "views/traces.py")
    options = bob.selectbox(key="traces_template").options
    assert any(o.startswith("alice@lab.test:alice-shared: ") for o in options)
    assert not any("alice-private" in o or o.startswith("huge") for o in options)
    assert bob.selectbox(key="traces_template").value == builtin  # his default is still the built-in


def test_someone_elses_job_and_dataset_are_out_of_reach(lab):
    with acting_as("alice@lab.test"):
        make_dataset("alice-data", 3, "a")
        job = manager.submit("sleeper", {"seconds": 60})
    try:
        bob = page_as("bob@lab.test", "views/jobs.py")
        assert any("belongs to alice@lab.test" in c.value for c in bob.caption)
        assert bob.button(key="jobs_cancel").disabled and bob.button(key="jobs_delete").disabled
        traces = page_as("bob@lab.test", "views/traces.py")
        traces.text_input(key="traces_base_url").set_value("http://127.0.0.1:9/v1")
        traces.run()
        next(t for t in traces.text_input if t.label == "Output dataset").set_value("alice-data")
        traces.button(key="traces_start").click()
        traces.run()
        assert any("belongs to alice@lab.test" in e.value for e in traces.error), [e.value for e in traces.error]
        assert [j.id for j in manager.list_jobs()] == [job.id]  # no trace job was started
    finally:
        with acting_as("alice@lab.test"):
            manager.cancel(job.id)
    assert manager.wait(job.id, timeout=60).status == "cancelled"
