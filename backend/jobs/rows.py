"""The `jobs` table: one row per job, read as a JobInfo that also says what may be done with the job now.

Rows are written here and by the executors (backend/jobs/local_executor.py, slurm_executor.py) and by the
job process itself (backend/jobs/run.py), each inside one write transaction.
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from backend import keys
from backend.errors import LabError, NotFound
from backend.jobs.executor import executor_for
from backend.jobs.files import PROGRESS, STATUS, last_record, read_json, write_json_atomic
from backend.jobs.kinds import get_kind
from backend.jobs.status import ACTIVE, ENDED, STARTED, STOPPED, JobStatus, sql_in
from backend.storage.db import connect, now_iso, transaction


@dataclass
class JobInfo:
    id: str
    kind: str
    title: str | None
    owner: str
    status: JobStatus
    resource: str
    executor: str
    pid: int | None
    host: str | None
    spec_hash: str
    job_dir: str
    error: str | None
    attempts: int
    created_at: str
    started_at: str | None
    ended_at: str | None
    gpus: int = 0
    gpu_ids: str | None = None
    slurm_job_id: str | None = None
    wait_reason: str | None = None
    progress: dict | None = None
    result: dict | None = None
    message: str | None = None  # what a job that ended wants its status shown with (e.g. "3 of 40 items failed")

    def __post_init__(self):
        self.status = JobStatus(self.status)

    @property
    def active(self) -> bool:
        """Queued, starting or running: it may still change."""
        return self.status in ACTIVE

    @property
    def can_cancel(self) -> bool:
        return self.active  # anything that has not ended can be stopped

    @property
    def can_resume(self) -> bool:
        """It ended without succeeding and its kind continues from what it saved (others retry as a new job)."""
        try:
            resumable = get_kind(self.kind).resumable
        except LabError:  # a plugin's kind that this process cannot load
            return False
        return resumable and self.status in STOPPED

    @property
    def can_delete(self) -> bool:
        """Not while it runs, nor while it waits in a queue that deleting the row would not empty."""
        if self.status in STARTED:
            return False
        return not (self.status == JobStatus.QUEUED and executor_for(self.executor).queued_elsewhere)

    @property
    def runs_on(self) -> str:
        return executor_for(self.executor).runs_on(self)

    @property
    def where(self) -> str:
        return executor_for(self.executor).where(self)

    @property
    def status_line(self) -> str:
        """The status with what it needs said: "succeeded (3 of 40 items failed: ...)", "failed: the error"."""
        if self.error and self.status in (JobStatus.FAILED, JobStatus.LOST):
            return f"{self.status}: {self.error}"
        return f"{self.status} ({self.message})" if self.message else str(self.status)

    def to_json(self) -> dict:
        return {**asdict(self), "status": str(self.status), "status_line": self.status_line}


def info(row: dict) -> JobInfo:
    job_dir = Path(row["job_dir"])
    status = read_json(job_dir / STATUS, {}) or {}
    fields = {k: row[k] for k in JobInfo.__dataclass_fields__ if k in row}
    return JobInfo(**fields, progress=last_record(job_dir / PROGRESS), result=status.get("result"),
                   message=status.get("message"))


def row(job_id: str) -> dict:
    with connect() as db:
        rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    if not rows:
        raise NotFound(f"no job {job_id!r}")
    return rows[0]


def get(job_id: str) -> JobInfo:
    return info(row(job_id))


def query(status: str | None = None, kind: str | None = None, owner: str | None = None,
          limit: int = 200) -> list[JobInfo]:
    """Jobs as their rows say now, newest first, narrowed to a status, kind or owner."""
    where, params = [], []
    if owner:
        where.append("owner = ?")
        params.append(owner)
    if status:
        where.append("status = ?")
        params.append(str(status))
    if kind:
        where.append("kind = ?")
        params.append(kind)
    sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC, id DESC LIMIT ?"
    with connect() as db:
        rows = list(db.query(sql, params + [limit]))
    return [info(r) for r in rows]


def insert(fields: dict) -> None:
    with connect() as db, transaction(db):
        db["jobs"].insert(fields)


def remove(job_id: str, job_dir: Path | str) -> None:
    """The row, the folder and any key handed over for the job: nothing of it is left."""
    with connect() as db, transaction(db):
        db.conn.execute("DELETE FROM jobs WHERE id=?", (job_id,))
    shutil.rmtree(job_dir, ignore_errors=True)
    keys.discard(job_id)


def settle(db, row: dict, fallback_error: str, fallback_status: str = JobStatus.LOST) -> str:
    """A job whose process is gone: the final status its folder recorded, else `fallback_status`."""
    status = read_json(Path(row["job_dir"]) / STATUS, {}) or {}
    if status.get("status") in ENDED:
        final, error = status["status"], status.get("error")
    else:
        final, error = str(fallback_status), fallback_error
        write_json_atomic(Path(row["job_dir"]) / STATUS, {**status, "status": final, "error": error})
    db.conn.execute("UPDATE jobs SET status=?, error=?, wait_reason=NULL, ended_at=COALESCE(ended_at, ?) WHERE id=?",
                    (final, error, now_iso(), row["id"]))
    return final


def cancel_queued(job: JobInfo) -> None:
    """A job that never started ends `cancelled` at once."""
    with connect() as db, transaction(db):
        db.conn.execute("UPDATE jobs SET status=?, wait_reason=NULL, ended_at=? WHERE id=? AND status=?",
                        (JobStatus.CANCELLED, now_iso(), job.id, JobStatus.QUEUED))
    write_json_atomic(Path(job.job_dir) / STATUS, {"status": JobStatus.CANCELLED, "error": "cancelled before it started"})


def requeue(job_id: str) -> None:
    """A stopped job waits again (resume): no error, no end."""
    with connect() as db, transaction(db):
        db.conn.execute("UPDATE jobs SET status=?, error=NULL, ended_at=NULL WHERE id=?", (JobStatus.QUEUED, job_id))


def per_user() -> list[dict]:
    """Per person with jobs not ended: running and queued jobs and GPUs held."""
    with connect() as db:
        return list(db.query(
            f"SELECT owner, SUM({sql_in(STARTED)}) AS running, SUM(status = 'queued') AS queued, "
            f"SUM(CASE WHEN {sql_in(STARTED)} THEN gpus ELSE 0 END) AS gpus FROM jobs "
            f"WHERE {sql_in(ACTIVE)} GROUP BY owner ORDER BY owner"))
