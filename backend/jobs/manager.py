"""Submit, schedule, reconcile, cancel, retry, resume and delete jobs.

Every function reads or writes only the job folder and the `jobs` row, so the dashboard, the CLI and
job processes can all call them; scheduling happens inside one write transaction, so two callers
never start the same queued job twice. Jobs run detached (their own session), so they outlive the
browser tab and the dashboard process.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil

from backend import keys
from backend.config import state_path
from backend.errors import LabError, NotFound
from backend.jobs import failures, slurm
from backend.jobs.files import (CANCEL_REQUEST, PROGRESS, SPEC, STATUS, STDOUT, last_record, read_json, tail_text,
                                write_json_atomic)
from backend.jobs.environment import job_environment
from backend.jobs.gpus import gpu_inventory
from backend.jobs.kinds import get_kind
from backend.storage.db import connect, now_iso, transaction
from backend.users import current_user, multi_user, require_owner

ROOT = Path(__file__).resolve().parents[2]
ACTIVE = ("starting", "running")
FINAL = ("succeeded", "failed", "cancelled", "lost")
DEFAULT_SLOTS = {"api": 2, "gpu": 1, "cpu": 2}
EXECUTOR = "executor.json"  # where a job's executor options live (Slurm resources), beside spec.json


@dataclass
class JobInfo:
    id: str
    kind: str
    title: str | None
    owner: str
    status: str
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

    @property
    def runs_on(self) -> str:
        return f"slurm {self.slurm_job_id}" if self.executor == "slurm" else "local"

    @property
    def status_line(self) -> str:
        """The status with what it needs said: "succeeded (3 of 40 items failed: ...)", "failed: the error"."""
        if self.error and self.status in ("failed", "lost"):
            return f"{self.status}: {self.error}"
        return f"{self.status} ({self.message})" if self.message else self.status

    def to_json(self) -> dict:
        return {**asdict(self), "status_line": self.status_line}


def _int_pairs(variable: str, defaults: dict[str, int]) -> dict[str, int]:
    out = dict(defaults)
    for pair in filter(None, os.environ.get(variable, "").split(",")):
        key, _, value = pair.partition("=")
        if value.strip().isdigit():
            out[key.strip()] = int(value)
    return out


def slots() -> dict[str, int]:
    """Concurrent jobs per resource queue; FTLAB_SLOTS="api=4,gpu=1" overrides the defaults."""
    return _int_pairs("FTLAB_SLOTS", DEFAULT_SLOTS)


def user_limits() -> dict[str, int]:
    """Per-user caps on the local queue (fair share): FTLAB_USER_LIMITS="jobs=2,gpus=1"; absent = no cap."""
    return _int_pairs("FTLAB_USER_LIMITS", {})


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def submit(kind: str, spec: dict, title: str | None = None, gpus: int = 0, resource: str | None = None,
           slurm_options: slurm.SlurmOptions | None = None) -> JobInfo:
    """Queue a job; with `gpus` it waits until that many GPUs are free and sees only those. `resource`
    overrides the kind's queue (a training job on a CPU-only machine queues as "cpu"). With
    `slurm_options` the job goes to the Slurm cluster instead of this machine's queue."""
    job_kind = get_kind(kind)
    if slurm_options is None:
        inventory = gpu_inventory()
        if gpus > len(inventory):
            raise LabError(f"this job asks for {gpus} GPU(s) and this machine has {len(inventory)}"
                           + (" (set FTLAB_GPUS if detection is wrong)" if not inventory else ""))
    else:
        slurm.command("sbatch")  # fail now, not after the folder exists
    job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{uuid.uuid4().hex[:6]}"
    job_dir = state_path("runs") / job_id
    job_dir.mkdir(parents=True)
    write_json_atomic(job_dir / SPEC, {"kind": kind, **spec})
    write_json_atomic(job_dir / STATUS, {"status": "queued"})
    if slurm_options:
        write_json_atomic(job_dir / EXECUTOR, {"executor": "slurm", "slurm": slurm_options.to_json()})
    keys.hand_over(job_id, spec)  # a key from this environment, for the job to read and delete (backend/keys.py)
    with connect() as db, transaction(db):
        db["jobs"].insert({
            "id": job_id, "kind": kind, "title": title, "owner": current_user(), "status": "queued",
            "resource": resource or job_kind.resource, "executor": "slurm" if slurm_options else "local",
            "spec_hash": spec_hash(spec), "job_dir": str(job_dir), "attempts": 0, "created_at": now_iso(),
            "gpus": gpus,
        })
    if slurm_options:
        try:
            _sbatch(job_id)
        except BaseException:
            _remove(job_id, job_dir)  # nothing half-made: no row, no folder
            raise
    else:
        schedule()
    return get(job_id)


def _remove(job_id: str, job_dir: Path | str) -> None:
    with connect() as db, transaction(db):
        db.conn.execute("DELETE FROM jobs WHERE id=?", (job_id,))
    shutil.rmtree(job_dir, ignore_errors=True)
    keys.discard(job_id)


def _job_env(owner: str) -> dict[str, str]:
    """What a job process needs to find the lab: the state dir, who it acts for, extra job kinds, whether several
    people share this server (the key rules of backend/keys.py). The rest of a job's environment is the
    allowlist of backend/jobs/environment.py: no secret is ever in it."""
    env = {"FTLAB_STATE": str(state_path()), "FTLAB_USER": owner, "PYTHONUNBUFFERED": "1"}
    if os.environ.get("FTLAB_JOB_PLUGINS"):
        env["FTLAB_JOB_PLUGINS"] = os.environ["FTLAB_JOB_PLUGINS"]
    if multi_user():
        env["FTLAB_MULTI_USER"] = "1"
    return env


def _sbatch(job_id: str) -> str:
    """Write the job's batch script and submit it; the row remembers Slurm's id."""
    row = _row(job_id)
    job_dir = Path(row["job_dir"])
    options = slurm.SlurmOptions.from_json((read_json(job_dir / EXECUTOR, {}) or {}).get("slurm"))
    env = {**_job_env(row["owner"]), "PYTHONPATH": str(ROOT)}
    script = job_dir / slurm.SCRIPT
    script.write_text(slurm.sbatch_script(job_id, job_dir, runner_argv(job_dir, row["gpus"]), options,
                                          row["gpus"], env))
    slurm_id = slurm.submit(script, env=job_environment(env))  # sbatch exports its environment to the job
    with connect() as db, transaction(db):
        db.conn.execute("UPDATE jobs SET slurm_job_id=?, attempts=attempts+1, wait_reason=?, error=NULL, "
                        "ended_at=NULL WHERE id=?", (slurm_id, "Slurm: submitted", job_id))
    return slurm_id


def _alive(pid: int | None, started: float | None) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 2
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def runner_argv(job_dir: Path, gpus: int) -> list[str]:
    """One process, or torchrun with one process per GPU (rank 0 keeps the books)."""
    if gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
                "-m", "backend.jobs.run", str(job_dir)]
    return [sys.executable, "-m", "backend.jobs.run", str(job_dir)]


def _spawn(job_dir: Path, gpu_ids: list[int], gpus: int, owner: str) -> subprocess.Popen:
    """The job process acts for `owner` (FTLAB_USER): their name on what it makes, their saved keys."""
    env = job_environment(_job_env(owner))  # an allowlist: no key, token or password of the starter's
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpu_ids))
    elif gpu_inventory():
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU job must not grab a GPU another job was given
    with open(job_dir / STDOUT, "ab") as log:
        proc = subprocess.Popen(runner_argv(job_dir, gpus), cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    # Reap it when it ends (if this process lives that long) so no zombie lingers, and note how it ended: only
    # this process can see a SIGKILL (the kernel's OOM killer), which reconcile() then explains.
    threading.Thread(target=lambda: failures.record_exit(job_dir, proc.pid, proc.wait()), daemon=True).start()
    return proc


def _waiting_reason(row: dict, running: dict[str, int], limits: dict[str, int], by_user: dict[str, int],
                    user_gpus: dict[str, int], caps: dict[str, int], free_gpus: int) -> str | None:
    """Why a queued local job cannot start now, or None when it can."""
    owner, resource = row["owner"], row["resource"]
    if "jobs" in caps and by_user.get(owner, 0) >= caps["jobs"]:
        return f"{owner} already runs {by_user[owner]} job(s); the per-user limit is {caps['jobs']}"
    if row["gpus"] and "gpus" in caps and user_gpus.get(owner, 0) + row["gpus"] > caps["gpus"]:
        return f"{owner} holds {user_gpus.get(owner, 0)} GPU(s); the per-user limit is {caps['gpus']}"
    if running.get(resource, 0) >= limits.get(resource, 1):
        return f"the {resource} queue is full ({running.get(resource, 0)} of {limits.get(resource, 1)} running)"
    if row["gpus"] > free_gpus:
        return f"needs {row['gpus']} GPU(s), {free_gpus} free"
    return None


def _hour_ago() -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(timespec="seconds")


def schedule() -> list[str]:
    """Start queued local jobs while their queue has free slots, their owner is under the per-user limits
    and enough GPUs are free. Fair share: among waiting jobs, owners with fewer running jobs go first, then
    those who started fewer jobs in the last hour, then first come, first served."""
    reconcile()
    started = []
    limits, caps = slots(), user_limits()
    with connect() as db, transaction(db):
        running: dict[str, int] = {}
        by_user: dict[str, int] = {}
        user_gpus: dict[str, int] = {}
        busy_gpus: set[int] = set()
        for row in db.query("SELECT resource, owner, gpus, gpu_ids, executor FROM jobs "
                            "WHERE status IN ('starting','running')"):
            if row["executor"] == "local":  # Slurm's jobs use the cluster's resources, not this machine's
                running[row["resource"]] = running.get(row["resource"], 0) + 1
                busy_gpus.update(int(i) for i in (row["gpu_ids"] or "").split(",") if i)
            by_user[row["owner"]] = by_user.get(row["owner"], 0) + 1
            user_gpus[row["owner"]] = user_gpus.get(row["owner"], 0) + row["gpus"]
        free_gpus = [i for i in gpu_inventory() if i not in busy_gpus]
        recent = {row["owner"]: row["n"] for row in db.query(
            "SELECT owner, COUNT(*) AS n FROM jobs WHERE started_at >= ? GROUP BY owner", [_hour_ago()])}
        queued = list(db.query("SELECT * FROM jobs WHERE status = 'queued' AND executor = 'local'"))
        while queued:
            queued.sort(key=lambda r: (by_user.get(r["owner"], 0), recent.get(r["owner"], 0), r["created_at"], r["id"]))
            row = queued.pop(0)
            reason = _waiting_reason(row, running, limits, by_user, user_gpus, caps, len(free_gpus))
            if reason:
                if reason != row["wait_reason"]:
                    db.conn.execute("UPDATE jobs SET wait_reason=? WHERE id=?", (reason, row["id"]))
                continue
            gpu_ids, free_gpus = free_gpus[:row["gpus"]], free_gpus[row["gpus"]:]
            proc = _spawn(Path(row["job_dir"]), gpu_ids, row["gpus"], row["owner"])
            started_at = psutil.Process(proc.pid).create_time() if psutil.pid_exists(proc.pid) else time.time()
            db.conn.execute(
                "UPDATE jobs SET status='starting', pid=?, pid_started=?, host=?, attempts=attempts+1, error=NULL, "
                "ended_at=NULL, gpu_ids=?, wait_reason=NULL WHERE id=?",
                (proc.pid, started_at, socket.gethostname(), ",".join(map(str, gpu_ids)) or None, row["id"]))
            running[row["resource"]] = running.get(row["resource"], 0) + 1
            by_user[row["owner"]] = by_user.get(row["owner"], 0) + 1
            recent[row["owner"]] = recent.get(row["owner"], 0) + 1
            user_gpus[row["owner"]] = user_gpus.get(row["owner"], 0) + row["gpus"]
            started.append(row["id"])
    return started


def _gone(row: dict) -> bool:
    return row["host"] in (None, socket.gethostname()) and not _alive(row["pid"], row["pid_started"])


def _settle(db, row: dict, fallback_error: str, fallback_status: str = "lost") -> str:
    """A job whose process is gone: the final status its folder recorded, else `fallback_status`."""
    status = read_json(Path(row["job_dir"]) / STATUS, {}) or {}
    if status.get("status") in FINAL:
        final, error = status["status"], status.get("error")
    else:
        final, error = fallback_status, fallback_error
        write_json_atomic(Path(row["job_dir"]) / STATUS, {**status, "status": final, "error": error})
    db.conn.execute("UPDATE jobs SET status=?, error=?, wait_reason=NULL, ended_at=COALESCE(ended_at, ?) WHERE id=?",
                    (final, error, now_iso(), row["id"]))
    return final


def reconcile() -> list[str]:
    """A starting/running row whose process is gone takes the final status from its folder, or becomes lost.
    Every page refresh calls this: the write lock is taken only when some process really is gone."""
    changed = _reconcile_slurm()
    active = "SELECT * FROM jobs WHERE status IN ('starting','running') AND executor = 'local'"
    with connect() as db:
        if not any(_gone(row) for row in db.query(active)):
            return changed
    with connect() as db, transaction(db):
        for row in list(db.query(active)):  # read again under the lock: a job may have moved on meanwhile
            if _gone(row):
                status, error = failures.death_reason(Path(row["job_dir"]), row["pid"]) or (
                    "lost", f"process {row['pid']} ended without recording a final status "
                            f"({failures.how_it_ended(Path(row['job_dir']), row['pid'])})")
                _settle(db, row, error, status)
                changed.append(row["id"])
    return changed


def _slurm_outcome(row: dict, record: dict | None) -> tuple[str, str] | None:
    """(status, error) for a Slurm job that has ended, or None while Slurm still holds it."""
    if record is None:
        return "lost", f"Slurm no longer knows job {row['slurm_job_id']} and it recorded no final status"
    state = slurm.state_name(record)
    if state not in slurm.FINAL_STATES:
        return None
    detail = f"Slurm job {row['slurm_job_id']} ended {state}"
    if record.get("ExitCode") not in (None, "0:0"):
        detail += f" (exit {record['ExitCode']})"
    return slurm.FINAL_STATES[state], detail + " without recording a final status"


def _reconcile_slurm() -> list[str]:
    """Slurm jobs: pending ones show Slurm's reason; ended ones take their folder's status, else Slurm's."""
    with connect() as db:
        rows = list(db.query("SELECT * FROM jobs WHERE executor = 'slurm' AND slurm_job_id IS NOT NULL "
                             "AND status IN ('queued','starting','running')"))
    if not rows:
        return []
    in_queue = slurm.queue_states([r["slurm_job_id"] for r in rows])
    changes = []
    for row in rows:
        state, reason = in_queue.get(row["slurm_job_id"], (None, None))
        if state in slurm.WAITING_STATES:
            wait = f"Slurm: {state.lower()} ({reason})"
            if wait != row["wait_reason"]:
                changes.append((row, "wait", wait))
        elif state in slurm.RUNNING_STATES:
            if row["status"] == "queued":
                changes.append((row, "starting", None))
        else:
            outcome = _slurm_outcome(row, slurm.job_state(row["slurm_job_id"]))
            if outcome:
                changes.append((row, "final", outcome))
    changed = []
    if changes:
        with connect() as db, transaction(db):
            for row, what, value in changes:
                if what == "wait":
                    db.conn.execute("UPDATE jobs SET wait_reason=? WHERE id=? AND status='queued'", (value, row["id"]))
                elif what == "starting":
                    db.conn.execute("UPDATE jobs SET status='starting', wait_reason=NULL WHERE id=? AND status='queued'",
                                    (row["id"],))
                else:
                    fallback_status, error = value
                    _settle(db, row, error, fallback_status)
                changed.append(row["id"])
    return changed


def _info(row: dict) -> JobInfo:
    job_dir = Path(row["job_dir"])
    status = read_json(job_dir / STATUS, {}) or {}
    fields = {k: row[k] for k in JobInfo.__dataclass_fields__ if k in row}
    return JobInfo(**fields, progress=last_record(job_dir / PROGRESS), result=status.get("result"),
                   message=status.get("message"))


def _row(job_id: str) -> dict:
    with connect() as db:
        rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    if not rows:
        raise NotFound(f"no job {job_id!r}")
    return rows[0]


def get(job_id: str) -> JobInfo:
    return _info(_row(job_id))


def list_jobs(status: str | None = None, kind: str | None = None, owner: str | None = None,
              limit: int = 200) -> list[JobInfo]:
    """Everyone's jobs (everyone may see the queue), newest first; `owner` narrows to one person's."""
    reconcile()
    where, params = [], []
    if owner:
        where.append("owner = ?")
        params.append(owner)
    if status:
        where.append("status = ?")
        params.append(status)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC, id DESC LIMIT ?"
    with connect() as db:
        rows = list(db.query(sql, params + [limit]))
    return [_info(r) for r in rows]


def queue_summary() -> dict:
    """Per person: running and queued jobs and GPUs held, with the per-user limits and queue slots in force
    (as last reconciled: callers that have not just listed jobs call reconcile() first)."""
    with connect() as db:
        rows = list(db.query(
            "SELECT owner, SUM(status IN ('starting','running')) AS running, SUM(status = 'queued') AS queued, "
            "SUM(CASE WHEN status IN ('starting','running') THEN gpus ELSE 0 END) AS gpus FROM jobs "
            "WHERE status IN ('queued','starting','running') GROUP BY owner ORDER BY owner"))
    return {"users": rows, "limits": user_limits(), "slots": slots()}


def cancel(job_id: str) -> JobInfo:
    """Queued: cancelled at once. Running: SIGTERM; the job saves what it has and ends `cancelled`.
    Only the job's owner or an admin may cancel it."""
    job = get(job_id)
    require_owner(job.owner, f"job {job_id}", "cancel")
    if job.executor == "slurm" and job.status in ("queued", *ACTIVE):
        if job.slurm_job_id:
            slurm.cancel(job.slurm_job_id)
        if job.status == "queued":
            _cancel_queued(job)
        reconcile()
    elif job.status == "queued":
        _cancel_queued(job)
    elif job.status in ACTIVE:
        # A process still starting may not have its SIGTERM handler yet: leave a note it reads once it has one,
        # and signal it only once its row says it is running (the handler is set before that).
        (Path(job.job_dir) / CANCEL_REQUEST).touch()
        if _row(job_id)["status"] == "running":
            try:
                os.killpg(job.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                reconcile()
    else:
        raise LabError(f"job {job_id} is {job.status}; only queued or running jobs can be cancelled")
    return get(job_id)


def _cancel_queued(job: JobInfo) -> None:
    with connect() as db, transaction(db):
        db.conn.execute("UPDATE jobs SET status='cancelled', wait_reason=NULL, ended_at=? WHERE id=? AND status='queued'",
                        (now_iso(), job.id))
    write_json_atomic(Path(job.job_dir) / STATUS, {"status": "cancelled", "error": "cancelled before it started"})


def resume(job_id: str) -> JobInfo:
    """Run a stopped job again in the same folder (and on the same executor); its kind continues from what it saved."""
    job = get(job_id)
    require_owner(job.owner, f"job {job_id}", "resume")
    if not get_kind(job.kind).resumable:
        raise LabError(f"{job.kind} jobs cannot be resumed; use retry to start a new one")
    if job.status not in ("cancelled", "failed", "lost"):
        raise LabError(f"job {job_id} is {job.status}; only cancelled, failed or lost jobs can be resumed")
    with connect() as db, transaction(db):
        db.conn.execute("UPDATE jobs SET status='queued', error=NULL, ended_at=NULL WHERE id=?", (job_id,))
    write_json_atomic(Path(job.job_dir) / STATUS, {"status": "queued"})
    (Path(job.job_dir) / CANCEL_REQUEST).unlink(missing_ok=True)
    keys.hand_over(job_id, read_json(Path(job.job_dir) / SPEC, {}) or {})  # its keys again, from the resumer
    if job.executor == "slurm":
        _sbatch(job_id)
    else:
        schedule()
    return get(job_id)


def slurm_options_of(job: JobInfo) -> slurm.SlurmOptions | None:
    saved = read_json(Path(job.job_dir) / EXECUTOR, {}) or {}
    return slurm.SlurmOptions.from_json(saved.get("slurm")) if saved.get("executor") == "slurm" else None


def retry(job_id: str) -> JobInfo:
    """A new job with the same spec, on the same executor, owned by whoever retries it."""
    job = get(job_id)
    spec = read_json(Path(job.job_dir) / SPEC, {})
    kind = spec.pop("kind", job.kind)
    return submit(kind, spec, title=job.title, gpus=job.gpus, resource=job.resource,
                  slurm_options=slurm_options_of(job))


def delete(job_id: str) -> None:
    job = get(job_id)
    require_owner(job.owner, f"job {job_id}", "delete")
    if job.status in ACTIVE or (job.executor == "slurm" and job.status == "queued"):  # Slurm would still run it
        raise LabError(f"job {job_id} is {job.status}; cancel it before deleting")
    _remove(job_id, job.job_dir)


def wait(job_id: str, timeout: float | None = None, poll: float = 0.5) -> JobInfo:
    deadline = None if timeout is None else time.time() + timeout
    while True:
        reconcile()
        job = get(job_id)
        if job.status in FINAL:
            return job
        if job.status == "queued" and job.executor == "local":
            schedule()
        if deadline is not None and time.time() > deadline:
            raise LabError(f"job {job_id} still {job.status} after {timeout} s")
        time.sleep(poll)


def spec(job_id: str) -> dict:
    return read_json(Path(get(job_id).job_dir) / SPEC, {}) or {}


def log_tail(job_id: str, max_bytes: int = 20_000) -> str:
    return tail_text(Path(get(job_id).job_dir) / STDOUT, max_bytes)
