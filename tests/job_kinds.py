"""A job kind for testing the job system: counts to `n`, saving its position, honouring cancel."""
import os
import time

from backend.jobs.context import JobContext
from backend.jobs.kinds import JobKind, register_kind


def count(ctx: JobContext) -> dict:
    n, delay = ctx.spec["n"], ctx.spec.get("delay", 0.05)
    mark = ctx.artifacts / "position.txt"
    position = int(mark.read_text() or 0) if mark.exists() else 0
    ctx.log(f"starting at {position}")
    if ctx.spec.get("report_env"):
        ctx.log(f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}")
    while position < n:
        if ctx.cancelled:
            ctx.log(f"cancelled at {position}")
            return {"position": position}
        if ctx.spec.get("fail_at") == position:
            raise ValueError(f"asked to fail at {position}")
        time.sleep(delay)
        position += 1
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 keeps the position
            mark.write_text(str(position))
        ctx.progress(done=position, total=n)
    return {"position": position}


register_kind(JobKind("count", "tests.job_kinds:count", resource="cpu", resumable=True, description="test counter"))
