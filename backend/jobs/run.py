"""`python -m backend.jobs.run <job_dir>`: the process a job runs in.

SIGTERM sets the job's cancel flag; the job saves what it has and returns; the final status goes to
status.json first (so it survives even if the DB is busy) and then to the `jobs` row. On the way
out the runner starts the next queued jobs, so the queue moves without the dashboard.
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

from backend.jobs.context import JobContext
from backend.jobs.files import CANCEL_REQUEST, SPEC, STATUS, read_json, write_json_atomic
from backend.jobs.kinds import get_kind, resolve_target
from backend.jobs.threads import set_job_threads
from backend.storage.db import connect, now_iso, transaction


def _set_row(job_id: str, **fields) -> None:
    assignments = ", ".join(f"{k} = ?" for k in fields)
    with connect() as db, transaction(db):
        db.conn.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id))


def main(job_dir: str) -> int:
    path = Path(job_dir).resolve()
    job_id = path.name
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
    write_json_atomic(path / STATUS, {"status": "running", "pid": os.getpid(), "started_at": started})
    _set_row(job_id, status="running", pid=os.getpid(), pid_started=psutil.Process().create_time(),
             host=socket.gethostname(), started_at=started)
    request = path / CANCEL_REQUEST
    if request.exists():  # cancelled while this process was starting, before SIGTERM could be handled
        request.unlink(missing_ok=True)
        ctx.cancel_event.set()
    ctx.log(f"job {job_id} ({spec['kind']}) attempt {ctx.attempt} started")
    threads = set_job_threads(job_id)  # before the job imports torch & co.
    if threads.threads is not None:
        ctx.log(f"{threads.threads} CPU thread(s): {threads.reason}")
    status, error, result = "succeeded", None, None
    try:
        result = resolve_target(get_kind(spec["kind"]))(ctx)
        if ctx.cancelled:
            status = "cancelled"
    except Exception as exc:
        traceback.print_exc()
        status, error = ("cancelled", None) if ctx.cancelled else ("failed", f"{type(exc).__name__}: {exc}")
    ended = now_iso()
    message = "; ".join(ctx.warnings) or None  # e.g. "3 of 40 items failed: ...": shown with the status
    write_json_atomic(path / STATUS, {"status": status, "error": error, "message": message, "result": result,
                                      "started_at": started, "ended_at": ended})
    _set_row(job_id, status=status, error=error, ended_at=ended)
    ctx.log(f"job {job_id} {status}" + (f": {error}" if error else "") + (f" ({message})" if message else "")
            + (f" {json.dumps(result, default=str)}" if result else ""))

    from backend.jobs.manager import schedule

    schedule()
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
