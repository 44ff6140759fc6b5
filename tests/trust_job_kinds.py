"""Job kinds for tests/test_trust_jobs.py: one that reports its own environment, one that runs out of memory."""
import os
import resource
import time

import psutil

from backend.jobs.context import JobContext
from backend.jobs.kinds import JobKind, register_kind


def sleeper(ctx: JobContext) -> dict:
    """Waits (cancellable) so a test can look at the running process."""
    deadline = time.time() + ctx.spec.get("seconds", 30)
    while time.time() < deadline and not ctx.cancelled:
        time.sleep(0.05)
    return {"slept": True, "hf_token_seen": bool(os.environ.get("HF_TOKEN"))}


def hog(ctx: JobContext) -> dict:
    """Asks for far more memory than its address-space limit allows: a MemoryError, as on a machine out of RAM."""
    limit = psutil.Process().memory_info().vms + 256 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    ctx.log(f"address space limited to {limit / 2**20:.0f} MiB")
    held = bytearray(2 * 2**30)
    return {"held": len(held), "pid": os.getpid()}


register_kind(JobKind("sleeper", "tests.trust_job_kinds:sleeper", resource="cpu", description="test sleeper"))
register_kind(JobKind("hog", "tests.trust_job_kinds:hog", resource="cpu", description="test memory hog"))
