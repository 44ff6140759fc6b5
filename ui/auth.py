"""Who is using the dashboard: Streamlit's OIDC login when `[auth]` is configured, else one local user."""
from __future__ import annotations

import ipaddress

import streamlit as st

from backend.users import current_user, is_admin, set_current_user, set_login_session

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all: single-user mode
        return False


def _is_loopback(address: str | None) -> bool:
    if not address or address in LOOPBACK_NAMES:
        return bool(address)
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def login_name() -> str:
    """The lab's name for a logged-in person: the email, else what the provider calls them."""
    user = st.user
    return str(user.get("email") or user.get("preferred_username") or user.get("sub"))


def gate() -> str:
    """Run before any page: with `[auth]`, stop at a login screen until the visitor signs in; either way set
    the acting user for this session's backend calls and return it."""
    if auth_configured():
        if not st.user.is_logged_in:
            st.title(":material/science: Finetune Lab")
            st.write("This lab server asks you to sign in with your organisation's account.")
            if st.button("Log in", type="primary"):
                st.login()
            st.stop()
        set_current_user(login_name())
        set_login_session(True)  # several people share this server: the key rules of backend/keys.py apply
        with st.sidebar:
            st.markdown(f"Signed in as {login_name()}")
            if is_admin():
                st.caption("admin")
            if st.button("Log out"):
                st.logout()
    else:
        set_current_user(None)  # FTLAB_USER or the OS user
        set_login_session(False)
        address = st.get_option("server.address")
        if not _is_loopback(address):
            st.warning(f"This dashboard listens on {address or 'every address'} with no login configured: anyone who "
                       "can reach it acts as one user. Bind it to 127.0.0.1 (`--server.address 127.0.0.1`) or add an "
                       "`[auth]` section to `.streamlit/secrets.toml`.", icon=":material/warning:")
        st.sidebar.caption(f"Single-user mode: {current_user()}")
    return current_user()
