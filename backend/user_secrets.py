"""Each person's own API keys on a shared server, readable only as that person.

Keys live in `state/secrets/<hash of the user>.json` (folder 0700, file 0600), the one place under the
state dir that holds them: never the DB, a spec, a log or an artifact. Every function acts for
`current_user()` and takes no user argument, so no call can read someone else's keys. A job acts for its
owner, so a trace job started by alice uses alice's key even when bob's dashboard process launched it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from backend.config import state_path
from backend.errors import LabError
from backend.users import current_user

_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")


def _store() -> Path:
    folder = state_path("secrets")
    os.chmod(folder, 0o700)
    return folder / (hashlib.sha256(current_user().encode()).hexdigest()[:24] + ".json")


def _read() -> dict[str, str]:
    path = _store()
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise LabError(f"{path}: the key store is damaged; delete it and save your keys again") from None


def _write(values: dict[str, str]) -> None:
    path = _store()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out)
    os.replace(tmp, path)


def save_secret(name: str, value: str) -> None:
    """Store one of your keys under a variable name (e.g. OPENAI_API_KEY)."""
    if not _NAME.fullmatch(name or ""):
        raise LabError(f"key name {name!r}: use an environment-variable style name such as OPENAI_API_KEY")
    if not value or not value.strip():
        raise LabError(f"{name}: the key is empty")
    _write({**_read(), name: value.strip()})


def delete_secret(name: str) -> bool:
    values = _read()
    found = values.pop(name, None) is not None
    if found:
        _write(values)
    return found


def secret_names() -> list[str]:
    return sorted(_read())


def get_secret(name: str) -> str | None:
    return _read().get(name)
