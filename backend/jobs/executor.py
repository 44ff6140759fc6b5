"""Where jobs run: the interface every executor implements, and what the executors share.

An executor takes a queued job row and runs `python -m backend.jobs.run <job_dir>` somewhere: "local" on this
machine's queues (backend/jobs/local_executor.py), "slurm" on a cluster (backend/jobs/slurm_executor.py). The
manager (backend/jobs/manager.py) picks one when a job is submitted; afterwards the job's row names it, and
every rule that differs between them (starting, stopping, noticing an end, deleting) is asked of it.
"""
from __future__ import annotations

import importlib
import sys
from abc import ABC, abstractmethod
from pathlib import Path

from backend import config
from backend.config import state_path
from backend.errors import LabError
from backend.users import multi_user

ROOT = Path(__file__).resolve().parents[2]
EXECUTOR = "executor.json"  # where a job's executor options live (Slurm resources), beside spec.json
# name -> "module:instance"; imported when first asked for. Reconciled in this order.
_EXECUTORS = {"slurm": "backend.jobs.slurm_executor:SLURM", "local": "backend.jobs.local_executor:LOCAL"}
LOCAL_EXECUTOR = "local"  # the default: this machine
EXECUTORS = (LOCAL_EXECUTOR, *(name for name in _EXECUTORS if name != LOCAL_EXECUTOR))


class Executor(ABC):
    name: str
    # A queued job already sits in another scheduler's queue: deleting its row would not stop it.
    queued_elsewhere: bool = False
    # A running job has cores of its own (a Slurm allocation), not a share of this machine's.
    own_cores: bool = False
    # It takes resource options (SlurmOptions) from the forms and the CLI's executor flags.
    takes_options: bool = False

    def check(self, gpus: int) -> None:
        """Refuse a job this executor cannot run, before anything of it exists."""

    def prepare(self, job_dir: Path, options) -> None:
        """Save what the executor needs in the new job's folder (its options), before the row exists."""

    @abstractmethod
    def submit(self, job_id: str) -> None:
        """Hand over a queued job, new or resumed; raise if it cannot be."""

    def schedule(self) -> list[str]:
        """Start queued jobs that can start now; the ids started. Only a queue of our own has any."""
        return []

    @abstractmethod
    def cancel(self, job) -> None:
        """Stop a queued or running job (a JobInfo); it ends `cancelled`."""

    @abstractmethod
    def reconcile(self) -> list[str]:
        """Rows whose job has moved on (started, ended, vanished) catch up; the ids changed."""

    def options(self, job):
        """The options the job was submitted with (to retry it the same way), or None."""
        return None

    @abstractmethod
    def runs_on(self, job) -> str:
        """Short, for tables: "local", "slurm 1234"."""

    @abstractmethod
    def where(self, job) -> str:
        """For a job's view: the host it runs on, "Slurm job 1234"."""


def executor_of(options) -> Executor:
    """Where a launch goes: the executor that takes resource options (Slurm) when some are given, else this
    machine's queue."""
    if options is None:
        return executor_for(LOCAL_EXECUTOR)
    return next(executor_for(name) for name in EXECUTORS if executor_for(name).takes_options)


def executor_for(name: str) -> Executor:
    if name not in _EXECUTORS:
        raise LabError(f"unknown executor {name!r}; known: {', '.join(_EXECUTORS)}")
    module, _, attribute = _EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def reconcile_all() -> list[str]:
    """Every executor's reconcile; the ids of jobs whose row changed."""
    return [job_id for name in _EXECUTORS for job_id in executor_for(name).reconcile()]


def job_env(owner: str) -> dict[str, str]:
    """What a job process needs to find the lab: the state dir, who it acts for, extra job kinds, whether several
    people share this server (the key rules of backend/keys.py). The rest of a job's environment is the
    allowlist of backend/jobs/environment.py: no secret is ever in it."""
    env = {config.STATE: str(state_path()), config.USER: owner, "PYTHONUNBUFFERED": "1"}
    if config.job_plugins():
        env[config.JOB_PLUGINS] = ",".join(config.job_plugins())
    if multi_user():
        env[config.MULTI_USER] = "1"
    return env


def runner_argv(job_dir: Path, gpus: int) -> list[str]:
    """One process, or torchrun with one process per GPU (rank 0 keeps the books)."""
    if gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
                "-m", "backend.jobs.run", str(job_dir)]
    return [sys.executable, "-m", "backend.jobs.run", str(job_dir)]
