"""The "export" job: from one model artifact of a run, write into the run's artifacts/exports/ a merged
16-bit model (merged/), GGUF files (model-f16.gguf, model-q8_0.gguf, each read back and checked), an
Ollama Modelfile naming the GGUF, a model card (README.md), and optionally push the folder to the
Hugging Face Hub. Each step reports progress; a failed step (or GGUF check) fails the job.
"""
from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from backend.errors import LabError
from backend.jobs.context import JobContext
from backend.models.registry import exported_merged_id, get_model, gguf_id
from backend.training.outputs import LINEAGE
from backend.training.run_outputs import RunOutputs

FORMATS = ("merged", "gguf-f16", "gguf-q8_0", "modelfile", "card", "hub")
DEFAULT_FORMATS = ("merged", "gguf-q8_0", "modelfile", "card")
HUB_HOST = ("huggingface.co", 443)
HUB_TIMEOUT_S = 5.0


@dataclass
class ExportRequest:
    model_id: str = field(metadata={"help": "the artifact to export: JOB/adapter, JOB/checkpoint-N, JOB/merged ..."})
    formats: list[str] = field(default_factory=lambda: list(DEFAULT_FORMATS),
                               metadata={"help": "any of " + ", ".join(FORMATS)})
    hub_repo: str | None = field(default=None, metadata={"help": "hub: the repository to push to (user/name)"})

    def to_json(self) -> dict:
        return asdict(self)


def _validate(request: ExportRequest) -> None:
    unknown = [f for f in request.formats if f not in FORMATS]
    if unknown or not request.formats:
        raise LabError(f"export formats must be some of {', '.join(FORMATS)}; got {', '.join(request.formats) or 'none'}")
    if "modelfile" in request.formats and not any(f.startswith("gguf") for f in request.formats):
        raise LabError("the Modelfile names a GGUF file: add gguf-q8_0 or gguf-f16 to the export")


def hub_ready(repo: str | None) -> str:
    """The token for a hub push, or a LabError saying what is missing (never waits on the network long)."""
    if not repo:
        raise LabError("hub export needs a repository name (hub_repo, e.g. user/my-model)")
    from backend.keys import environment_secret

    token = environment_secret("HF_TOKEN")  # in the job: handed over by its submitter, never in its environment
    if not token:
        raise LabError("hub export needs a Hugging Face token in the HF_TOKEN environment variable")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no"):
        raise LabError("hub export is not possible: HF_HUB_OFFLINE is set (offline mode)")
    try:
        socket.create_connection(HUB_HOST, timeout=HUB_TIMEOUT_S).close()
    except OSError as exc:
        raise LabError(f"hub export: cannot reach {HUB_HOST[0]} ({exc}); check the network") from exc
    return token


def launch_export(request: ExportRequest, slurm_options=None):
    from backend.jobs.manager import submit

    _validate(request)
    model = get_model(request.model_id)
    if model["kind"] == "gguf":
        raise LabError(f"{request.model_id} is already a GGUF file; export from its adapter, checkpoint or merged model")
    if "hub" in request.formats:
        if not request.hub_repo:
            raise LabError("hub export needs a repository name (hub_repo, e.g. user/my-model)")
        from backend.keys import environment_secret

        if not environment_secret("HF_TOKEN"):
            raise LabError("hub export needs a Hugging Face token in the HF_TOKEN environment variable")
    spec = {**request.to_json(), "train_job": model["job_id"]}
    return submit("export", spec, title=f"export {request.model_id} ({', '.join(request.formats)})",
                  slurm_options=slurm_options)


def _merged(ctx: JobContext, model: dict, run: RunOutputs) -> tuple[str, Path]:
    """(id, folder) of a merged 16-bit model of `model`: itself when it is one, else merged now."""
    from backend.training import outputs

    if model["kind"] == "merged":
        return model["id"], Path(model["path"])
    info = run.info
    precision = outputs.merged_precision(info.get("precision", "fp32"), info["base_model"])
    ctx.log(f"merging {model['id']} into {run.exports / outputs.MERGED} ({precision})")
    path = outputs.merge(info["base_model"], Path(model["path"]), run.exports, precision, run.full)
    merged_id = exported_merged_id(model["job_id"])
    run.record_lineage(merged_id, model["id"])
    return merged_id, path


def _gguf(ctx: JobContext, merged_id: str, merged: Path, run: RunOutputs, quant: str) -> dict:
    from backend.models.gguf_export import check_gguf, write_gguf

    path = write_gguf(merged, run.gguf(quant), quant)
    check = check_gguf(path, merged, quant)
    run.record_lineage(gguf_id(run.job_id, quant), merged_id)
    ctx.log(f"wrote {path.name}: {check.tensors} tensors, {check.bytes} bytes, checked")
    return asdict(check)


def _modelfile(run: RunOutputs, tokenizer_dir: Path) -> Path:
    """exports/Modelfile naming the GGUF beside it (q8_0 when there is one), with the chat template."""
    from backend.training.outputs import write_modelfile as write

    gguf = next((run.gguf(q) for q in ("q8_0", "f16") if run.gguf(q).is_file()), None)
    if gguf is None:
        raise LabError("the Modelfile names a GGUF file: add gguf-q8_0 or gguf-f16 to the export")
    return write(gguf, run.exports, tokenizer_dir)


def write_card(exports: Path, job_id: str) -> Path:
    from backend.models.card import model_card

    path = exports / "README.md"
    tmp = path.with_name(".README.md.tmp")
    tmp.write_text(model_card(job_id), encoding="utf-8")
    tmp.replace(path)
    return path


def push_to_hub(exports: Path, repo: str | None) -> str:
    from huggingface_hub import HfApi

    api = HfApi(token=hub_ready(repo))
    api.create_repo(repo, exist_ok=True, private=True)
    commit = api.upload_folder(folder_path=str(exports), repo_id=repo, ignore_patterns=[LINEAGE, ".*"])
    return str(getattr(commit, "commit_url", commit))


def run_export_job(ctx: JobContext) -> dict:
    from backend.jobs.manager import get

    spec = ctx.spec
    formats = [f for f in FORMATS if f in spec["formats"]]  # the order the steps must run in
    model = get_model(spec["model_id"])
    run = RunOutputs.of(get(model["job_id"]))
    exports = run.exports
    exports.mkdir(exist_ok=True)
    if "hub" in formats:
        hub_ready(spec.get("hub_repo"))  # fail before the heavy steps, not after them
    needs_merge = any(f in formats for f in ("merged", "gguf-f16", "gguf-q8_0"))
    steps = (["merged"] if needs_merge else []) + [f for f in formats if f != "merged"]
    outputs: dict = {}
    merged_id, merged = model["id"], Path(model["path"])
    for done, step in enumerate(steps):
        ctx.progress(done=done, total=len(steps), step=step)
        if ctx.cancelled:
            raise LabError(f"export cancelled before {step}")
        if step == "merged":
            merged_id, merged = _merged(ctx, model, run)
            outputs["merged"] = str(merged)
        elif step.startswith("gguf-"):
            outputs[step] = _gguf(ctx, merged_id, merged, run, step.removeprefix("gguf-"))
        elif step == "modelfile":
            outputs["modelfile"] = str(_modelfile(run, merged if needs_merge else Path(model["path"])))
        elif step == "card":
            outputs["card"] = str(write_card(exports, model["job_id"]))
        elif step == "hub":
            outputs["hub"] = push_to_hub(exports, spec.get("hub_repo"))
    ctx.progress(done=len(steps), total=len(steps), step="done")
    return {"model_id": model["id"], "exports": str(exports), "outputs": outputs}
