"""`python -m backend ...`: every operation the dashboard offers, headless.

Each command group lives in backend/commands/<group>.py and registers its subcommands; each command
calls exactly the backend function the dashboard calls. With --json a command prints one JSON object
on stdout; errors print {"error": "..."} and exit non-zero.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from typing import Any, Callable

from backend import config
from backend.errors import LabError
from backend.jobs.status import ACTIVE, JobStatus

MODULES = {"eval": "evaluate"}
GROUPS = ("data", "jobs", "traces", "train", "eval", "raft", "index", "chat", "models")


def emit(args: argparse.Namespace, payload: Any, text: str | Callable[[], str] | None = None) -> None:
    """Print a command's result: JSON with --json, otherwise the human-readable text."""
    if getattr(args, "json", False):
        print(to_json(payload))
    else:
        print(text() if callable(text) else (text if text is not None else to_json(payload)))


def to_json(payload: Any) -> str:
    """Strict JSON: NaN and infinities (pandas' missing values) become null, which every parser reads."""
    return json.dumps(_finite(payload), indent=2, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            return _finite(value.item())
        except (TypeError, ValueError):
            return value
    return value


def emit_job(args: argparse.Namespace, job, extra: dict | None = None,
             when_done: Callable[[Any], dict] | None = None) -> int:
    """Print a launched job (`job_id`, `status`); with --wait, wait for it and add `when_done(job)` (default:
    its result). Exit code 0 while it runs or once it succeeded."""
    payload = {"job_id": job.id, "status": job.status, **(extra or {})}
    if getattr(args, "wait", False):
        from backend.jobs.manager import wait

        job = wait(job.id)
        payload.update(status=job.status, error=job.error, **(when_done(job) if when_done else (job.result or {})))
    emit(args, payload, lambda: "\n".join(f"{k}: {v}" for k, v in payload.items() if v is not None))
    return 0 if payload["status"] in (*ACTIVE, JobStatus.SUCCEEDED) else 1


def progress_printer(args: argparse.Namespace) -> Callable[[float, str], None]:
    """Progress goes to stderr so that stdout stays machine-readable."""

    def report(fraction: float, message: str = "") -> None:
        if not getattr(args, "quiet", False):
            print(f"[{fraction:6.1%}] {message}", file=sys.stderr, flush=True)

    return report


class _Parser(argparse.ArgumentParser):
    """argparse, except that with --json a bad argument (`--rpm nan` for an int) prints {"error": ...} too."""

    json_errors = False

    def error(self, message: str):
        if _Parser.json_errors:
            print(json.dumps({"error": f"{self.prog}: {message}"}))
            sys.exit(2)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m backend", description="Finetune Lab, headless.")
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    for name in GROUPS:
        module = __import__(f"backend.commands.{MODULES.get(name, name)}", fromlist=["register"])
        module.register(groups)
    return parser


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """--executor and the Slurm resources (one flag per SlurmOptions field, its help and default from the field),
    for every command that launches a job."""
    from dataclasses import MISSING, fields

    from backend.jobs.executor import EXECUTORS, LOCAL_EXECUTOR
    from backend.jobs.slurm import SlurmOptions

    g = parser.add_argument_group("where the job runs")
    g.add_argument("--executor", choices=list(EXECUTORS), default=LOCAL_EXECUTOR,
                   help="this machine's queue (default) or a Slurm cluster (sbatch)")
    for f in fields(SlurmOptions):
        default = f.default if f.default is not MISSING else None
        shown = f" (default {default})" if default not in (None, ()) else ""
        if isinstance(default, tuple):
            g.add_argument(SlurmOptions.flag(f), dest=f"slurm_{f.name}", action="append", default=[],
                           metavar=f.metadata.get("metavar"), help=f"slurm: {f.metadata['help']}")
        else:
            g.add_argument(SlurmOptions.flag(f), dest=f"slurm_{f.name}", default=default, metavar=f.name.upper(),
                           type=int if isinstance(default, int) or "valid" in f.metadata else None,
                           help=f"slurm: {f.metadata['help']}{shown}")


def slurm_options_from(args: argparse.Namespace):
    """SlurmOptions from the flags of add_executor_options, or None when the executor takes none."""
    from dataclasses import fields

    from backend.jobs.executor import LOCAL_EXECUTOR, executor_for

    if not executor_for(getattr(args, "executor", None) or LOCAL_EXECUTOR).takes_options:
        return None
    from backend.jobs.slurm import SlurmOptions

    values = {f.name: getattr(args, f"slurm_{f.name}") for f in fields(SlurmOptions)}
    return SlurmOptions(**{**values, "extra": tuple(values["extra"])})


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - any input ends with a clean message, never a traceback
        message = error_message(exc)
        if config.debug():
            traceback.print_exc()
        if getattr(args, "json", False):
            print(json.dumps({"error": message}))
        else:
            print(f"error: {message}", file=sys.stderr)
        return 2


def error_message(exc: BaseException) -> str:
    """What the user reads: a LabError as it is; anything else named, with the file for OS errors."""
    if isinstance(exc, LabError):
        return str(exc)
    from backend.jobs.failures import resource_failure

    machine = resource_failure(exc)  # "disk full: ..." (ENOSPC, EFBIG, a full SQLite), "out of memory ..."
    if machine:
        return machine
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read"
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"{type(exc).__name__}: {exc} (set FTLAB_DEBUG=1 for the traceback)"
