"""The local executor: this machine's resource queues, fair share between people, and detached job processes.

Scheduling happens inside one write transaction, so two callers (the dashboard, the CLI, a job ending) never
start the same queued job twice. Jobs run in their own session, so they outlive the browser tab and the
dashboard process; reconcile() notices those that ended without saying so.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil

from backend import config
from backend.errors import LabError
from backend.jobs import failures, rows
from backend.jobs.environment import job_environment
from backend.jobs.executor import ROOT, Executor, job_env, reconcile_all, runner_argv
from backend.jobs.files import CANCEL_REQUEST, STDOUT
from backend.jobs.gpus import gpu_inventory
from backend.jobs.status import STARTED, JobStatus, sql_in
from backend.storage.db import connect, transaction


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


def _spawn(job_dir: Path, gpu_ids: list[int], gpus: int, owner: str) -> subprocess.Popen:
    """The job process acts for `owner` (FTLAB_USER): their name on what it makes, their saved keys."""
    env = job_environment(job_env(owner))  # an allowlist: no key, token or password of the starter's
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


def _gone(row: dict) -> bool:
    return row["host"] in (None, socket.gethostname()) and not _alive(row["pid"], row["pid_started"])


class LocalExecutor(Executor):
    name = "local"

    def check(self, gpus: int) -> None:
        inventory = gpu_inventory()
        if gpus > len(inventory):
            raise LabError(f"this job asks for {gpus} GPU(s) and this machine has {len(inventory)}"
                           + (" (set FTLAB_GPUS if detection is wrong)" if not inventory else ""))

    def submit(self, job_id: str) -> None:
        self.schedule()  # it starts now if its queue, its owner's limits and the GPUs allow

    def schedule(self) -> list[str]:
        """Start queued local jobs while their queue has free slots, their owner is under the per-user limits
        and enough GPUs are free. Fair share: among waiting jobs, owners with fewer running jobs go first, then
        those who started fewer jobs in the last hour, then first come, first served."""
        reconcile_all()
        started = []
        limits, caps = config.slots(), config.user_limits()
        with connect() as db, transaction(db):
            running: dict[str, int] = {}
            by_user: dict[str, int] = {}
            user_gpus: dict[str, int] = {}
            busy_gpus: set[int] = set()
            for row in db.query(f"SELECT resource, owner, gpus, gpu_ids, executor FROM jobs WHERE {sql_in(STARTED)}"):
                if row["executor"] == self.name:  # other executors' jobs use their own resources, not this machine's
                    running[row["resource"]] = running.get(row["resource"], 0) + 1
                    busy_gpus.update(int(i) for i in (row["gpu_ids"] or "").split(",") if i)
                by_user[row["owner"]] = by_user.get(row["owner"], 0) + 1
                user_gpus[row["owner"]] = user_gpus.get(row["owner"], 0) + row["gpus"]
            free_gpus = [i for i in gpu_inventory() if i not in busy_gpus]
            recent = {row["owner"]: row["n"] for row in db.query(
                "SELECT owner, COUNT(*) AS n FROM jobs WHERE started_at >= ? GROUP BY owner", [_hour_ago()])}
            queued = list(db.query("SELECT * FROM jobs WHERE status = ? AND executor = ?", [JobStatus.QUEUED, self.name]))
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
                    "UPDATE jobs SET status=?, pid=?, pid_started=?, host=?, attempts=attempts+1, error=NULL, "
                    "ended_at=NULL, gpu_ids=?, wait_reason=NULL WHERE id=?",
                    (JobStatus.STARTING, proc.pid, started_at, socket.gethostname(),
                     ",".join(map(str, gpu_ids)) or None, row["id"]))
                running[row["resource"]] = running.get(row["resource"], 0) + 1
                by_user[row["owner"]] = by_user.get(row["owner"], 0) + 1
                recent[row["owner"]] = recent.get(row["owner"], 0) + 1
                user_gpus[row["owner"]] = user_gpus.get(row["owner"], 0) + row["gpus"]
                started.append(row["id"])
        return started

    def reconcile(self) -> list[str]:
        """A starting/running row whose process is gone takes the final status from its folder, or becomes lost.
        Every page refresh calls this: the write lock is taken only when some process really is gone."""
        changed: list[str] = []
        active = f"SELECT * FROM jobs WHERE {sql_in(STARTED)} AND executor = ?"
        with connect() as db:
            if not any(_gone(row) for row in db.query(active, [self.name])):
                return changed
        with connect() as db, transaction(db):
            for row in list(db.query(active, [self.name])):  # read again under the lock: a job may have moved on
                if _gone(row):
                    status, error = failures.death_reason(Path(row["job_dir"]), row["pid"]) or (
                        JobStatus.LOST, f"process {row['pid']} ended without recording a final status "
                                        f"({failures.how_it_ended(Path(row['job_dir']), row['pid'])})")
                    rows.settle(db, row, error, status)
                    changed.append(row["id"])
        return changed

    def cancel(self, job: rows.JobInfo) -> None:
        """Queued: cancelled at once. Running: SIGTERM; the job saves what it has and ends `cancelled`."""
        if job.status == JobStatus.QUEUED:
            rows.cancel_queued(job)
            return
        # A process still starting may not have its SIGTERM handler yet: leave a note it reads once it has one,
        # and signal it only once its row says it is running (the handler is set before that).
        (Path(job.job_dir) / CANCEL_REQUEST).touch()
        if rows.row(job.id)["status"] == JobStatus.RUNNING:
            try:
                os.killpg(job.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                reconcile_all()

    def runs_on(self, job) -> str:
        return "local"

    def where(self, job) -> str:
        return job.host or "this machine"


LOCAL = LocalExecutor()
