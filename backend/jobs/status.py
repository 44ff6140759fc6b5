"""A job's status, and the groups of statuses the rules are written in.

queued -> starting -> running -> succeeded | failed | cancelled | lost. A job that ended without succeeding
can be resumed (if its kind allows) and goes back to queued.
"""
from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"  # its process was started and has not said it runs yet
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"  # its process went away without recording how it ended


STARTED = (JobStatus.STARTING, JobStatus.RUNNING)  # it has a process (or a Slurm job runs it): it holds resources
ACTIVE = (JobStatus.QUEUED, *STARTED)  # not ended: it may still change, so it can be cancelled, not deleted
ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.LOST)  # final until resumed
STOPPED = (JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.LOST)  # ended without succeeding: resumable


def sql_in(statuses: tuple[JobStatus, ...]) -> str:
    """`status IN (...)` for a query: the values are this module's own words, never user input."""
    return "status IN (" + ",".join(f"'{s.value}'" for s in statuses) + ")"
