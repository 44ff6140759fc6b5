"""The login gate in AppTest: with [auth] a visitor sees only the login screen; without it the app runs as one
local user, and warns when it listens on a non-loopback address."""
import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from tests.browser_support import ROOT
from tests.support import open_page
from ui.auth import _is_loopback


@pytest.fixture()
def address():
    before = st_config.get_option("server.address")
    yield lambda value: st_config.set_option("server.address", value)
    st_config.set_option("server.address", before)


def test_single_user_on_loopback_has_no_warning(state, address):
    address("127.0.0.1")
    at = open_page("views/home.py")
    assert not at.warning
    assert any("Single-user mode: tester" in c.value for c in at.sidebar.caption)


def test_exposed_without_login_warns(state, address):
    address("0.0.0.0")
    at = open_page("views/home.py")
    assert any("listens on 0.0.0.0 with no login configured" in w.value for w in at.warning)


AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "lab",
        "client_secret": "s", "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}


def app_with_auth(user: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = user
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_auth_configured_stops_at_the_login_screen(state):
    at = app_with_auth({"is_logged_in": False})
    assert [b.label for b in at.button] == ["Log in"]
    assert [t.value for t in at.title] == [":material/science: Finetune Lab"]  # no page was rendered behind the gate


def test_logged_in_user_acts_as_themselves(state, monkeypatch):
    monkeypatch.setenv("FTLAB_ADMINS", "carol@lab.test")
    at = app_with_auth({"is_logged_in": True, "email": "carol@lab.test", "name": "Carol"})
    assert any("Signed in as carol@lab.test" in m.value for m in at.sidebar.markdown)
    assert any(c.value == "admin" for c in at.sidebar.caption)
    assert "Log out" in [b.label for b in at.sidebar.button]
    from backend.users import current_user

    assert current_user() == "tester"  # the session's user does not leak into this thread


@pytest.mark.parametrize("value,loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                            ("127.0.0.5", True), ("0.0.0.0", False), ("", False),
                                            ("192.168.1.4", False), ("lab.example.org", False)])
def test_loopback_addresses(value, loopback):
    assert _is_loopback(value) is loopback
