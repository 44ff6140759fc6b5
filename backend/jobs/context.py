"""What a running job sees: its folder, its spec, a cancel flag, and ways to report progress."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from backend.jobs.files import ARTIFACTS, METRICS, PROGRESS, append_jsonl


@dataclass
class JobContext:
    job_id: str
    job_dir: Path
    spec: dict
    attempt: int = 1
    cancel_event: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.time)
    warnings: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        """True once SIGTERM arrived: save what you have and return."""
        return self.cancel_event.is_set()

    @property
    def artifacts(self) -> Path:
        path = self.job_dir / ARTIFACTS
        path.mkdir(exist_ok=True)
        return path

    def progress(self, **counts) -> None:
        """Append a progress record (done, total, failed, ... plus elapsed_s and eta_s when computable)."""
        elapsed = time.time() - self.started
        record = {"ts": time.time(), "elapsed_s": round(elapsed, 3), **counts}
        done, total = counts.get("done"), counts.get("total")
        if done and total and done <= total and counts.get("rate_done", done) > 0:
            record["eta_s"] = round(elapsed / counts.get("rate_done", done) * (total - done), 1)
        record.pop("rate_done", None)
        append_jsonl(self.job_dir / PROGRESS, record)

    def phase_progress(self, paced: tuple[str, ...], rate_key: str,
                       describe: Callable[[str, int, int, float | None], str | None]) -> Callable[..., None]:
        """report(phase=, done=, total=, **extra) for a job that goes through phases (embed, search ...): the
        ETA counts only the current phase's pace, the paced phases add their throughput under `rate_key`, and
        each of their steps is logged with describe(phase, done, total, pace) unless that returns None."""
        phase_started: dict[str, float] = {}

        def report(phase: str, done: int, total: int, **extra) -> None:
            now = time.time()
            phase_started.setdefault(phase, now)
            phase_elapsed = now - phase_started[phase]
            # progress' ETA divides elapsed time by rate_done; scale it so only this phase's pace counts
            rate_done = done * (now - self.started) / phase_elapsed if phase_elapsed > 0 else done
            if phase in paced and done and phase_elapsed > 0:
                extra[rate_key] = round(done / phase_elapsed, 1)
            self.progress(phase=phase, done=done, total=total, rate_done=rate_done, **extra)
            if phase in paced and total and (line := describe(phase, done, total, extra.get(rate_key))):
                self.log(line)

        return report

    def metric(self, **values) -> None:
        append_jsonl(self.job_dir / METRICS, {"ts": time.time(), **values})

    def warn(self, message: str) -> None:
        """Something the user should know about a job that still succeeded (e.g. some items failed): logged,
        and shown with its status (`jobs list`, `jobs show`, the pages) as the job's message."""
        if message not in self.warnings:
            self.warnings.append(message)
        self.log(f"warning: {message}")

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
