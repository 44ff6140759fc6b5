"""CPU threads of a job: every core when it is the only CPU job running, a share when CPU jobs run side by side.

Real job processes and rows: a `threads` job (registered below, imported by the job process through
FTLAB_JOB_PLUGINS) reports what torch and the environment say inside the job.
"""
import os
import re
import time

import pytest

from backend.jobs import manager
from backend.jobs.context import JobContext
from backend.jobs.kinds import JobKind, register_kind
from backend.jobs.threads import MARKER, share, usable_cores


def wait_for(predicate, timeout: float) -> None:  # not tests.support's: the job process imports this module
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "condition not reached in time"
        time.sleep(0.1)


def report_threads(ctx: JobContext) -> dict:
    import torch

    return {"torch": torch.get_num_threads(), "omp": os.environ.get("OMP_NUM_THREADS"),
            "wait": os.environ.get("OMP_WAIT_POLICY")}


register_kind(JobKind("threads", "tests.test_job_threads:report_threads", resource="cpu",
                      description="test: reports its CPU threads"))


@pytest.fixture()
def jobs_env(state, monkeypatch):
    monkeypatch.setenv("FTLAB_JOB_PLUGINS", "tests.job_kinds,tests.test_job_threads")
    monkeypatch.setenv("FTLAB_SLOTS", "cpu=3,api=2")
    monkeypatch.setenv("FTLAB_GPUS", "")
    for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", MARKER):
        monkeypatch.delenv(name, raising=False)
    return state


def logged_threads(job_id: str) -> tuple[int, str] | None:
    found = re.search(r"\] (\d+) CPU thread\(s\): (.*)", manager.log_tail(job_id))
    return (int(found.group(1)), found.group(2)) if found else None


def run_threads_job() -> manager.JobInfo:
    job = manager.wait(manager.submit("threads", {}).id, timeout=120)
    assert job.status == "succeeded", manager.log_tail(job.id)
    return job


def running_counter(spec: dict | None = None, **submit) -> manager.JobInfo:
    job = manager.submit("count", {"n": 3000, "delay": 0.02, **(spec or {})}, **submit)
    wait_for(lambda: (manager.get(job.id).progress or {}).get("done", 0) >= 1, timeout=60)
    return job


def stop(job: manager.JobInfo) -> None:
    manager.cancel(job.id)
    assert manager.wait(job.id, timeout=60).status == "cancelled"


def test_a_job_running_alone_uses_every_core(jobs_env):
    cores = usable_cores()
    job = run_threads_job()
    assert job.result == {"torch": cores, "omp": str(cores), "wait": "PASSIVE"}  # no spinning on a busy machine
    assert logged_threads(job.id) == (cores, f"the only CPU job running: every core ({cores})")


def test_cpu_jobs_side_by_side_share_the_cores(jobs_env):
    cores = usable_cores()
    other = running_counter()
    assert logged_threads(other.id)[0] == cores  # it started alone
    job = run_threads_job()
    stop(other)
    assert job.result["torch"] == share(cores, 2) == max(1, cores // 2)
    assert logged_threads(job.id) == (share(cores, 2), f"2 CPU jobs running side by side share {cores} cores")


def test_jobs_that_do_not_compute_on_the_cpu_are_not_counted(jobs_env):
    cores = usable_cores()
    waiting = running_counter({"teacher": {"model": "gpt-4o-mini", "provider": "openai"}}, resource="api")
    assert logged_threads(waiting.id) is None  # it waits on an endpoint: its threads are left alone
    local = running_counter({"teacher": {"model": "/some/model", "provider": "local"}}, resource="api")
    job = run_threads_job()  # the local teacher computes here; the endpoint one does not
    for other in (waiting, local):
        stop(other)
    assert logged_threads(local.id)[0] == cores  # the endpoint job running beside it did not count
    assert job.result["torch"] == share(cores, 2)


def test_explicit_omp_num_threads_wins_but_an_inherited_share_does_not(jobs_env, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    job = run_threads_job()
    assert job.result == {"torch": 1, "omp": "1", "wait": None}
    assert logged_threads(job.id) == (1, "OMP_NUM_THREADS set in the environment")  # the user's, left as it is
    monkeypatch.setenv(MARKER, "1")  # what a job started by another job's runner inherits from it
    job = run_threads_job()
    assert job.result["torch"] == usable_cores()
