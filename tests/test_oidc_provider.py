"""The test OpenID Connect provider (nanoidp on 127.0.0.1) and a real st.login() round trip through it."""
import json
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser_support import free_port
from tests.oidc_support import (auth_secrets_toml, chromium_context, dashboard_with_auth, login, oidc_provider,
                                redirect_uri_for)

# The login contract the dashboard implements, in ten lines.
AUTH_APP = '''\
import streamlit as st
try:
    auth = "auth" in st.secrets
except FileNotFoundError:
    auth = False
st.title("Auth probe")
if auth and not st.user.is_logged_in:
    if st.button("Log in"):
        st.login()
elif auth:
    st.sidebar.write(f"Signed in as {st.user.email}")
    if st.sidebar.button("Log out"):
        st.logout()
    st.write(f"name={st.user.name} sub={st.user.sub}")
'''


def _get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        return json.load(r)


def test_discovery_document_and_jwks(tmp_path):
    redirect_uri = redirect_uri_for(free_port())
    with oidc_provider(tmp_path / "idp", {"alice": "pw-alice"}, redirect_uri) as idp:
        assert idp.server_metadata_url == f"{idp.issuer}/.well-known/openid-configuration"
        meta = _get_json(idp.server_metadata_url)
        assert meta["issuer"] == idp.issuer
        assert meta["authorization_endpoint"].startswith(idp.issuer)
        assert meta["token_endpoint"].startswith(idp.issuer)
        assert "S256" in meta["code_challenge_methods_supported"]
        keys = _get_json(meta["jwks_uri"])["keys"]
        assert keys and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"
        secrets = auth_secrets_toml(idp, redirect_uri, cookie_secret="k" * 32)
        for key in ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url"):
            assert f"\n{key} = " in secrets


def test_two_users_log_in_at_once(tmp_path):
    app = tmp_path / "auth_app.py"
    app.write_text(AUTH_APP)
    users = {"alice": "pw-alice", "bob": "pw-bob"}
    port = free_port()
    redirect_uri = redirect_uri_for(port)
    with oidc_provider(tmp_path / "idp", users, redirect_uri) as idp:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(auth_secrets_toml(idp, redirect_uri, cookie_secret="test-cookie-secret-0123456789"))
        with dashboard_with_auth(tmp_path / "state", secrets, port=port, script=app) as url, \
                chromium_context() as new_page:
            alice, bob = new_page(), new_page()  # two browser contexts: separate cookie jars
            login(alice, url, "alice", users["alice"])
            expect(alice.get_by_text("name=Alice sub=alice")).to_be_visible()

            with pytest.raises(AssertionError, match="Invalid username or password"):
                login(bob, url, "bob", "not-bobs-password")
            login(bob, url, "bob", users["bob"])
            expect(bob.get_by_text("Signed in as bob@lab.test", exact=True)).to_be_visible()
            expect(bob.get_by_text("name=Bob sub=bob")).to_be_visible()

            alice.reload()
            expect(alice.get_by_text("Signed in as alice@lab.test", exact=True)).to_be_visible()
            expect(alice.get_by_text("bob@lab.test")).to_have_count(0)

            bob.get_by_role("button", name="Log out").click()
            expect(bob.get_by_role("button", name="Log in", exact=True)).to_be_visible()
            alice.reload()
            expect(alice.get_by_text("Signed in as alice@lab.test", exact=True)).to_be_visible()
