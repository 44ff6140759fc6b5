"""Files uploaded through the dashboard land in state/uploads/<batch>/ under a safe name."""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import BinaryIO

from backend.config import state_path
from backend.errors import LabError

DEFAULT_MAX_UPLOAD_MB = 1024  # the same as server.maxUploadSize in .streamlit/config.toml


def max_upload_bytes() -> int:
    """FTLAB_MAX_UPLOAD_MB sets the limit a saved upload may not pass (default 1024 MB)."""
    setting = os.environ.get("FTLAB_MAX_UPLOAD_MB", "").strip()
    return (int(setting) if setting.isdigit() else DEFAULT_MAX_UPLOAD_MB) * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str) -> str:
    """Keep the base name only, with a conservative alphabet; never '..', never empty."""
    base = Path(str(name).replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip("._") or "upload"
    return cleaned[:128]


def new_upload_dir() -> Path:
    path = state_path("uploads") / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    return path


def save_upload(folder: Path, name: str, stream: BinaryIO, max_bytes: int | None = None) -> Path:
    """Copy an uploaded stream into `folder` under a safe name; refuse files over the limit, leaving nothing."""
    max_bytes = max_upload_bytes() if max_bytes is None else max_bytes
    target = folder / safe_filename(name)
    if target.resolve().parent != folder.resolve():  # cannot happen with safe_filename; refuse loudly if it does
        raise LabError(f"{name}: refused, the name would leave the upload folder")
    written = 0
    try:
        with open(target, "wb") as out:
            while chunk := stream.read(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise LabError(f"{name}: larger than the upload limit of {max_bytes / (1 << 20):g} MB "
                                   "(FTLAB_MAX_UPLOAD_MB)")
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target
