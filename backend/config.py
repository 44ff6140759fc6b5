"""Where runtime data lives. One setting: the FTLAB_STATE environment variable (default ./state).

The state dir is created private (0700; FTLAB_STATE_MODE, e.g. 0750, shares it with a group): it holds
completions, datasets and the DB. No path inside it may be a symbolic link: a link planted at
datasets/<name> or exports/ would send writes (and deletes) outside the state dir.
"""
from __future__ import annotations

import os
from pathlib import Path

from backend.errors import LabError

DEFAULT_MODE = 0o700


def state_mode() -> int:
    raw = os.environ.get("FTLAB_STATE_MODE", "")
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
    path = Path(os.environ.get("FTLAB_STATE", "state")).resolve()
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
