"""Jobs that die of the machine, not of their code: a full disk, no memory, the kernel's OOM killer.

- A full disk (ENOSPC, EDQUOT, or EFBIG past a file size limit; SQLite's "database or disk is full"; torch's
  "file write failed") or a MemoryError ends the job `failed` with that reason ("disk full: ..."), not `lost`.
  The runner keeps a small reserve file in the job folder and deletes it before it records the final
  status, so status.json and the row still fit on a disk that filled up; if status.json cannot be written
  the row still can (and the other way round).
- A job the kernel kills for memory (SIGKILL, no chance to record anything) is recognised afterwards by
  `reconcile`: the runner samples its memory high-water mark into memory.json (with the machine's or the
  cgroup's limit and the cgroup's oom_kill count at start), the process that started it records its exit
  status in exit.json when it sees it, and a dead job whose exit was SIGKILL (or unknown) with a peak near the
  limit, or whose cgroup counted a new OOM kill, ends `failed`: "killed by the kernel (out of memory?)".
"""
from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import threading
import time
from pathlib import Path

import psutil

from backend.jobs.files import read_json, write_json_atomic

MEMORY = "memory.json"
EXIT = "exit.json"
RESERVE = ".reserve"
RESERVE_BYTES = 256 * 1024
NEAR_LIMIT = 0.9  # a peak at 90% of the limit or more counts as "near the limit"
SAMPLE_S = 1.0
GB = 2**30

DISK_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "the disk quota is used up",
               errno.EFBIG: "a file grew past the size limit"}
DISK_TEXTS = ("no space left on device", "file too large", "disk quota exceeded", "database or disk is full",
              "os error 28", "os error 27", "os error 122")
WRITE_FAILURES = ("inline_container", "pytorchstreamwriter", "file write failed")
LOW_DISK_BYTES = 64 * 2**20


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _write_limits(where: Path | None) -> tuple[bool, str]:
    """(whether writing is constrained, a note saying how): a nearly full disk under `where`, or a file size
    limit (RLIMIT_FSIZE) on this process."""
    notes, constrained = [], False
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        constrained = True
        notes.append(f"this process may write files of at most {soft / 2**20:.1f} MiB")
    if where is not None:
        try:
            usage = shutil.disk_usage(where)
            if usage.free < max(LOW_DISK_BYTES, usage.total * 0.01):
                constrained = True
            notes.append(f"{usage.free / GB:.2f} GiB free on the disk of {where}")
        except OSError:
            pass
    return constrained, "; ".join(notes)


def resource_failure(exc: BaseException, where: Path | None = None) -> str | None:
    """"disk full: ..." or "out of memory ..." when `exc` (or what caused it) says so; else None. `where`: a
    folder on the disk the work wrote to, to tell a failed write on a full disk from other failures."""
    for e in _chain(exc):
        if isinstance(e, MemoryError):
            return "out of memory (MemoryError): the job needed more memory than this machine could give it"
        if isinstance(e, OSError) and e.errno in DISK_ERRNOS:
            where_written = f" (writing {e.filename})" if e.filename else ""
            return f"disk full: {e.strerror or os.strerror(e.errno)}{where_written}: {DISK_ERRNOS[e.errno]}"
        text = str(e)
        low = text.lower()
        first = " ".join(text.split())[:300]
        if any(t in low for t in DISK_TEXTS):
            return f"disk full: {first}"
        if any(t in low for t in WRITE_FAILURES):  # torch.save's zip writer hides the errno ("unexpected pos ...")
            constrained, note = _write_limits(where)
            if constrained:
                return f"disk full: a file write failed ({first}); {note}"
            return f"a file write failed (disk full?): {first}" + (f"; {note}" if note else "")
    return None


# -- while the job runs -------------------------------------------------------------------------------
def make_reserve(job_dir: Path) -> Path | None:
    """A small file to delete when the disk is full, so the final status still fits."""
    path = job_dir / RESERVE
    try:
        with open(path, "wb") as f:
            f.write(b"\0" * RESERVE_BYTES)
        return path
    except OSError:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        return None


def release_reserve(job_dir: Path) -> None:
    try:
        (job_dir / RESERVE).unlink(missing_ok=True)
    except OSError:
        pass


def _cgroup_dir() -> Path | None:
    """This process's cgroup v2 folder, or None."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                folder = Path("/sys/fs/cgroup") / line[3:].strip().lstrip("/")
                return folder if folder.is_dir() else None
    except OSError:
        pass
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def memory_limit(cgroup: Path | None = None) -> tuple[int, str]:
    """(bytes, where the limit comes from): the tightest cgroup memory.max up the tree, else the machine's RAM."""
    limit, source = psutil.virtual_memory().total, "machine"
    folder = cgroup if cgroup is not None else _cgroup_dir()
    while folder is not None and str(folder).startswith("/sys/fs/cgroup"):
        value = _read_int(folder / "memory.max")
        if value is not None and value < limit:
            limit, source = value, "cgroup"
        if folder == folder.parent or folder == Path("/sys/fs/cgroup"):
            break
        folder = folder.parent
    v1 = _read_int(Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
    if v1 is not None and v1 < limit:
        limit, source = v1, "cgroup"
    return limit, source


def oom_kills(cgroup: str | Path | None) -> int | None:
    """The cgroup's count of processes the OOM killer ended (memory.events), or None when unknown."""
    if not cgroup:
        return None
    try:
        for line in (Path(cgroup) / "memory.events").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return None


def peak_rss() -> int:
    """This process's resident memory high-water mark in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class MemoryWatch:
    """Samples the job process's memory high-water mark into memory.json while it runs (a daemon thread)."""

    def __init__(self, job_dir: Path):
        self.path = job_dir / MEMORY
        cgroup = _cgroup_dir()
        limit, source = memory_limit(cgroup)
        self.record = {"pid": os.getpid(), "peak_rss_bytes": 0, "limit_bytes": limit, "limit_source": source,
                       "cgroup": str(cgroup) if cgroup else None, "oom_kills_at_start": oom_kills(cgroup)}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-watch", daemon=True)

    def start(self) -> "MemoryWatch":
        self.sample()
        self._thread.start()
        return self

    def sample(self) -> None:
        peak = peak_rss()
        if peak > self.record["peak_rss_bytes"] * 1.01:
            self.record.update(peak_rss_bytes=peak, ts=time.time())
            try:
                write_json_atomic(self.path, self.record)
            except OSError:  # a full disk: the next sample tries again
                pass

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.sample()

    def stop(self) -> None:
        self._stop.set()


# -- afterwards -------------------------------------------------------------------------------------
def record_exit(job_dir: Path, pid: int, returncode: int) -> None:
    """Called by the process that started the job when it reaps it (only it can see how the job ended)."""
    try:
        write_json_atomic(Path(job_dir) / EXIT, {"pid": pid, "returncode": returncode, "ts": time.time()})
    except OSError:
        pass


def death_reason(job_dir: Path, pid: int | None) -> tuple[str, str] | None:
    """(status, error) for a job process that is gone without a final status, when the kernel's OOM killer is the
    likely cause; None otherwise (the caller says it was lost)."""
    job_dir = Path(job_dir)
    ended = read_json(job_dir / EXIT, {}) or {}
    code = ended.get("returncode") if ended.get("pid") == pid else None
    if code is not None and code != -signal.SIGKILL:
        return None
    memory = read_json(job_dir / MEMORY, {}) or {}
    if memory.get("pid") not in (None, pid):
        memory = {}
    peak, limit = memory.get("peak_rss_bytes") or 0, memory.get("limit_bytes") or 0
    near = bool(limit) and peak >= NEAR_LIMIT * limit
    before, now = memory.get("oom_kills_at_start"), oom_kills(memory.get("cgroup"))
    counted = before is not None and now is not None and now > before
    if not (near or counted):
        return None
    how = "ended by SIGKILL" if code is not None else "ended without a word"
    detail = f"its memory peaked at {peak / GB:.2f} GiB of the {limit / GB:.2f} GiB {memory.get('limit_source', '')} limit"
    if counted:
        detail += f"; the cgroup counted {now - before} OOM kill(s) since it started"
    return "failed", (f"killed by the kernel (out of memory?): process {pid} {how}; {detail}. Give it more memory "
                      "or make it use less (smaller batch, shorter sequences, fewer jobs at once)")


def how_it_ended(job_dir: Path, pid: int | None) -> str:
    """"killed by SIGKILL", "exit code 3" when the starter saw it end; else "killed or crashed"."""
    ended = read_json(Path(job_dir) / EXIT, {}) or {}
    code = ended.get("returncode") if ended.get("pid") == pid else None
    if code is None:
        return "killed or crashed"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
