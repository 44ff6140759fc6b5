"""The files of a job folder, and readers that tolerate a half-written last line."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC = "spec.json"
STATUS = "status.json"
STDOUT = "stdout.log"
PROGRESS = "progress.jsonl"
METRICS = "metrics.jsonl"
ARTIFACTS = "artifacts"
CANCEL_REQUEST = "cancel.request"  # left by cancel() for a job process that is still starting


def write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, path)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def append_jsonl(path: Path, record: dict) -> None:
    """One line per record, written with a single write() so readers never see a torn middle line."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=str) + "\n")


@dataclass
class JsonlTail:
    """Reads only the bytes appended since the last call; a partial last line waits for its newline."""

    path: Path
    offset: int = 0
    records: list[dict] = field(default_factory=list)

    def poll(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        new = []
        for line in chunk[: end + 1].splitlines():
            try:
                new.append(json.loads(line))
            except ValueError:
                continue
        self.records.extend(new)
        return new


def read_jsonl(path: Path) -> list[dict]:
    tail = JsonlTail(Path(path))
    tail.poll()
    return tail.records


def last_record(path: Path, window: int = 64 * 1024) -> dict | None:
    """The last complete JSON line of a file, reading only its end (job lists call this for every job)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - window))
            chunk = f.read()
    except FileNotFoundError:
        return None
    for line in reversed(chunk[: chunk.rfind(b"\n") + 1].splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue  # a line cut by the window's start, or a torn write
    return None


def tail_text(path: Path, max_bytes: int = 20_000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            return f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
