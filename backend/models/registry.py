"""Every model artifact of every training run in one list, with lineage, metrics and dependents.

Ids name where an artifact comes from: JOB/adapter (or JOB/model for full fine-tuning), JOB/checkpoint-N,
JOB/merged (when the run merged), and what export jobs made: JOB/exports/merged, JOB/gguf-<quant>. The
files themselves are read through backend/training/run_outputs.py.
"""
from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from backend.errors import LabError, NotFound
from backend.training.run_outputs import FINAL, RunOutputs, is_checkpoint
from backend.users import require_owner


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _created(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


def exported_merged_id(job_id: str) -> str:
    return f"{job_id}/exports/merged"


def gguf_id(job_id: str, quant: str) -> str:
    return f"{job_id}/gguf-{quant}"


def _artifacts_of(run: RunOutputs) -> list[tuple[str, str, Path, str | None]]:
    """(id, kind, path, made-from id) for what is on disk in one run's artifacts folder."""
    job_id = run.job_id
    found: list[tuple[str, str, Path, str | None]] = [
        (f"{job_id}/{path.name}", kind, path, None) for kind, path in run.trained()]
    found += [(f"{job_id}/{path.name}", "checkpoint", path, None) for path in run.checkpoints]
    trained = next((i for i, k, _, _ in found if k in ("adapter", "full")), None)
    if run.merged:
        found.append((f"{job_id}/{run.merged.name}", "merged", run.merged, trained))
    lineage = run.lineage
    if run.exported_merged:
        model_id = exported_merged_id(job_id)
        found.append((model_id, "merged", run.exported_merged, lineage.get(model_id)))
    for quant, path in run.ggufs():
        model_id = gguf_id(job_id, quant)
        found.append((model_id, "gguf", path, lineage.get(model_id)))
    return found


def _checkpoint_of(model_id: str, sources: dict[str, str | None]) -> str:
    """The checkpoint name an artifact's weights come from ("final" unless made from checkpoint-N)."""
    seen = set()
    while sources.get(model_id) and model_id not in seen:
        seen.add(model_id)
        model_id = sources[model_id]
    name = model_id.rsplit("/", 1)[-1]
    return name if is_checkpoint(name) else FINAL


def _metrics(evaluations: list[dict], checkpoint: str) -> list[dict]:
    return [{"dataset": e["dataset"], "split": e["split"], "headline": e["headline"], "value": e["headline_value"]}
            for e in evaluations if (e.get("checkpoint") or FINAL) == checkpoint]


def _run_models(job) -> list[dict]:
    from backend.evaluation.runner import list_evaluations

    run = RunOutputs.of(job)
    info = run.info
    found = _artifacts_of(run)
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
    from backend.jobs.manager import get, list_jobs, spec

    busy = [job_id] if get(job_id).active else []
    for job in list_jobs(kind="export", limit=10_000):
        if job.active and spec(job.id).get("train_job") == job_id:
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
    run = RunOutputs.of(job)
    lineage = run.lineage
    deleted = []
    for target in [*reversed(dependents), model_id]:
        path = Path(models[target]["path"])
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        lineage.pop(target, None)
        deleted.append(target)
    run.save_lineage(lineage)
    return deleted
