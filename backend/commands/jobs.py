"""`python -m backend jobs ...`: the background job queue."""
from __future__ import annotations

import argparse

from backend.cli import add_json_flag, emit
from backend.jobs.status import JobStatus


def _line(job) -> str:
    p = job.progress or {}
    counts = f"{p.get('done', '-')}/{p.get('total', '-')}" if p else ""
    return (f"{job.id:44} {job.kind:10} {job.status:10} {job.owner:16} {job.runs_on:14} {counts}"
            + (f"  ({job.message})" if job.message else ""))


def cmd_list(args):
    from backend.jobs.manager import list_jobs

    from backend.users import current_user

    jobs = list_jobs(status=args.status, kind=args.kind, owner=current_user() if args.mine else args.owner)
    emit(args, {"jobs": [j.to_json() for j in jobs]},
         lambda: "\n".join([f"{'ID':44} {'KIND':10} {'STATUS':10} {'OWNER':16} {'EXECUTOR':14} PROGRESS"] + [_line(j) for j in jobs]))


def cmd_show(args):
    from backend.jobs.manager import get, log_tail, reconcile

    reconcile()
    job = get(args.job_id)
    payload = {**job.to_json(), **(job.progress or {})}
    emit(args, payload, lambda: "\n".join([_line(job), f"dir: {job.job_dir}", f"error: {job.error or '-'}",
                                           f"waiting: {job.wait_reason or '-'}", "",
                                           log_tail(job.id, 4000)]))


def _simple(name: str, help: str):
    def run(args):
        from backend.jobs import manager

        result = getattr(manager, name)(args.job_id)
        payload = result.to_json() if result is not None else {"deleted": args.job_id}
        emit(args, payload, f"{args.job_id}: {payload.get('status', 'deleted')}")

    return run, help


def cmd_wait(args):
    from backend.jobs.manager import wait

    job = wait(args.job_id, timeout=args.timeout)
    emit(args, job.to_json(), _line(job))
    return 0 if job.status == JobStatus.SUCCEEDED else 1


def cmd_queue(args):
    from backend.jobs.manager import queue_summary, reconcile

    reconcile()
    summary = queue_summary()
    emit(args, summary, lambda: "\n".join(
        [f"{u['owner']:16} running {u['running']}  queued {u['queued']}  GPUs {u['gpus']}" for u in summary["users"]]
        + [f"per-user limits: {summary['limits'] or 'none'}; queue slots: {summary['slots']}"]))


def cmd_log(args):
    from backend.jobs.manager import log_tail

    text = log_tail(args.job_id, args.bytes)
    emit(args, {"id": args.job_id, "log": text}, text)


def register(groups: argparse._SubParsersAction) -> None:
    jobs = groups.add_parser("jobs", help="background jobs: list, show, cancel, retry, resume",
                             description="Background jobs (trace generation, training, evaluation).")
    sub = jobs.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="jobs, newest first")
    p.add_argument("--status", help="only this status (queued, running, succeeded, failed, cancelled, lost)")
    p.add_argument("--kind", help="only this kind")
    p.add_argument("--owner", help="only this person's jobs (everyone's by default)")
    p.add_argument("--mine", action="store_true", help="only the jobs of the acting user (FTLAB_USER)")
    add_json_flag(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("queue", help="per person: running and queued jobs, GPUs held, and the limits in force")
    add_json_flag(p)
    p.set_defaults(func=cmd_queue)

    for name, (func, help) in {
        "show": (cmd_show, "a job's status, progress and the end of its log"),
        "cancel": _simple("cancel", "stop a job: queued ones at once, running ones save what they have"),
        "retry": _simple("retry", "start a new job with the same spec"),
        "resume": _simple("resume", "continue a cancelled, failed or lost job where it stopped"),
        "delete": _simple("delete", "delete a finished job and its folder"),
        "wait": (cmd_wait, "wait until a job ends; exit 0 if it succeeded"),
        "log": (cmd_log, "print the end of a job's log"),
    }.items():
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("job_id")
        add_json_flag(p)
        p.set_defaults(func=func)
        if name == "wait":
            p.add_argument("--timeout", type=float, help="seconds")
        if name == "log":
            p.add_argument("--bytes", type=int, default=20_000)
