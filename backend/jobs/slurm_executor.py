"""The Slurm executor: a job goes to the cluster with sbatch, squeue and scontrol say where it is, scancel stops it.

Slurm keeps its own queue, so nothing here schedules; reconcile() copies what Slurm says into the rows
(the reason a job waits, that it started, how it ended when the job itself recorded nothing). The sbatch
script and the Slurm commands are backend/jobs/slurm.py.
"""
from __future__ import annotations

from pathlib import Path

from backend.jobs import rows, slurm
from backend.jobs.environment import job_environment
from backend.jobs.executor import EXECUTOR, ROOT, Executor, job_env, runner_argv
from backend.jobs.files import read_json, write_json_atomic
from backend.jobs.status import ACTIVE, JobStatus, sql_in
from backend.storage.db import connect, transaction


def _outcome(row: dict, record: dict | None) -> tuple[str, str] | None:
    """(status, error) for a Slurm job that has ended, or None while Slurm still holds it."""
    if record is None:
        return JobStatus.LOST, f"Slurm no longer knows job {row['slurm_job_id']} and it recorded no final status"
    state = slurm.state_name(record)
    if state not in slurm.FINAL_STATES:
        return None
    detail = f"Slurm job {row['slurm_job_id']} ended {state}"
    if record.get("ExitCode") not in (None, "0:0"):
        detail += f" (exit {record['ExitCode']})"
    return slurm.FINAL_STATES[state], detail + " without recording a final status"


class SlurmExecutor(Executor):
    name = "slurm"
    queued_elsewhere = True  # sbatch has it: Slurm would still run it if only the row went
    own_cores = True  # every core of its allocation is its own
    takes_options = True  # partition, GPUs, CPUs, memory, time limit ...

    def check(self, gpus: int) -> None:
        slurm.command("sbatch")  # fail now, not after the folder exists

    def prepare(self, job_dir: Path, options: slurm.SlurmOptions) -> None:
        write_json_atomic(job_dir / EXECUTOR, {"executor": self.name, "slurm": options.to_json()})

    def options(self, job) -> slurm.SlurmOptions | None:
        saved = read_json(Path(job.job_dir) / EXECUTOR, {}) or {}
        return slurm.SlurmOptions.from_json(saved.get("slurm")) if saved.get("executor") == self.name else None

    def submit(self, job_id: str) -> None:
        """sbatch the job; one Slurm never accepted before leaves nothing half-made (no row, no folder)."""
        row = rows.row(job_id)
        try:
            self._sbatch(row)
        except BaseException:
            if not row["attempts"]:
                rows.remove(job_id, row["job_dir"])
            raise

    def _sbatch(self, row: dict) -> str:
        """Write the job's batch script and submit it; the row remembers Slurm's id."""
        job_dir = Path(row["job_dir"])
        options = slurm.SlurmOptions.from_json((read_json(job_dir / EXECUTOR, {}) or {}).get("slurm"))
        env = {**job_env(row["owner"]), "PYTHONPATH": str(ROOT)}
        script = job_dir / slurm.SCRIPT
        script.write_text(slurm.sbatch_script(row["id"], job_dir, runner_argv(job_dir, row["gpus"]), options,
                                              row["gpus"], env))
        slurm_id = slurm.submit(script, env=job_environment(env))  # sbatch exports its environment to the job
        with connect() as db, transaction(db):
            db.conn.execute("UPDATE jobs SET slurm_job_id=?, attempts=attempts+1, wait_reason=?, error=NULL, "
                            "ended_at=NULL WHERE id=?", (slurm_id, "Slurm: submitted", row["id"]))
        return slurm_id

    def cancel(self, job: rows.JobInfo) -> None:
        if job.slurm_job_id:
            slurm.cancel(job.slurm_job_id)
        if job.status == JobStatus.QUEUED:
            rows.cancel_queued(job)
        self.reconcile()

    def reconcile(self) -> list[str]:
        """Pending jobs show Slurm's reason; ended ones take their folder's status, else Slurm's."""
        with connect() as db:
            found = list(db.query(f"SELECT * FROM jobs WHERE executor = ? AND slurm_job_id IS NOT NULL "
                                  f"AND {sql_in(ACTIVE)}", [self.name]))
        if not found:
            return []
        in_queue = slurm.queue_states([r["slurm_job_id"] for r in found])
        changes = []
        for row in found:
            state, reason = in_queue.get(row["slurm_job_id"], (None, None))
            if state in slurm.WAITING_STATES:
                wait = f"Slurm: {state.lower()} ({reason})"
                if wait != row["wait_reason"]:
                    changes.append((row, "wait", wait))
            elif state in slurm.RUNNING_STATES:
                if row["status"] == JobStatus.QUEUED:
                    changes.append((row, "starting", None))
            else:
                outcome = _outcome(row, slurm.job_state(row["slurm_job_id"]))
                if outcome:
                    changes.append((row, "final", outcome))
        changed = []
        if changes:
            with connect() as db, transaction(db):
                for row, what, value in changes:
                    if what == "wait":
                        db.conn.execute("UPDATE jobs SET wait_reason=? WHERE id=? AND status=?",
                                        (value, row["id"], JobStatus.QUEUED))
                    elif what == "starting":
                        db.conn.execute("UPDATE jobs SET status=?, wait_reason=NULL WHERE id=? AND status=?",
                                        (JobStatus.STARTING, row["id"], JobStatus.QUEUED))
                    else:
                        fallback_status, error = value
                        rows.settle(db, row, error, fallback_status)
                    changed.append(row["id"])
        return changed

    def runs_on(self, job) -> str:
        return f"slurm {job.slurm_job_id}"

    def where(self, job) -> str:
        return f"Slurm job {job.slurm_job_id}"


SLURM = SlurmExecutor()
