"""The Slurm executor: a job's spec becomes an sbatch script, Slurm runs it, squeue/scontrol say where it is.

The job folder is shared (the state directory must be on a file system the compute nodes see), so a
Slurm job runs exactly the same `python -m backend.jobs.run <job_dir>` as a local one, writes the same
files and the same row, and the dashboard shows it like any other. Only where it runs and how it is
stopped differ. Commands are found on PATH (or FTLAB_SLURM_BIN); SLURM_CONF is honoured as usual.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from backend import config
from backend.errors import LabError
from backend.validation import Range, check_fields

SCRIPT = "slurm.sbatch"
# Slurm's own words for a job that has left the running states, and what they become here when the runner
# recorded no ending of its own (so a batch step that exited 0 without one is "lost", not a success).
FINAL_STATES = {"COMPLETED": "lost", "CANCELLED": "cancelled", "FAILED": "failed", "TIMEOUT": "failed",
                "OUT_OF_MEMORY": "failed", "NODE_FAIL": "lost", "BOOT_FAIL": "lost", "DEADLINE": "failed",
                "PREEMPTED": "lost", "REVOKED": "lost", "SPECIAL_EXIT": "failed"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING"}
WAITING_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
                  "SUSPENDED", "STOPPED"}


@dataclass(frozen=True)
class SlurmOptions:
    # The pages' "Run on: Slurm cluster" form (ui/executor.py) is drawn from this metadata (ui/field_form.py);
    # fields marked hidden are set from the CLI only.
    partition: str | None = field(default=None, metadata={"help": "partition (-p); the cluster's default if empty",
                                                           "label": "Partition (empty = default)"})
    gpus: int | None = field(default=None, metadata={"help": "GPUs (--gres=gpu:N); default: what the job asks "
                                                                "for (training and evaluation: 1)",
                                                        "valid": Range(0, 1024, integer=True, optional=True,
                                                                       cli="--slurm-gpus"), "flag": "--slurm-gpus",
                                                        "label": "GPUs", "key": "slurm_gpus", "form_default": 1})
    cpus: int = field(default=2, metadata={"help": "CPUs per task (--cpus-per-task)",
                                           "valid": Range(1, 100_000, integer=True, cli="--cpus"), "label": "CPUs"})
    mem: str = field(default="8G", metadata={"help": "memory for the job (--mem), e.g. 32G", "label": "Memory"})
    time: str = field(default="04:00:00", metadata={"help": "time limit (--time), e.g. 1-00:00:00",
                                                    "label": "Time limit"})
    account: str | None = field(default=None, metadata={"help": "account to charge (-A)", "hidden": True})
    qos: str | None = field(default=None, metadata={"help": "quality of service (--qos)", "hidden": True})
    extra: tuple[str, ...] = field(default=(), metadata={"help": "a further sbatch option, e.g. --constraint=a100 "
                                                                 "(repeatable)", "hidden": True,
                                                         "flag": "--sbatch-option", "metavar": "OPT"})

    def __post_init__(self):
        check_fields(self, "slurm")  # every number finite and in range (backend/validation.py)
        if self.cpus < 1:
            raise LabError(f"slurm cpus must be at least 1, got {self.cpus}")
        if not re.fullmatch(r"\d+[KMGT]?", str(self.mem)):
            raise LabError(f"slurm mem must look like 8G or 16000M, got {self.mem!r}")
        if not re.fullmatch(r"(\d+-)?\d+(:\d{2}){0,2}", str(self.time)):
            raise LabError(f"slurm time must look like 30, 04:00:00 or 1-00:00:00, got {self.time!r}")
        for value in (self.partition, self.account, self.qos):
            if value is not None and not re.fullmatch(r"[\w.,-]+", value):
                raise LabError(f"slurm option {value!r} has characters Slurm names never have")

    def to_json(self) -> dict:
        return {**asdict(self), "extra": list(self.extra)}

    @staticmethod
    def flag(f) -> str:
        """The CLI flag of a field: its metadata's "flag", else --<name>."""
        return f.metadata.get("flag") or f"--{f.name.replace('_', '-')}"

    @classmethod
    def from_json(cls, data: dict | None) -> "SlurmOptions":
        data = dict(data or {})
        data["extra"] = tuple(data.get("extra") or ())
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def command(name: str) -> str:
    folder = config.slurm_bin()
    path = os.path.join(folder, name) if folder else shutil.which(name)
    if not path or not os.path.exists(path):
        raise LabError(f"Slurm's {name} is not on this machine's PATH; install slurm-client or set FTLAB_SLURM_BIN")
    return path


def _run(argv: list[str], timeout: float = 30, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise LabError(f"{Path(argv[0]).name} did not answer within {timeout:.0f} s (is slurmctld up?)") from None


def available() -> bool:
    try:
        command("sbatch")
        return True
    except LabError:
        return False


def sbatch_script(job_id: str, job_dir: Path, argv: list[str], options: SlurmOptions, gpus: int,
                  env: dict[str, str]) -> str:
    """The batch script: resources as #SBATCH lines, the job folder as working directory, output to its log."""
    lines = ["#!/bin/bash", f"#SBATCH --job-name=ftlab-{job_id}", f"#SBATCH --chdir={job_dir}",
             f"#SBATCH --output={job_dir / 'stdout.log'}", "#SBATCH --open-mode=append",
             "#SBATCH --nodes=1", "#SBATCH --ntasks=1", f"#SBATCH --cpus-per-task={options.cpus}",
             f"#SBATCH --mem={options.mem}", f"#SBATCH --time={options.time}",
             # SIGTERM reaches the batch shell and our runner, which saves and exits before SIGKILL
             "#SBATCH --signal=B:TERM@60"]
    if options.partition:
        lines.append(f"#SBATCH --partition={options.partition}")
    if options.account:
        lines.append(f"#SBATCH --account={options.account}")
    if options.qos:
        lines.append(f"#SBATCH --qos={options.qos}")
    if gpus:
        lines.append(f"#SBATCH --gres=gpu:{gpus}")
    lines += [f"#SBATCH {opt}" for opt in options.extra]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    # exec: the runner is the batch step's process, so scancel's SIGTERM reaches it directly
    lines.append("exec " + " ".join(shlex.quote(a) for a in argv))
    return "\n".join(lines) + "\n"


def submit(script_path: Path, env: dict[str, str] | None = None) -> str:
    """sbatch the script (with `env` as sbatch's environment, which it exports to the job); Slurm's job id."""
    done = _run([command("sbatch"), "--parsable", str(script_path)], env=env)
    if done.returncode != 0:
        raise LabError(f"sbatch refused {script_path}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]


def job_state(slurm_id: str) -> dict | None:
    """`scontrol -o show job` as a dict (JobState, ExitCode, Reason, NodeList, ...); then the jobcomp log
    once the job has left the controller's memory; None if Slurm has never heard of it."""
    done = _run([command("scontrol"), "-o", "show", "job", slurm_id])
    if done.returncode == 0 and done.stdout.strip():
        return _parse_pairs(done.stdout)
    return jobcomp_record(slurm_id)


def _parse_pairs(text: str) -> dict:
    # values may contain spaces only in a few fields (Comment, Command args); split on ' Key=' boundaries
    pairs = re.findall(r"(\w[\w/:]*)=(.*?)(?=\s+\w[\w/:]*=|$)", text.strip())
    return {key: value for key, value in pairs}


def jobcomp_path() -> Path | None:
    """JobCompLoc from the cluster's config (JobCompType=jobcomp/filetxt), if there is one."""
    override = config.slurm_jobcomp()
    if override:
        return Path(override)
    done = _run([command("scontrol"), "show", "config"])
    match = re.search(r"^JobCompLoc\s*=\s*(\S+)", done.stdout, re.M)
    return Path(match.group(1)) if match and match.group(1).startswith("/") else None


def jobcomp_record(slurm_id: str) -> dict | None:
    path = jobcomp_path()
    if not path or not path.exists():
        return None
    found = None
    with open(path, errors="replace") as log:
        for line in log:
            if f"JobId={slurm_id} " in line:
                found = _parse_pairs(line)  # the last record wins (a requeued job has several)
    return found


def state_name(record: dict) -> str:
    return (record.get("JobState") or "UNKNOWN").split()[0].rstrip("+")


def cancel(slurm_id: str) -> None:
    """scancel: Slurm sends SIGTERM to the batch step (our runner saves and exits), SIGKILL after KillWait."""
    done = _run([command("scancel"), slurm_id])
    if done.returncode != 0 and "Invalid job id" not in done.stderr and "already completing" not in done.stderr:
        raise LabError(f"scancel {slurm_id} failed: {done.stderr.strip()}")


def queue_states(slurm_ids: list[str]) -> dict[str, tuple[str, str]]:
    """One squeue call for many jobs: id -> (state, reason). Jobs that left the queue are absent."""
    if not slurm_ids:
        return {}
    done = _run([command("squeue"), "--noheader", "--states=all", f"--jobs={','.join(slurm_ids)}",
                 "--format=%i|%T|%r"])
    out = {}
    for line in done.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            out[parts[0]] = (parts[1], parts[2])
    return out
