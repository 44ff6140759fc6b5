"""A real OpenID Connect provider on 127.0.0.1 (nanoidp) and the Playwright steps that log a user in through it.

Order matters because the redirect URI names the dashboard's port, and the provider registers it before the
dashboard starts:

    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/oauth2callback"
    with oidc_provider(tmp_path / "idp", {"alice": "pw-a"}, redirect_uri) as idp:
        secrets = tmp_path / "secrets.toml"
        secrets.write_text(auth_secrets_toml(idp, redirect_uri, cookie_secret="x" * 32))
        with dashboard_with_auth(state_dir, secrets, port=port) as url, chromium_context() as new_page:
            page = new_page()
            login(page, url, "alice", "pw-a")

The provider is nanoidp (PyPI, requirements-dev.txt) run as its own process through this module's
`python -m tests.oidc_support serve ...` entry point, which is nanoidp's Flask app plus one WSGI shim (see
`_IdTokenClaims`): Streamlit's st.user is built from the ID token alone (it never calls /userinfo), and nanoidp puts
email/name into the ID token only when the authorization request asks for them with the OIDC `claims` parameter,
which Streamlit's st.login() never sends. The shim adds that parameter to /authorize requests that lack it, so the
ID token carries email, email_verified, name and preferred_username like Google's or Keycloak's do.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets as _secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import parse_qs, urlencode

import yaml

from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, stop_process

EMAIL_DOMAIN = "lab.test"
LOGIN_BUTTON = "Log in"
LOGOUT_BUTTON = "Log out"
SIGNED_IN_PREFIX = "Signed in as "
# What the shim asks nanoidp to put into every ID token (OIDC Core 5.5, voluntary claims).
ID_TOKEN_CLAIMS = ("email", "email_verified", "name", "preferred_username")
_LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)")


@dataclass(frozen=True)
class OIDCProvider:
    issuer: str
    server_metadata_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    port: int
    users: dict[str, str]
    config_dir: Path
    log_path: Path

    def email(self, username: str) -> str:
        return f"{username}@{EMAIL_DOMAIN}"


def display_name(username: str) -> str:
    return username.capitalize()


def _write_config(config_dir: Path, port: int, users: dict[str, str], redirect_uri: str,
                  client_id: str, client_secret: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    issuer = f"http://127.0.0.1:{port}"
    settings = {
        "config_version": 1,
        "config_validation": "strict",
        "server": {"host": "127.0.0.1", "port": port},
        "oauth": {
            "issuer": issuer,
            "audience": client_id,
            "clients": [{
                "client_id": client_id,
                "client_secret": client_secret,
                # Authlib (Streamlit's OIDC client) authenticates at /token with HTTP Basic by default.
                "token_endpoint_auth_method": "client_secret_basic",
                "redirect_uris": [redirect_uri],
                "description": "Finetune Lab dashboard (tests)",
            }],
        },
        "jwt": {"keys_dir": str(config_dir / "keys")},
        "session": {"secret_key": _secrets.token_hex(16)},
        "login": {"mode": "password"},
        "logging": {"level": "WARNING"},
    }
    users_doc = {
        "config_version": 1,
        "users": {
            name: {"password": password, "email": f"{name}@{EMAIL_DOMAIN}",
                   "attributes": {"name": display_name(name)}}
            for name, password in users.items()
        },
    }
    (config_dir / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    (config_dir / "users.yaml").write_text(yaml.safe_dump(users_doc, sort_keys=False))


def _wait_http(url: str, proc: subprocess.Popen, log_path: Path, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{what} did not start (exit {proc.poll()}): {log_path.read_text(errors='replace')}")
        time.sleep(0.2)




@contextlib.contextmanager
def oidc_provider(base_dir: Path, users: dict[str, str], redirect_uri: str, *, client_id: str = "finetune-lab",
                  client_secret: str | None = None, port: int | None = None) -> Iterator[OIDCProvider]:
    """Start nanoidp on a free 127.0.0.1 port with `users` (username -> password; email <username>@lab.test,
    name claim the capitalised username) and one confidential client allowed to redirect to `redirect_uri`.
    Everything it writes (config, signing keys, log) stays under `base_dir`. Stops the process on exit."""
    base_dir = Path(base_dir)
    base_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    client_secret = client_secret or _secrets.token_urlsafe(24)
    config_dir = base_dir / "config"
    _write_config(config_dir, port, users, redirect_uri, client_id, client_secret)
    log_path = base_dir / f"nanoidp-{port}.log"
    issuer = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_support", "serve", "--config", str(config_dir),
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=base_dir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                 "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        try:
            metadata_url = f"{issuer}/.well-known/openid-configuration"
            _wait_http(metadata_url, proc, log_path, "nanoidp")
            yield OIDCProvider(issuer=issuer, server_metadata_url=metadata_url, client_id=client_id,
                               client_secret=client_secret, redirect_uri=redirect_uri, port=port,
                               users=dict(users), config_dir=config_dir, log_path=log_path)
        finally:
            stop_process(proc)


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid TOML basic string


def auth_secrets_toml(provider: OIDCProvider, redirect_uri: str, cookie_secret: str) -> str:
    """The `[auth]` section of a Streamlit secrets.toml for `provider` (the flat, single-provider form that
    st.login() with no argument reads). Streamlit 1.67 requires redirect_uri and cookie_secret in [auth] and
    client_id, client_secret, server_metadata_url for the provider; the redirect_uri must end in /oauth2callback."""
    if not redirect_uri.endswith("/oauth2callback"):
        raise ValueError("Streamlit's redirect_uri must end with /oauth2callback")
    return (
        "[auth]\n"
        f"redirect_uri = {_toml_str(redirect_uri)}\n"
        f"cookie_secret = {_toml_str(cookie_secret)}\n"
        f"client_id = {_toml_str(provider.client_id)}\n"
        f"client_secret = {_toml_str(provider.client_secret)}\n"
        f"server_metadata_url = {_toml_str(provider.server_metadata_url)}\n"
    )


def redirect_uri_for(port: int) -> str:
    return f"http://127.0.0.1:{port}/oauth2callback"


@contextlib.contextmanager
def dashboard_with_auth(state_dir: Path, secrets_path: Path, env: dict | None = None, port: int | None = None,
                        script: str | Path = "app.py") -> Iterator[str]:
    """Like tests.browser_support.dashboard, but Streamlit reads its secrets from `secrets_path` only
    (`--secrets.files`, which replaces the default list, so neither the repo's .streamlit/secrets.toml nor
    ~/.streamlit/secrets.toml is read). `port` must be the one in the secrets' redirect_uri; `script` defaults to
    the dashboard's app.py (cwd is the repo root either way). Yields the URL; stops the process afterwards."""
    state_dir = Path(state_dir)
    port = port or free_port()
    log_path = state_dir.parent / f"streamlit-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--secrets.files", str(Path(secrets_path).resolve())],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "FTLAB_STATE": str(state_dir), "NO_PROXY": "127.0.0.1,localhost",
                 "no_proxy": "127.0.0.1,localhost", **(env or {})})
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_http(f"{url}/_stcore/health", proc, log_path, "dashboard")
            yield url
        finally:
            stop_process(proc)


@contextlib.contextmanager
def chromium_context() -> Iterator[Callable[[], object]]:
    """One headless Debian Chromium; yields `new_page()`, each call a page in a fresh, isolated browser context
    (own cookies: one logged-in user per context)."""
    if not Path(CHROMIUM).exists():
        import pytest

        pytest.fail("Debian chromium is not installed (make test installs it: apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            def new_page():
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                block_external(context)
                page = context.new_page()
                page.set_default_timeout(30_000)
                return page

            yield new_page
        finally:
            browser.close()


def block_external(page_or_context) -> None:
    """Abort every request that leaves the loopback interface (nanoidp's pages link Bootstrap from a CDN;
    without this the browser waits on a network this machine doesn't have)."""
    page_or_context.route(lambda url: not _LOOPBACK.match(url), lambda route: route.abort())


def login(page, dashboard_url: str, username: str, password: str, timeout_ms: int = 30_000) -> None:
    """Open the dashboard, click `Log in`, sign in on nanoidp's form, and wait until the dashboard's sidebar shows
    `Signed in as <username>@lab.test`. Raises AssertionError with the IdP's message on a refused login."""
    from playwright.sync_api import expect

    block_external(page)  # harmless when the page's context already blocks (chromium_context does)
    page.goto(dashboard_url, wait_until="domcontentloaded")
    page.get_by_role("button", name=LOGIN_BUTTON, exact=True).click(timeout=timeout_ms)
    # st.login() makes the browser navigate to /auth/login, which redirects to nanoidp's /authorize.
    page.wait_for_url(re.compile(r"/authorize"), wait_until="domcontentloaded", timeout=timeout_ms)
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    # The form POSTs to /authorize: a refused login answers there (200), an accepted one redirects to the
    # dashboard's /oauth2callback, which sets Streamlit's auth cookie and redirects to the app's root.
    with page.expect_navigation(wait_until="domcontentloaded", timeout=timeout_ms):
        page.locator("form button[type=submit]").click()
    if "/authorize" in page.url:
        alert = page.locator(".alert")
        message = alert.first.inner_text() if alert.count() else page.content()[:500]
        raise AssertionError(f"nanoidp refused the login of {username!r}: {message.strip()}")
    expect(page.get_by_text(f"{SIGNED_IN_PREFIX}{username}@{EMAIL_DOMAIN}", exact=True)).to_be_visible(
        timeout=timeout_ms)


# ---------------------------------------------------------------------------------------------------------------
# The provider process: `python -m tests.oidc_support serve --config DIR --host 127.0.0.1 --port N`


class _IdTokenClaims:
    """WSGI middleware in front of nanoidp: an authorization request (/authorize with a client_id) that
    carries no OIDC `claims` parameter gets one asking for ID_TOKEN_CLAIMS in the ID token. Streamlit builds
    st.user from the ID token's claims only, and nanoidp (correctly, OIDC Core 5.4) returns scope claims from
    /userinfo unless the ID token is asked for them."""

    def __init__(self, app, claims: tuple[str, ...] = ID_TOKEN_CLAIMS) -> None:
        self.app = app
        self.claims = json.dumps({"id_token": {name: None for name in claims}})

    def __call__(self, environ, start_response):
        # Both legs: the login form POSTs back to the same URL, and nanoidp checks that its query string still
        # matches the pending request, so the POST must see the same added parameter as the GET did.
        if environ.get("PATH_INFO") == "/authorize":
            query = environ.get("QUERY_STRING", "")
            params = parse_qs(query, keep_blank_values=True)
            if "client_id" in params and "claims" not in params:
                environ = {**environ, "QUERY_STRING": f"{query}&{urlencode({'claims': self.claims})}"}
        return self.app(environ, start_response)


def _serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.oidc_support serve")
    parser.add_argument("--config", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    from nanoidp.app import create_app

    app = create_app(args.config)
    app.wsgi_app = _IdTokenClaims(app.wsgi_app)
    app.run(host=args.host, port=args.port, debug=False, threaded=True, use_reloader=False)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "serve":
        sys.exit("usage: python -m tests.oidc_support serve --config DIR --host 127.0.0.1 --port N")
    _serve(sys.argv[2:])
