"""`python -m backend.jobs.run <job_dir>`: the process a job runs in.

SIGTERM sets the job's cancel flag; the job saves what it has and returns; the final status goes to
status.json first (so it survives even if the DB is busy) and then to the `jobs` row. On the way
out the runner starts the next queued jobs, so the queue moves without the dashboard.

A full disk or a MemoryError ends the job `failed` with that reason (backend/jobs/failures.py): a small
reserve file is deleted before the final status is written, and if status.json still cannot be written
the row is. SIGXFSZ is ignored, so a file size limit makes writes fail (EFBIG) instead of killing the job.
The first thing the runner does is take the keys its submitter handed over (backend/keys.py).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import traceback
from pathlib import Path

import psutil

from backend import keys
from backend.jobs import failures
from backend.jobs.context import JobContext
from backend.jobs.files import CANCEL_REQUEST, SPEC, STATUS, read_json, write_json_atomic
from backend.jobs.kinds import get_kind, resolve_target
from backend.jobs.threads import set_job_threads
from backend.storage.db import connect, now_iso, transaction


def _set_row(job_id: str, **fields) -> None:
    assignments = ", ".join(f"{k} = ?" for k in fields)
    with connect() as db, transaction(db):
        db.conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id))


def _quietly(action, *args, **kwargs) -> bool:
    """Run a bookkeeping step that must not take the runner down (a log line, a status file on a full disk)."""
    try:
        action(*args, **kwargs)
        return True
    except Exception:  # noqa: BLE001 - OSError on a full disk, sqlite3.OperationalError ("database or disk is full")
        return False


def main(job_dir: str) -> int:
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past a file size limit: an OSError (EFBIG), not death
    path = Path(job_dir).resolve()
    job_id = path.name
    if int(os.environ.get("RANK", "0")) == 0:
        keys.take_over(job_id)  # before anything reads a key; the handover file is gone after this
    spec = read_json(path / SPEC)
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun's other ranks work; rank 0 keeps the books
        ctx = JobContext(job_id=job_id, job_dir=path, spec=spec)
        signal.signal(signal.SIGTERM, lambda *_: ctx.cancel_event.set())
        resolve_target(get_kind(spec["kind"]))(ctx)
        return 0
    with connect() as db:
        row = next(iter(db.query("SELECT attempts FROM jobs WHERE id = ?", [job_id])), {"attempts": 1})
    ctx = JobContext(job_id=job_id, job_dir=path, spec=spec, attempt=row["attempts"])
    signal.signal(signal.SIGTERM, lambda *_: ctx.cancel_event.set())
    signal.signal(signal.SIGINT, lambda *_: ctx.cancel_event.set())

    started = now_iso()
    failures.make_reserve(path)
    watch = failures.MemoryWatch(path).start()
    _quietly(write_json_atomic, path / STATUS, {"status": "running", "pid": os.getpid(), "started_at": started})
    _set_row(job_id, status="running", pid=os.getpid(), pid_started=psutil.Process().create_time(),
             host=socket.gethostname(), started_at=started)
    request = path / CANCEL_REQUEST
    if request.exists():  # cancelled while this process was starting, before SIGTERM could be handled
        request.unlink(missing_ok=True)
        ctx.cancel_event.set()
    status, error, result = "succeeded", None, None
    try:
        ctx.log(f"job {job_id} ({spec['kind']}) attempt {ctx.attempt} started")
        threads = set_job_threads(job_id)  # before the job imports torch & co.
        if threads.threads is not None:
            ctx.log(f"{threads.threads} CPU thread(s): {threads.reason}")
        result = resolve_target(get_kind(spec["kind"]))(ctx)
        if ctx.cancelled:
            status = "cancelled"
    except Exception as exc:
        _quietly(traceback.print_exc)
        reason = failures.resource_failure(exc, path)  # disk full, out of memory: said as such
        status, error = ("cancelled", None) if ctx.cancelled else ("failed", reason or f"{type(exc).__name__}: {exc}")
    watch.stop()
    failures.release_reserve(path)  # room for the final status on a disk that filled up
    ended = now_iso()
    message = "; ".join(ctx.warnings) or None  # e.g. "3 of 40 items failed: ...": shown with the status
    final = {"status": status, "error": error, "message": message, "result": result, "started_at": started,
             "ended_at": ended}
    if not _quietly(write_json_atomic, path / STATUS, final):
        _quietly(write_json_atomic, path / STATUS, {k: final[k] for k in ("status", "error", "ended_at")})
    recorded = _quietly(_set_row, job_id, status=status, error=error, ended_at=ended)
    _quietly(ctx.log, f"job {job_id} {status}" + (f": {error}" if error else "") + (f" ({message})" if message else "")
             + (f" {json.dumps(result, default=str)}" if result else ""))

    from backend.jobs.manager import schedule

    if not (recorded and _quietly(schedule)):
        _quietly(print, f"job {job_id}: could not update the queue (full disk or busy database)", file=sys.stderr)
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
