"""`python -m backend models ...`: the model registry (every artifact of every run) and export."""
from __future__ import annotations

import argparse

from backend.cli import add_executor_options, add_json_flag, slurm_options_from, emit, emit_job


def _line(m: dict) -> str:
    metrics = ", ".join(f"{x['headline']}={x['value']}" for x in m["metrics"])
    return f"{m['id']:60} {m['kind']:10} {m['bytes']:>12,}  {metrics}"


def cmd_list(args):
    from backend.models.registry import list_models

    models = list_models()
    emit(args, {"models": models}, lambda: "\n".join(_line(m) for m in models) or "no models yet")


def cmd_export(args):
    from backend.models.export import ExportRequest, launch_export

    job = launch_export(ExportRequest(model_id=args.model_id, formats=args.formats, hub_repo=args.hub_repo),
                        slurm_options=slurm_options_from(args))
    return emit_job(args, job)


def cmd_delete(args):
    from backend.models.registry import delete_model

    deleted = delete_model(args.model_id, force=args.force)
    emit(args, {"deleted": deleted}, "deleted " + ", ".join(deleted))


def register(groups: argparse._SubParsersAction) -> None:
    from backend.models.export import DEFAULT_FORMATS, FORMATS

    models = groups.add_parser("models", help="model registry: list, export, delete trained models",
                               description="Every model artifact (adapters, checkpoints, merged, GGUF) of every run.")
    sub = models.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="every model artifact with its lineage, size, metrics and dependents")
    add_json_flag(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("export", help="export a model as a job: merged safetensors, GGUF, Modelfile, card, hub")
    p.add_argument("model_id", help="JOB/adapter, JOB/checkpoint-N, JOB/merged or JOB/exports/merged")
    p.add_argument("--formats", nargs="+", choices=FORMATS, default=list(DEFAULT_FORMATS),
                   help=f"what to write (default: {' '.join(DEFAULT_FORMATS)})")
    p.add_argument("--hub-repo", help="hub: repository to push to (needs HF_TOKEN and network)")
    p.add_argument("--wait", action="store_true", help="wait for the export job to finish")
    add_executor_options(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("delete", help="delete a model artifact (refuses when others were made from it)")
    p.add_argument("model_id")
    p.add_argument("--force", action="store_true", help="also delete what was made from it")
    add_json_flag(p)
    p.set_defaults(func=cmd_delete)
