"""Which API key a request may use, and how a job gets a key that lives only in the dashboard's environment.

**Single-user** (a laptop: no OIDC login, FTLAB_MULTI_USER unset): a teacher's key is your own saved key under
its `api_key_env` name (backend/user_secrets.py), else that environment variable, else the top-level entry of
that name in `.streamlit/secrets.toml` (FTLAB_SECRETS). Everything there is yours, whatever its name.

**Multi-user** (`backend.users.multi_user()`: OIDC configured, or FTLAB_MULTI_USER=1): the name a user types
is only ever looked up among *their own* saved keys. The server's environment and secrets.toml are used only
where the admin allowlisted a variable for the request's endpoint:

    FTLAB_TEACHER_KEYS="https://api.openai.com/v1=OPENAI_API_KEY,http://vllm:8000/v1=VLLM_KEY"

and/or in secrets.toml

    [teacher_keys]
    "https://api.openai.com/v1" = "OPENAI_API_KEY"

(the variable's value comes from the environment, else a top-level secrets.toml entry). A request to any other
URL gets the user's own key or none, so nobody can have the server's database password sent as `Bearer` to a
URL they control. The Traces page says where a key comes from and shows characters only of your own.

**Jobs** get no secret in their environment (backend/jobs/environment.py: an allowlist of variables, nothing
named like a key, token, secret or password), so a key never shows in `ps eww` or /proc/<pid>/environ. A job
reads its owner's saved keys and secrets.toml itself. A key that exists only in the submitter's environment is
handed over in a file: `submit` (and `resume`) writes `state/secrets/jobs/<job id>.json` (0600, inside the 0700
key folder, never in the job folder, a log or the DB) with just the variables the rules above let that job
use; the job reads it and deletes it as it starts (`take_over`), holding the values in memory only. A queued
job started later by another process (the CLI, another job's runner) still finds its file. A resumed job gets
a fresh file from whoever resumes it; a job whose key was only in an environment that is gone (resumed from a
shell without the variable) fails with "no API key": on a server, keep keys in secrets.toml (allowlisted) or
let people save their own.
"""
from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from urllib.parse import urlparse

from backend import config
from backend.config import state_dir, state_path
from backend.errors import LabError
from backend.user_secrets import get_secret
from backend.users import multi_user

OPENAI_URL = "https://api.openai.com/v1"
ALLOWLIST_ENV = config.TEACHER_KEYS
HANDOVER = "jobs"  # state/secrets/jobs/<job id>.json
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

_handed: dict[str, str] = {}  # in a job process: the keys its submitter handed over (never in os.environ)


def secrets_path() -> Path:
    return config.secrets_file()


def read_secrets(path: Path | None = None) -> dict:
    """secrets.toml as a dict ({} when there is none)."""
    path = path or secrets_path()
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LabError(f"{path}: cannot read secrets ({exc})") from None


def endpoint_id(url: str | None) -> str:
    """An endpoint as compared in the allowlist: scheme and host lower-cased, no trailing slash."""
    url = (url or OPENAI_URL).strip().rstrip("/")
    parts = urlparse(url)
    if not parts.scheme or not parts.netloc:
        return url
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl().rstrip("/")


def allowlist() -> dict[str, str]:
    """Endpoint -> the variable the admin allows requests to it to use (FTLAB_TEACHER_KEYS, [teacher_keys])."""
    pairs: list[tuple[str, str]] = []
    for entry in config.teacher_keys():
        url, sep, name = entry.rpartition("=")
        if not sep or not url.strip():
            raise LabError(f"{ALLOWLIST_ENV}: {entry!r} is not URL=VARIABLE")
        pairs.append((url, name))
    table = read_secrets().get("teacher_keys", {})
    if not isinstance(table, dict):
        raise LabError(f"{secrets_path()}: [teacher_keys] must be a table of \"URL\" = \"VARIABLE\"")
    pairs += [(url, name) for url, name in table.items()]
    out = {}
    for url, name in pairs:
        name = str(name).strip()
        if not _NAME.fullmatch(name):
            raise LabError(f"teacher key allowlist: {name!r} (for {url}) is not a variable name")
        out[endpoint_id(url)] = name
    return out


def environment_secret(name: str) -> str | None:
    """A variable of the environment this process was given, or, in a job, the one its submitter handed over."""
    return _handed.get(name) or os.environ.get(name) or None


def _from_server(name: str) -> tuple[str | None, str]:
    value = environment_secret(name)
    if value:
        return value, "environment"
    value = read_secrets().get(name)
    if isinstance(value, str) and value:
        return value, "secrets.toml"
    return None, ""


def server_variable(endpoint: str | None, api_key_env: str) -> str | None:
    """The variable of the server's environment / secrets.toml a request to `endpoint` may read: the one named
    (single-user), or the one the admin allowlisted for that endpoint (multi-user), or None."""
    if not multi_user():
        return api_key_env
    return allowlist().get(endpoint_id(endpoint))


def find_key(endpoint: str | None, api_key_env: str) -> tuple[str | None, str]:
    """(key, where it came from: "saved", "environment", "secrets.toml" or "") for a request to `endpoint`,
    acting as the current user."""
    own = get_secret(api_key_env) if _NAME.fullmatch(api_key_env or "") else None
    if own:
        return own, "saved"
    variable = server_variable(endpoint, api_key_env)
    if not variable:
        return None, ""
    return _from_server(variable)


def describe(endpoint: str | None, api_key_env: str, mask) -> str:
    """The Traces page's "Key:" caption. Single-user: the key masked, as before. Multi-user: your own key masked;
    a server key only named as allowlisted, never a character of it."""
    key, where = find_key(endpoint, api_key_env)
    if not multi_user():
        return mask(key)
    if where == "saved":
        return f"your saved {api_key_env} ({mask(key)})"
    variable = server_variable(endpoint, api_key_env)
    if key:
        return f"the lab's key for this endpoint ({variable}, allowlisted by the admin)"
    return (f"(none): save your own {api_key_env} below" + (
        f"; the lab's {variable} for this endpoint is not set" if variable else
        "; the lab allowlists no key for this endpoint"))


# -- jobs ------------------------------------------------------------------------------------------------
def _handover_file(job_id: str) -> Path:
    folder = state_path("secrets", HANDOVER)
    os.chmod(folder.parent, 0o700)
    os.chmod(folder, 0o700)
    return folder / f"{job_id}.json"


def needed_variables(spec: dict) -> list[str]:
    """The server variables a job with this spec may read, under the rules above, acting as its owner."""
    names = []
    teacher = spec.get("teacher")
    if isinstance(teacher, dict) and teacher.get("provider", "openai") != "local":
        api_key_env = teacher.get("api_key_env") or "OPENAI_API_KEY"
        if not (_NAME.fullmatch(api_key_env) and get_secret(api_key_env)):  # the owner's own key: the job reads it
            variable = server_variable(teacher.get("base_url"), api_key_env)
            if variable:
                names.append(variable)
    if "hub" in (spec.get("formats") or []) or spec.get("base_model"):  # a push, or a gated model to download
        names.append("HF_TOKEN")
    return names


def hand_over(job_id: str, spec: dict) -> None:
    """Write the environment keys this job may use to its 0600 handover file (none needed: no file)."""
    keys = {name: value for name in needed_variables(spec) if (value := environment_secret(name))}
    if not keys and not (multi_user() and isinstance(spec.get("teacher"), dict)):
        discard(job_id)
        return
    path = _handover_file(job_id)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"keys": keys, "multi_user": multi_user()}, out)
    os.replace(tmp, path)


def take_over(job_id: str) -> None:
    """In the job process, first thing: read the handover file, delete it, keep the keys in memory only."""
    path = state_dir() / "secrets" / HANDOVER / f"{job_id}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        data = {}
    finally:
        path.unlink(missing_ok=True)
    _handed.update({k: v for k, v in (data.get("keys") or {}).items() if isinstance(v, str)})
    if _handed.get("HF_TOKEN"):  # the hub client reads it from the environment; set now, it stays out of
        os.environ["HF_TOKEN"] = _handed["HF_TOKEN"]  # /proc/<pid>/environ, which shows the start environment
    if data.get("multi_user"):
        os.environ[config.MULTI_USER] = "1"  # this process only: not in /proc/<pid>/environ, nor a secret


def discard(job_id: str) -> None:
    """A deleted job's handover file, if it never started."""
    folder = state_dir() / "secrets" / HANDOVER
    if folder.is_dir():
        (folder / f"{job_id}.json").unlink(missing_ok=True)
