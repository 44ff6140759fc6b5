"""`python -m backend train ...`: presets, memory estimate, launching training jobs."""
from __future__ import annotations

import argparse

from backend.cli import add_executor_options, add_json_flag, emit, emit_job, slurm_options_from
from backend.errors import LabError


def _spec(args):
    from backend.training.spec import apply_overrides, load_spec_file, preset_spec

    if args.spec_file:
        spec = load_spec_file(args.spec_file)
        if args.dataset:
            spec = apply_overrides(spec, {"dataset": args.dataset})
        return apply_overrides(spec, args.set or [])
    if not args.preset or not args.dataset:
        raise LabError("give a SPEC.yaml, or --preset NAME and --dataset DATASET (see `train presets`)")
    return preset_spec(args.preset, args.dataset, args.set or [])


def cmd_presets(args):
    from backend.training.spec import PRESETS

    payload = {"presets": [{"name": p.name, "source": p.source, "note": p.note, "spec": p.spec.to_json()}
                           for p in PRESETS.values()]}
    emit(args, payload, lambda: "\n".join(
        f"{p.name:28} {p.spec.base_model:40} {p.spec.method:5}  {p.source}" for p in PRESETS.values()))


def cmd_memory(args):
    from backend.training.memory import estimate_memory

    estimate = estimate_memory(_spec(args))
    emit(args, estimate.to_json(), lambda: f"{estimate.verdict}\n" + "\n".join(f"  - {s}" for s in estimate.suggestions))


def cmd_launch(args):
    from backend.training.launch import launch_training

    spec = _spec(args)
    job = launch_training(spec, slurm_options=slurm_options_from(args))
    return emit_job(args, job, {"command": spec.cli_command(args.preset)}, lambda done: {
        key: (done.result or {}).get(key) for key in ("steps", "final_loss", "eval_loss", "adapter", "merged", "engine")})


def _spec_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec_file", nargs="?", metavar="SPEC.yaml", help="a training spec file (YAML or JSON)")
    p.add_argument("--preset", help="start from a preset (see `train presets`)")
    p.add_argument("--dataset", help="dataset NAME or NAME@VERSION")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting (repeatable)")
    add_json_flag(p)


def register(groups: argparse._SubParsersAction) -> None:
    train = groups.add_parser("train", help="training: presets, memory estimate, launch",
                              description="Fine-tuning (LoRA, QLoRA, full) as background jobs.")
    sub = train.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("presets", help="the presets taken from the seeds (the CPU one is `tiny`)")
    add_json_flag(p)
    p.set_defaults(func=cmd_presets)
    p = sub.add_parser("memory", help="estimated memory of a run against the GPUs present")
    _spec_options(p)
    p.set_defaults(func=cmd_memory)
    p = sub.add_parser("launch", help="start a training job")
    _spec_options(p)
    p.add_argument("--wait", action="store_true", help="wait for the job and print its result")
    add_executor_options(p)
    p.set_defaults(func=cmd_launch)
