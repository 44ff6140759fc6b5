"""Who is acting, who is an admin, and who may touch what.

The dashboard sets the acting user per browser session (`acting_as`, a context variable, so two people
on one server never see each other's name); the CLI and job processes take FTLAB_USER, else the OS user.
Admins are named in FTLAB_ADMINS (comma separated). Everyone can see everything; only the owner or an
admin may change or remove what someone made.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from pathlib import Path
from typing import Iterator

from backend import config
from backend.errors import LabError

_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("ftlab_user", default=None)
_login: contextvars.ContextVar[bool] = contextvars.ContextVar("ftlab_login", default=False)


class PermissionDenied(LabError):
    pass


def current_user() -> str:
    return _acting.get() or config.env_user() or os.environ.get("USER") or "local"


def set_current_user(user: str | None) -> None:
    """For the dashboard's script thread: every rerun sets who is logged in on that session."""
    _acting.set(user or None)


def set_login_session(on: bool) -> None:
    """For the dashboard's script thread: this session came through the OIDC login (multi-user rules apply)."""
    _login.set(bool(on))


def multi_user() -> bool:
    """Several people share this server: OIDC login is configured (an `[auth]` section in secrets.toml, or this
    dashboard session logged in through it), or FTLAB_MULTI_USER=1. Then a user's requests use only their own
    saved keys or the ones the admin allowlists per endpoint (backend/keys.py), never a variable they name."""
    if _login.get() or config.multi_user_forced():
        return True
    from backend.keys import read_secrets, secrets_path

    return any("auth" in read_secrets(path) for path in {secrets_path(), Path.home() / ".streamlit" / "secrets.toml"})


@contextlib.contextmanager
def acting_as(user: str) -> Iterator[str]:
    token = _acting.set(user)
    try:
        yield user
    finally:
        _acting.reset(token)


def admins() -> set[str]:
    return config.admins()


def is_admin(user: str | None = None) -> bool:
    return (user or current_user()) in admins()


def may_change(owner: str | None, user: str | None = None) -> bool:
    user = user or current_user()
    return owner in (None, user) or is_admin(user)


def require_owner(owner: str | None, what: str, action: str) -> None:
    """Raise unless the acting user owns `what` or is an admin."""
    user = current_user()
    if not may_change(owner, user):
        raise PermissionDenied(f"{user} cannot {action} {what}: it belongs to {owner} (only its owner or an admin can)")
