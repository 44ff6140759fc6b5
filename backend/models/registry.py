"""Every model artifact of every training run in one list, with lineage, metrics and dependents.

A training job's artifacts/ holds adapter/ (or model/ for full fine-tuning), checkpoints/checkpoint-N,
merged/ (when the run merged), and exports/ (what an export job made: merged/, model-<quant>.gguf,
and lineage.json saying which artifact each one was made from).
"""
from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from backend.errors import LabError, NotFound
from backend.jobs.files import read_json, write_json_atomic
from backend.users import require_owner

EXPORTS = "exports"
LINEAGE = "lineage.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
GGUF_FILE = re.compile(r"^model-(f16|q8_0)\.gguf$")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _created(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def export_lineage(artifacts: Path) -> dict[str, str]:
    """exported artifact id -> the id it was made from."""
    return read_json(artifacts / EXPORTS / LINEAGE, {}) or {}


def record_lineage(artifacts: Path, made: str, source: str) -> None:
    (artifacts / EXPORTS).mkdir(exist_ok=True)
    write_json_atomic(artifacts / EXPORTS / LINEAGE, {**export_lineage(artifacts), made: source})


def _artifacts_of(job_id: str, artifacts: Path) -> list[tuple[str, str, Path, str | None]]:
    """(id, kind, path, made-from id) for what is on disk in one run's artifacts folder."""
    found: list[tuple[str, str, Path, str | None]] = []
    for folder, kind in (("adapter", "adapter"), ("model", "full")):
        if (artifacts / folder).is_dir():
            found.append((f"{job_id}/{folder}", kind, artifacts / folder, None))
    checkpoints = artifacts / "checkpoints"
    if checkpoints.is_dir():
        for path in sorted((p for p in checkpoints.iterdir() if _CHECKPOINT.match(p.name)),
                           key=lambda p: int(p.name.split("-")[1])):
            found.append((f"{job_id}/{path.name}", "checkpoint", path, None))
    trained = next((i for i, k, _, _ in found if k in ("adapter", "full")), None)
    if (artifacts / "merged").is_dir():
        found.append((f"{job_id}/merged", "merged", artifacts / "merged", trained))
    lineage = export_lineage(artifacts)
    exports = artifacts / EXPORTS
    if (exports / "merged").is_dir():
        model_id = f"{job_id}/exports/merged"
        found.append((model_id, "merged", exports / "merged", lineage.get(model_id)))
    if exports.is_dir():
        for path in sorted(p for p in exports.iterdir() if GGUF_FILE.match(p.name)):
            model_id = f"{job_id}/gguf-{GGUF_FILE.match(path.name).group(1)}"
            found.append((model_id, "gguf", path, lineage.get(model_id)))
    return found


def _checkpoint_of(model_id: str, sources: dict[str, str | None]) -> str:
    """The checkpoint name an artifact's weights come from ("final" unless made from checkpoint-N)."""
    seen = set()
    while sources.get(model_id) and model_id not in seen:
        seen.add(model_id)
        model_id = sources[model_id]
    name = model_id.rsplit("/", 1)[-1]
    return name if _CHECKPOINT.match(name) else "final"


def _metrics(evaluations: list[dict], checkpoint: str) -> list[dict]:
    return [{"dataset": e["dataset"], "split": e["split"], "headline": e["headline"], "value": e["headline_value"]}
            for e in evaluations if (e.get("checkpoint") or "final") == checkpoint]


def _run_models(job) -> list[dict]:
    from backend.evaluation.runner import list_evaluations

    artifacts = Path(job.job_dir) / "artifacts"
    info = read_json(artifacts / "run.json", {}) or {}
    found = _artifacts_of(job.id, artifacts)
    sources = {model_id: source for model_id, _, _, source in found}
    evaluations = list_evaluations(train_job=job.id) if found else []
    return [{
        "id": model_id, "kind": kind, "path": str(path), "bytes": _size(path), "job_id": job.id,
        "base_model": info.get("base_model"), "method": info.get("method"), "dataset": info.get("dataset"),
        "recipe": info.get("recipe"), "created_at": _created(path),
        "metrics": _metrics(evaluations, _checkpoint_of(model_id, sources)),
        "dependents": [other for other, source in sources.items() if source == model_id],
        "made_from": source,
    } for model_id, kind, path, source in found]


def list_models() -> list[dict]:
    """One entry per model artifact, newest run first."""
    from backend.jobs.manager import list_jobs

    return [model for job in list_jobs(kind="train", limit=10_000) for model in _run_models(job)]


def _split_id(model_id: str) -> tuple[str, str]:
    job_id, sep, name = model_id.partition("/")
    if not sep or not name:
        raise NotFound(f"no model {model_id!r}: ids look like JOB/adapter, JOB/checkpoint-N, JOB/merged, JOB/gguf-q8_0")
    return job_id, name


def get_model(model_id: str) -> dict:
    from backend.jobs.manager import get

    job_id, _ = _split_id(model_id)
    models = {m["id"]: m for m in _run_models(get(job_id))}
    if model_id not in models:
        raise NotFound(f"no model {model_id!r}; that run has {', '.join(models) or 'no models'}")
    return models[model_id]


def _all_dependents(model_id: str, models: dict[str, dict]) -> list[str]:
    out, todo = [], list(models[model_id]["dependents"])
    while todo:
        current = todo.pop(0)
        if current not in out:
            out.append(current)
            todo += models[current]["dependents"]
    return out


def _busy_jobs(job_id: str) -> list[str]:
    """The training job itself while it runs, and export jobs working on its artifacts."""
    from backend.jobs.manager import ACTIVE, get, list_jobs

    busy = [job_id] if get(job_id).status in (*ACTIVE, "queued") else []
    for job in list_jobs(kind="export", limit=10_000):
        if job.status in (*ACTIVE, "queued") and read_json(Path(job.job_dir) / "spec.json", {}).get("train_job") == job_id:
            busy.append(job.id)
    return busy


def delete_model(model_id: str, force: bool = False) -> list[str]:
    """Delete one artifact; with force also what was made from it. Returns the ids deleted."""
    from backend.jobs.manager import get

    job_id, _ = _split_id(model_id)
    job = get(job_id)
    require_owner(job.owner, f"model {model_id}", "delete")
    models = {m["id"]: m for m in _run_models(job)}
    if model_id not in models:
        raise NotFound(f"no model {model_id!r}; that run has {', '.join(models) or 'no models'}")
    busy = _busy_jobs(job_id)
    if busy:
        raise LabError(f"cannot delete {model_id}: job(s) {', '.join(busy)} are still using this run's files")
    dependents = _all_dependents(model_id, models)
    if dependents and not force:
        raise LabError(f"{model_id} has dependents made from it: {', '.join(dependents)}; "
                       "delete those first or use force to delete them too")
    artifacts = Path(job.job_dir) / "artifacts"
    lineage = export_lineage(artifacts)
    deleted = []
    for target in [*reversed(dependents), model_id]:
        path = Path(models[target]["path"])
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        lineage.pop(target, None)
        deleted.append(target)
    if (artifacts / EXPORTS).is_dir():
        write_json_atomic(artifacts / EXPORTS / LINEAGE, lineage)
    return deleted
