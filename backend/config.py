"""Where runtime data lives. One setting: the FTLAB_STATE environment variable (default ./state)."""
from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    path = Path(os.environ.get("FTLAB_STATE", "state")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_path(*parts: str) -> Path:
    """A directory inside the state dir, created on demand (datasets, runs, indexes, models, uploads)."""
    path = state_dir().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
