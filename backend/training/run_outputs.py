"""Reading what a training run left in its job folder: its spec, run.json, the final adapter (or full model),
checkpoints/checkpoint-N, the merged model, and what export jobs added in exports/ (a merged model, GGUF
files, a Modelfile, and lineage.json saying what each export was made from).

The one reader of those names (backend/training/outputs.py is the one writer): evaluation, the model
registry and card, the Playground and export all ask a `RunOutputs` instead of building paths.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from backend.errors import LabError
from backend.jobs.files import ARTIFACTS, SPEC, read_json, write_json_atomic
from backend.training.outputs import (ADAPTER, CHECKPOINTS, EXPORTS, FULL_MODEL, GGUF_QUANTS, LINEAGE, MERGED,
                                      MODELFILE, RUN_INFO, gguf_file)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
FINAL = "final"  # the name a run's final model goes by beside checkpoint-N


@dataclass
class ModelRef:
    """A model to load: `base` alone (a full model), or `base` + `adapter`; `checkpoint` names where in its run
    it comes from (checkpoint-N, final), None for a model from outside a run."""
    label: str
    base: str | None
    adapter: str | None = None
    checkpoint: str | None = None


def is_checkpoint(name: str) -> bool:
    return bool(_CHECKPOINT.match(name))


class RunOutputs:
    """The outputs of one training job's folder. Every read is fresh: a running job keeps adding to them."""

    def __init__(self, job_dir: Path | str, job_id: str | None = None, status: str | None = None):
        self.job_dir = Path(job_dir)
        self.job_id = job_id or self.job_dir.name
        self.status = status  # the job's status, for messages only
        self.artifacts = self.job_dir / ARTIFACTS

    @classmethod
    def of(cls, job) -> RunOutputs:
        """From a JobInfo (backend.jobs.manager)."""
        return cls(job.job_dir, job.id, job.status)

    @property
    def info(self) -> dict:
        """run.json: base model, method, precision, dataset, ... and, once it ended, its result. {} before it starts."""
        return read_json(self.artifacts / RUN_INFO, {}) or {}

    @property
    def spec(self) -> dict:
        return read_json(self.job_dir / SPEC, {}) or {}

    @property
    def full(self) -> bool:
        """Full fine-tuning: the run's models are whole models, not adapters on its base."""
        return self.info.get("method") == "full"

    @property
    def final(self) -> Path:
        """The final adapter folder (or the full model's); it exists once the run finished."""
        return self.artifacts / (FULL_MODEL if self.full else ADAPTER)

    def trained(self) -> list[tuple[str, Path]]:
        """("adapter" | "full", folder) for each final model on disk (a run leaves one)."""
        found = [("adapter", self.artifacts / ADAPTER), ("full", self.artifacts / FULL_MODEL)]
        return [(kind, path) for kind, path in found if path.is_dir()]

    @property
    def checkpoints(self) -> list[Path]:
        """checkpoint-N folders, oldest first."""
        folder = self.artifacts / CHECKPOINTS
        found = [p for p in folder.iterdir() if is_checkpoint(p.name)] if folder.is_dir() else []
        return sorted(found, key=lambda p: int(_CHECKPOINT.match(p.name).group(1)))

    @property
    def merged(self) -> Path | None:
        """The merged 16-bit model the run wrote (train with merge on), if there is one."""
        path = self.artifacts / MERGED
        return path if path.is_dir() else None

    @property
    def modelfile(self) -> Path | None:
        """The run's Ollama Modelfile (next to its merged model), if it wrote one."""
        path = self.artifacts / MODELFILE
        return path if path.is_file() else None

    @property
    def exports(self) -> Path:
        """The folder export jobs write into (it may not exist yet)."""
        return self.artifacts / EXPORTS

    @property
    def exported_merged(self) -> Path | None:
        path = self.exports / MERGED
        return path if path.is_dir() else None

    def ggufs(self) -> list[tuple[str, Path]]:
        """(quantisation, file) of each exported GGUF file, in name order."""
        found = [(quant, gguf_file(self.exports, quant)) for quant in GGUF_QUANTS]
        return sorted(((q, p) for q, p in found if p.is_file()), key=lambda qp: qp[1].name)

    def gguf(self, quant: str) -> Path:
        """Where the export of one quantisation goes."""
        return gguf_file(self.exports, quant)

    @property
    def lineage(self) -> dict[str, str]:
        """exported model id -> the id it was made from."""
        return read_json(self.exports / LINEAGE, {}) or {}

    def record_lineage(self, made: str, source: str) -> None:
        self.exports.mkdir(exist_ok=True)
        write_json_atomic(self.exports / LINEAGE, {**self.lineage, made: source})

    def save_lineage(self, lineage: dict[str, str]) -> None:
        """Write lineage.json as given (after deleting exports), when the exports folder exists."""
        if self.exports.is_dir():
            write_json_atomic(self.exports / LINEAGE, lineage)

    def models(self, checkpoint: str | None = None) -> list[ModelRef]:
        """The final model (checkpoint None or "final"), one checkpoint-N, or "all" of them (oldest first, then
        the final one), each as base + adapter, or as the full model alone."""
        info = self.info
        if not info.get("base_model"):
            raise LabError(f"job {self.job_id} has no {RUN_INFO} yet: is it a training job that started?")
        full = info.get("method") == "full"

        def ref(path: Path, name: str) -> ModelRef:
            return ModelRef(f"{self.job_id} {name}", str(path) if full else info["base_model"],
                            None if full else str(path), name)

        final = self.artifacts / (FULL_MODEL if full else ADAPTER)
        if checkpoint in (None, FINAL):
            if not final.exists():
                status = f" ({self.status})" if self.status else ""
                raise LabError(f"job {self.job_id} has no final model yet{status}; pick a checkpoint")
            return [ref(final, FINAL)]
        checkpoints = self.checkpoints
        if checkpoint == "all":
            return [ref(p, p.name) for p in checkpoints] + ([ref(final, FINAL)] if final.exists() else [])
        chosen = [p for p in checkpoints if p.name == checkpoint]
        if not chosen:
            raise LabError(f"job {self.job_id} has no {checkpoint}; "
                           f"it has {', '.join(p.name for p in checkpoints) or 'none'}")
        return [ref(chosen[0], checkpoint)]
