"""Job kinds: what a job runs, on which resource queue, and whether it can be resumed.

A kind's target is "module:function"; the function takes a JobContext and returns a JSON-able result.
Extra kinds can be registered by modules named in FTLAB_JOB_PLUGINS (comma separated), which the
manager and the runner both import.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from backend import config
from backend.errors import LabError


@dataclass(frozen=True)
class JobKind:
    name: str
    target: str
    resource: str  # queue name: "api" (teacher calls), "gpu" (training, evaluation), "cpu"
    resumable: bool = False
    description: str = ""


KINDS: dict[str, JobKind] = {
    kind.name: kind for kind in (
        JobKind("traces", "backend.traces.engine:run_trace_job", "api", resumable=True,
                description="teacher reasoning traces"),
        JobKind("train", "backend.training.runner:run_training_job", "gpu", resumable=True,
                description="LoRA / QLoRA / full fine-tuning"),
        JobKind("eval", "backend.evaluation.runner:run_eval_job", "gpu", resumable=False,
                description="generate answers and score them"),
        JobKind("index", "backend.retrieval.build:run_index_job", "cpu", resumable=False,
                description="chunk, embed and index a document corpus"),
        JobKind("export", "backend.models.export:run_export_job", "cpu", resumable=False,
                description="merged model, GGUF, Modelfile, model card, hub push"),
        JobKind("leakage", "backend.retrieval.leakage:run_leakage_job", "cpu", resumable=False,
                description="exact and near-duplicate rows across two splits of a dataset version"),
    )
}


def register_kind(kind: JobKind) -> JobKind:
    KINDS[kind.name] = kind
    return kind


def _load_plugins() -> None:
    for module in config.job_plugins():
        importlib.import_module(module)


def get_kind(name: str) -> JobKind:
    if name not in KINDS:
        _load_plugins()
    if name not in KINDS:
        raise LabError(f"unknown job kind {name!r}; known: {', '.join(sorted(KINDS)) or 'none'}")
    return KINDS[name]


def resolve_target(kind: JobKind):
    module, _, function = kind.target.partition(":")
    return getattr(importlib.import_module(module), function)
