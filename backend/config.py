"""Where runtime data lives, and every FTLAB_* setting: the one module that reads them from the environment.

Each setting has a function here with its default and a docstring, and an entry in `SETTINGS` (name,
default, meaning) that README.md's "Settings" table repeats (tests/test_settings.py compares them). Values
are read at call time, never cached, so a test (or the dashboard) that changes one sees it at once.

The state dir (FTLAB_STATE, default ./state) is created private (0700; FTLAB_STATE_MODE, e.g. 0750, shares it
with a group): it holds completions, datasets and the DB. No path inside it may be a symbolic link: a link
planted at datasets/<name> or exports/ would send writes (and deletes) outside the state dir.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from backend.errors import LabError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODE = 0o700
DEFAULT_MAX_UPLOAD_MB = 1024  # the same as server.maxUploadSize in .streamlit/config.toml
DEFAULT_SLOTS = {"api": 2, "gpu": 1, "cpu": 2}  # jobs at once per local queue
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str  # as README shows it
    meaning: str


SETTINGS: dict[str, Setting] = {}


def _setting(name: str, default: str, meaning: str) -> str:
    SETTINGS[name] = Setting(name, default, meaning)
    return name


STATE = _setting("FTLAB_STATE", "`./state`", "the state directory: datasets, jobs, runs, models, the DB")
STATE_MODE = _setting("FTLAB_STATE_MODE", "`0700`", "permissions of a new state directory (`0750` shares it "
                      "with a group)")
USER = _setting("FTLAB_USER", "the OS user", "who the CLI and job processes act as (the dashboard: the login)")
ADMINS = _setting("FTLAB_ADMINS", "none", "comma-separated users who may change or remove what others made")
MULTI_USER = _setting("FTLAB_MULTI_USER", "off", "`1`: several people share this server, so the multi-user "
                      "key rules apply even without an OIDC login")
SECRETS = _setting("FTLAB_SECRETS", "`.streamlit/secrets.toml`", "the secrets file: provider keys, "
                   "`[auth]`, `[teacher_keys]`")
TEACHER_KEYS = _setting("FTLAB_TEACHER_KEYS", "none", "multi-user: `URL=VARIABLE,...`, the server key a "
                        "request to an endpoint may use")
DEBUG = _setting("FTLAB_DEBUG", "off", "any value: the CLI prints the traceback of an error")
GPUS = _setting("FTLAB_GPUS", "detected (`nvidia-smi`)", "GPUs jobs may use: indices `0,1` or a count `2`; "
                "empty: none")
SLOTS = _setting("FTLAB_SLOTS", "`" + ",".join(f"{k}={v}" for k, v in DEFAULT_SLOTS.items()) + "`",
                 "jobs running at once per local queue (the queues named replace their defaults)")
USER_LIMITS = _setting("FTLAB_USER_LIMITS", "no cap", "fair share: `jobs=2,gpus=1` caps each person's running "
                       "jobs and GPUs")
JOB_PLUGINS = _setting("FTLAB_JOB_PLUGINS", "none", "comma-separated modules that register extra job kinds")
JOB_THREADS = _setting("FTLAB_JOB_THREADS", "set by the lab", "marks the thread variables a job's runner set, "
                       "so a job it starts tells them from the user's (not a setting)")
SLURM_BIN = _setting("FTLAB_SLURM_BIN", "the PATH", "folder holding `sbatch`, `squeue`, `scontrol`, `scancel`")
SLURM_JOBCOMP = _setting("FTLAB_SLURM_JOBCOMP", "`JobCompLoc` of `scontrol show config`", "the Slurm jobcomp "
                         "log that tells how a finished job ended")
MAX_UPLOAD_MB = _setting("FTLAB_MAX_UPLOAD_MB", f"`{DEFAULT_MAX_UPLOAD_MB}`", "largest upload, and largest "
                         "unpacked archive, in MB")
PLAYGROUND_MEMORY_GB = _setting("FTLAB_PLAYGROUND_MEMORY_GB", "half the GPU's memory (CPU: half the RAM)",
                                "memory the Playground's loaded models may take together, in GB")


def _read(name: str) -> str | None:
    return os.environ.get(name)


def _list(name: str) -> list[str]:
    """A comma-separated setting as its non-empty, stripped items."""
    return [item.strip() for item in (_read(name) or "").split(",") if item.strip()]


def _int_pairs(name: str) -> dict[str, int]:
    """A `key=N,key=N` setting; pairs whose value is not a whole number are skipped."""
    out = {}
    for pair in filter(None, (_read(name) or "").split(",")):
        key, _, value = pair.partition("=")
        if value.strip().isdigit():
            out[key.strip()] = int(value)
    return out


def state_mode() -> int:
    """FTLAB_STATE_MODE as an octal mode (default 0700); it must keep rwx for the owner."""
    raw = _read(STATE_MODE) or ""
    if not raw:
        return DEFAULT_MODE
    try:
        mode = int(raw, 8)
    except ValueError:
        raise LabError(f"FTLAB_STATE_MODE must be an octal mode such as 0750, not {raw!r}") from None
    if not 0 <= mode <= 0o777 or not mode & 0o700 == 0o700:
        raise LabError(f"FTLAB_STATE_MODE {raw!r} must keep rwx for the owner (e.g. 0700, 0750)")
    return mode


def state_dir() -> Path:
    """FTLAB_STATE (default ./state), resolved, created private on first use."""
    path = Path(os.environ.get(STATE, "state")).resolve()
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(state_mode())  # mkdir's mode is cut by the umask; the chmod is what counts
    return path


def refuse_links(base: Path, path: Path) -> Path:
    """`path` unchanged, after checking that no component between `base` and it is a symbolic link."""
    current = base
    for part in path.relative_to(base).parts:
        current = current / part
        if current.is_symlink():
            raise LabError(f"{current} is a symbolic link; the state dir must not contain links "
                           "(remove it: writes through it would land outside the state dir)")
    return path


def state_path(*parts: str) -> Path:
    """A directory inside the state dir, created on demand (datasets, runs, indexes, models, uploads)."""
    base = state_dir()
    path = refuse_links(base, base.joinpath(*parts))
    path.mkdir(parents=True, exist_ok=True)
    return path


def env_user() -> str | None:
    """FTLAB_USER: who the CLI and job processes act as (None: unset, the caller falls back to the OS user)."""
    return _read(USER) or None


def admins() -> set[str]:
    """FTLAB_ADMINS: the admins' user names (default: none)."""
    return set(_list(ADMINS))


def multi_user_forced() -> bool:
    """FTLAB_MULTI_USER=1 (or true/yes/on): multi-user rules even without an OIDC login (default off)."""
    return (_read(MULTI_USER) or "").strip().lower() in _TRUE


def secrets_file() -> Path:
    """FTLAB_SECRETS: the secrets.toml to read (default .streamlit/secrets.toml in the checkout)."""
    return Path(os.environ.get(SECRETS, ROOT / ".streamlit" / "secrets.toml"))


def teacher_keys() -> list[str]:
    """FTLAB_TEACHER_KEYS: the admin's `URL=VARIABLE` entries (default none; backend/keys.py parses them)."""
    return _list(TEACHER_KEYS)


def debug() -> bool:
    """FTLAB_DEBUG set to anything: the CLI prints a failing command's traceback (default off)."""
    return bool(_read(DEBUG))


def gpus_setting() -> str | None:
    """FTLAB_GPUS as given ("0,1", a count "2", or "" for none); None when unset (detect with nvidia-smi)."""
    return _read(GPUS)


def slots() -> dict[str, int]:
    """Concurrent jobs per local queue: DEFAULT_SLOTS, with the queues FTLAB_SLOTS="api=4,gpu=1" names replaced."""
    return {**DEFAULT_SLOTS, **_int_pairs(SLOTS)}


def user_limits() -> dict[str, int]:
    """FTLAB_USER_LIMITS: per-user caps on the local queue, e.g. {"jobs": 2, "gpus": 1} (default: no cap)."""
    return _int_pairs(USER_LIMITS)


def job_plugins() -> list[str]:
    """FTLAB_JOB_PLUGINS: modules that register extra job kinds when imported (default none)."""
    return _list(JOB_PLUGINS)


def job_threads_inherited() -> bool:
    """Whether FTLAB_JOB_THREADS is set: the thread variables here came from a job runner, not from the user."""
    return JOB_THREADS in os.environ


def slurm_bin() -> str | None:
    """FTLAB_SLURM_BIN: the folder of Slurm's commands (default None: look them up on the PATH)."""
    return _read(SLURM_BIN) or None


def slurm_jobcomp() -> str | None:
    """FTLAB_SLURM_JOBCOMP: the jobcomp log file (default None: ask `scontrol show config` for JobCompLoc)."""
    return _read(SLURM_JOBCOMP) or None


def max_upload_mb() -> int:
    """FTLAB_MAX_UPLOAD_MB: the limit a saved upload may not pass (default 1024; not a whole number: default)."""
    setting = (_read(MAX_UPLOAD_MB) or "").strip()
    return int(setting) if setting.isdigit() else DEFAULT_MAX_UPLOAD_MB


def playground_memory_gb() -> float | None:
    """FTLAB_PLAYGROUND_MEMORY_GB: the Playground's memory budget in GB (None: unset, the caller measures)."""
    setting = _read(PLAYGROUND_MEMORY_GB)
    if not setting:
        return None
    try:
        value = float(setting)
    except ValueError:
        raise LabError(f"{PLAYGROUND_MEMORY_GB} must be a number of GB, not {setting!r}") from None
    if value <= 0:
        raise LabError(f"{PLAYGROUND_MEMORY_GB} must be more than 0 GB")
    return value
