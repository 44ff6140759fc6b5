"""Each person's remembered choices, kept between sessions: the last teacher a trace job used, which the
Traces page offers again on the next visit.

Rows of `user_preferences` (user, name, JSON value) in the DB. Every function acts for `current_user()`,
like the key store, so nobody reads someone else's choices. Never a key: a teacher is remembered as its
model, base URL, provider and price model only (its key stays in backend/user_secrets.py).
"""
from __future__ import annotations

import json
from typing import Any

from backend.errors import LabError
from backend.storage.db import connect, now_iso, transaction
from backend.users import current_user

LAST_TEACHER = "last_teacher"
TEACHER_FIELDS = ("model", "base_url", "provider", "price_model")  # what is remembered of a teacher; never a key


def get_preference(name: str, default: Any = None) -> Any:
    """The acting user's value for `name`, or `default` when none is stored."""
    with connect() as db:
        row = next(iter(db.query("SELECT value FROM user_preferences WHERE user = ? AND name = ?",
                                 [current_user(), name])), None)
    if row is None:
        return default
    try:
        return json.loads(row["value"])
    except ValueError:
        return default


def set_preference(name: str, value: Any) -> None:
    """Store `value` (anything JSON can hold) as the acting user's `name`."""
    if not name or not isinstance(name, str):
        raise LabError("a preference needs a name")
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise LabError(f"preference {name!r}: not storable as JSON ({exc})") from None
    with connect() as db, transaction(db):
        db.conn.execute(
            "INSERT INTO user_preferences (user, name, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (current_user(), name, text, now_iso()))


def remember_teacher(teacher) -> dict:
    """Keep a teacher (a backend.traces.teachers.Teacher) as the acting user's last one: model, base URL,
    provider and price model, never its key or the key's variable."""
    data = {field: getattr(teacher, field) for field in TEACHER_FIELDS}
    set_preference(LAST_TEACHER, data)
    return data


def last_teacher() -> dict | None:
    """The acting user's last teacher ({model, base_url, provider, price_model}), or None."""
    data = get_preference(LAST_TEACHER)
    if not isinstance(data, dict) or not data.get("model"):
        return None
    return {field: data.get(field) for field in TEACHER_FIELDS}
