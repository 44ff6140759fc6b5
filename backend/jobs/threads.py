"""How many CPU threads a job's process computes with: every core when it is the only job computing on this
machine's CPU, a share when CPU jobs actually run side by side.

    threads = usable cores // CPU jobs running here at the job's start (itself included)

Counted from the `jobs` table: local jobs starting or running on this host that compute on the CPU (no GPUs
of their own, and not a teacher endpoint that only waits on the network). A job under Slurm keeps every core
of its allocation. An explicit OMP_NUM_THREADS in the environment wins. The threads are set through the
environment (OMP_NUM_THREADS and friends) before the job imports torch, numpy, faiss or tokenizers, so every
library that reads them follows; torch is told directly too when something already imported it.

OpenMP threads also wait passively (OMP_WAIT_POLICY=PASSIVE, unless set): spinning threads on a machine busy
with other work (other users, processes outside the queue) made a tiny training step 5-15x slower than one
thread (20 steps: 12.9 s spinning, 2.5 s passive, 2 threads on 2 busy cores).
"""
from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from backend import config
from backend.jobs.executor import LOCAL_EXECUTOR, executor_for
from backend.jobs.files import SPEC, read_json
from backend.jobs.status import STARTED, sql_in

# Libraries that size their thread pools from the environment: OpenMP (torch, faiss), MKL, OpenBLAS (numpy),
# Rayon (Hugging Face tokenizers).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")
# Set beside them, so a job started by another job's runner (which inherits its environment) can tell the
# runner's own setting from one the user made.
MARKER = config.JOB_THREADS


def usable_cores() -> int:
    """CPUs this process may run on (its affinity: a Slurm or cgroup cpuset counts, the machine's total otherwise)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def computes_on_cpu(gpus: int | None, spec: dict | None) -> bool:
    """Whether a job's work runs on this machine's CPU: no GPUs of its own, and not a teacher endpoint that the
    job only waits on (traces and evaluations against an OpenAI-compatible server)."""
    if gpus:
        return False
    teacher = (spec or {}).get("teacher")
    return not (isinstance(teacher, dict) and teacher.get("provider", "openai") != "local")


def share(cores: int, cpu_jobs: int) -> int:
    """The rule: each of `cpu_jobs` jobs computing side by side gets an equal share of the cores, at least one."""
    return max(1, cores // max(1, cpu_jobs))


def _here(host: str | None) -> bool:
    return host in (None, socket.gethostname())


def running_cpu_jobs() -> int:
    """Local jobs starting or running on this host that compute on the CPU, from the jobs table."""
    from backend.storage.db import connect

    with connect() as db:
        rows = list(db.query(f"SELECT gpus, job_dir, host FROM jobs WHERE {sql_in(STARTED)} AND executor = ?",
                             [LOCAL_EXECUTOR]))
    return sum(1 for row in rows
               if _here(row["host"]) and computes_on_cpu(row["gpus"], read_json(Path(row["job_dir"]) / SPEC, {})))


@dataclass(frozen=True)
class ThreadPlan:
    threads: int | None  # None: left to the libraries (a GPU job, or one that waits on an endpoint)
    reason: str
    explicit: bool = False  # the user's OMP_NUM_THREADS, left as it is


def plan_threads(job_id: str) -> ThreadPlan:
    """The CPU threads for job `job_id` (its row must exist), by the rule above."""
    from backend.storage.db import connect

    with connect() as db:
        row = next(iter(db.query("SELECT gpus, job_dir, executor FROM jobs WHERE id = ?", [job_id])), None)
    if row is None:
        return ThreadPlan(None, "no job row")
    if not computes_on_cpu(row["gpus"], read_json(Path(row["job_dir"]) / SPEC, {})):
        return ThreadPlan(None, "computes on its GPUs or waits on an endpoint")
    explicit = os.environ.get("OMP_NUM_THREADS")
    if explicit and not config.job_threads_inherited() and explicit.strip().isdigit():
        return ThreadPlan(max(1, int(explicit)), "OMP_NUM_THREADS set in the environment", explicit=True)
    cores = usable_cores()
    if executor_for(row["executor"]).own_cores:
        return ThreadPlan(cores, f"every core of its Slurm allocation ({cores})")
    jobs = max(1, running_cpu_jobs())
    if jobs == 1:
        return ThreadPlan(cores, f"the only CPU job running: every core ({cores})")
    return ThreadPlan(share(cores, jobs), f"{jobs} CPU jobs running side by side share {cores} cores")


def apply_threads(threads: int) -> None:
    """Size the thread pools of this process (and of what it starts) to `threads`, waiting passively."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a policy the user set stays
    os.environ[MARKER] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:  # already imported: its pool was sized from the old environment
        torch.set_num_threads(threads)


def set_job_threads(job_id: str) -> ThreadPlan:
    """Called once when a job's process starts, before the job's code runs; every job kind goes through it."""
    plan = plan_threads(job_id)
    if plan.threads is None or plan.explicit:
        if config.job_threads_inherited():  # inherited from the runner that started this job: not this job's setting
            for name in (*THREAD_VARIABLES, MARKER):
                os.environ.pop(name, None)
    else:
        apply_threads(plan.threads)
    return plan
