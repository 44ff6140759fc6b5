"""Submit, schedule, reconcile, cancel, retry, resume and delete jobs: what the pages, the CLI and the jobs call.

Every function reads or writes only the job folder and the `jobs` row (backend/jobs/rows.py), so the
dashboard, the CLI and job processes can all call them. Where a job runs is its executor's business
(backend/jobs/executor.py: the local queues, or Slurm); this module picks one when a job is submitted and
asks the job's own for the rest. What may be done with a job now is its JobInfo's to say (`can_cancel`,
`can_resume`, `can_delete`), and the functions here enforce exactly that.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

from backend import config, keys
from backend.config import state_path
from backend.errors import LabError
from backend.jobs import rows, slurm
from backend.jobs.executor import executor_for, executor_of, reconcile_all, runner_argv  # noqa: F401 - runner_argv: callers import it from here
from backend.jobs.files import CANCEL_REQUEST, SPEC, STATUS, STDOUT, read_json, tail_text, write_json_atomic
from backend.jobs.kinds import get_kind
from backend.jobs.local_executor import LOCAL
from backend.jobs.rows import JobInfo, get
from backend.jobs.status import ENDED, STOPPED, JobStatus
from backend.storage.db import now_iso
from backend.users import current_user, require_owner



def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def submit(kind: str, spec: dict, title: str | None = None, gpus: int = 0, resource: str | None = None,
           slurm_options: slurm.SlurmOptions | None = None) -> JobInfo:
    """Queue a job; with `gpus` it waits until that many GPUs are free and sees only those. `resource`
    overrides the kind's queue (a training job on a CPU-only machine queues as "cpu"). With
    `slurm_options` the job goes to the Slurm cluster instead of this machine's queue."""
    job_kind = get_kind(kind)
    executor = executor_of(slurm_options)
    executor.check(gpus)
    job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{uuid.uuid4().hex[:6]}"
    job_dir = state_path("runs") / job_id
    job_dir.mkdir(parents=True)
    write_json_atomic(job_dir / SPEC, {"kind": kind, **spec})
    write_json_atomic(job_dir / STATUS, {"status": JobStatus.QUEUED})
    executor.prepare(job_dir, slurm_options)
    keys.hand_over(job_id, spec)  # a key from this environment, for the job to read and delete (backend/keys.py)
    rows.insert({
        "id": job_id, "kind": kind, "title": title, "owner": current_user(), "status": JobStatus.QUEUED,
        "resource": resource or job_kind.resource, "executor": executor.name,
        "spec_hash": spec_hash(spec), "job_dir": str(job_dir), "attempts": 0, "created_at": now_iso(),
        "gpus": gpus,
    })
    executor.submit(job_id)
    return get(job_id)


def schedule() -> list[str]:
    """Start the queued local jobs that can start now (the local executor's fair share); their ids."""
    return LOCAL.schedule()


def reconcile() -> list[str]:
    """Rows whose job moved on catch up: a starting/running job whose process is gone takes the final status
    from its folder, or becomes lost; a Slurm job shows what Slurm says. Every page refresh calls this."""
    return reconcile_all()


def list_jobs(status: str | None = None, kind: str | None = None, owner: str | None = None,
              limit: int = 200) -> list[JobInfo]:
    """Everyone's jobs (everyone may see the queue), newest first; `owner` narrows to one person's."""
    reconcile()
    return rows.query(status=status, kind=kind, owner=owner, limit=limit)


def queue_summary() -> dict:
    """Per person: running and queued jobs and GPUs held, with the per-user limits and queue slots in force
    (as last reconciled: callers that have not just listed jobs call reconcile() first)."""
    return {"users": rows.per_user(), "limits": config.user_limits(), "slots": config.slots()}


def cancel(job_id: str) -> JobInfo:
    """Queued: cancelled at once. Running: SIGTERM; the job saves what it has and ends `cancelled`.
    Only the job's owner or an admin may cancel it."""
    job = get(job_id)
    require_owner(job.owner, f"job {job_id}", "cancel")
    if not job.can_cancel:
        raise LabError(f"job {job_id} is {job.status}; only queued or running jobs can be cancelled")
    executor_for(job.executor).cancel(job)
    return get(job_id)


def resume(job_id: str) -> JobInfo:
    """Run a stopped job again in the same folder (and on the same executor); its kind continues from what it saved."""
    job = get(job_id)
    require_owner(job.owner, f"job {job_id}", "resume")
    if not get_kind(job.kind).resumable:
        raise LabError(f"{job.kind} jobs cannot be resumed; use retry to start a new one")
    if job.status not in STOPPED:
        raise LabError(f"job {job_id} is {job.status}; only cancelled, failed or lost jobs can be resumed")
    rows.requeue(job_id)
    write_json_atomic(Path(job.job_dir) / STATUS, {"status": JobStatus.QUEUED})
    (Path(job.job_dir) / CANCEL_REQUEST).unlink(missing_ok=True)
    keys.hand_over(job_id, read_json(Path(job.job_dir) / SPEC, {}) or {})  # its keys again, from the resumer
    executor_for(job.executor).submit(job_id)
    return get(job_id)


def slurm_options_of(job: JobInfo) -> slurm.SlurmOptions | None:
    return executor_for(job.executor).options(job)


def retry(job_id: str) -> JobInfo:
    """A new job with the same spec, on the same executor, owned by whoever retries it."""
    job = get(job_id)
    saved = read_json(Path(job.job_dir) / SPEC, {})
    kind = saved.pop("kind", job.kind)
    return submit(kind, saved, title=job.title, gpus=job.gpus, resource=job.resource,
                  slurm_options=slurm_options_of(job))


def delete(job_id: str) -> None:
    job = get(job_id)
    require_owner(job.owner, f"job {job_id}", "delete")
    if not job.can_delete:
        raise LabError(f"job {job_id} is {job.status}; cancel it before deleting")
    rows.remove(job_id, job.job_dir)


def wait(job_id: str, timeout: float | None = None, poll: float = 0.5) -> JobInfo:
    deadline = None if timeout is None else time.time() + timeout
    while True:
        reconcile()
        job = get(job_id)
        if job.status in ENDED:
            return job
        if job.status == JobStatus.QUEUED:
            executor_for(job.executor).schedule()
        if deadline is not None and time.time() > deadline:
            raise LabError(f"job {job_id} still {job.status} after {timeout} s")
        time.sleep(poll)


def spec(job_id: str) -> dict:
    return read_json(Path(get(job_id).job_dir) / SPEC, {}) or {}


def log_tail(job_id: str, max_bytes: int = 20_000) -> str:
    return tail_text(Path(get(job_id).job_dir) / STDOUT, max_bytes)
