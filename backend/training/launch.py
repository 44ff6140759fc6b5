"""Launching a training run: one call for the dashboard, the CLI and the tests."""
from __future__ import annotations

from dataclasses import replace

from backend.data.store import resolve
from backend.jobs.gpus import gpu_inventory
from backend.jobs.manager import JobInfo, submit
from backend.jobs.slurm import SlurmOptions
from backend.training.spec import TrainSpec


def resolve_gpus(spec: TrainSpec, slurm_options: SlurmOptions | None = None) -> int:
    """-1 means one GPU when the machine (or, on Slurm, the allocation) has any, else the CPU."""
    if spec.gpus >= 0:
        return spec.gpus
    if slurm_options:
        return 1 if slurm_options.gpus is None else slurm_options.gpus
    return 1 if gpu_inventory() else 0


def launch_training(spec: TrainSpec, slurm_options: SlurmOptions | None = None) -> JobInfo:
    version = resolve(spec.dataset)  # fails now, with the known datasets listed, rather than in the job
    gpus = resolve_gpus(spec, slurm_options)
    spec = replace(spec, dataset=version.ref, gpus=gpus)
    title = f"train {spec.base_model} ({spec.method}) on {version.ref}"
    return submit("train", spec.to_json(), title=title, gpus=gpus, resource="gpu" if gpus else "cpu",
                  slurm_options=slurm_options)
