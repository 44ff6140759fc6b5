"""The one SQLite database (state/lab.db) through sqlite-utils.

Connections are short-lived: open one per operation with `connect()` and let it close.
WAL mode and a busy timeout let several dashboard sessions and background job processes
read and write at once; migrations are recorded in the `migrations` table.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import sqlite_utils

from backend.config import state_dir
from backend.storage.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 30_000
_migrated: set[Path] = set()


def db_path() -> Path:
    return state_dir() / "lab.db"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def connect() -> Iterator[sqlite_utils.Database]:
    path = db_path()
    if not path.exists():  # private from the first byte; SQLite gives -wal and -shm the same mode
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
    conn.execute("PRAGMA foreign_keys = ON")
    db = sqlite_utils.Database(conn)
    try:
        if path not in _migrated:
            migrate(db)
            _migrated.add(path)
        yield db
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock mid-transaction."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations not yet recorded; safe to run from several processes at once."""
    applied_now = []
    with transaction(db):
        db.conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in db.conn.execute("SELECT name FROM migrations")}
        for name, statements in MIGRATIONS:
            if name in done:
                continue
            for sql in statements:
                db.conn.execute(sql)
            db.conn.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, now_iso()))
            applied_now.append(name)
    return applied_now
