"""Launching a trace job: the request (teacher, template, rows, sampling, budget) and its submission.

The request is checked and its items rendered once here, so a mistake surfaces before the job is queued;
the job itself is backend/traces/engine.py.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from backend.data.store import check_output, resolve
from backend.errors import LabError
from backend.traces.teachers import Teacher, require_api_key
from backend.traces.templates import build_items, get_template, template_to_json
from backend.validation import ROW_LIMIT, SECONDS, SEED, TEMPERATURE, TOKENS, USD, Range, check_fields


@dataclass
class TraceRequest:
    dataset: str = field(metadata={"help": "dataset NAME or NAME@VERSION"})
    teacher: Teacher = field(metadata={"help": "which model writes the traces"})
    template: str | None = field(default=None, metadata={"help": "template name (default: the recipe's first)"})
    include_gold: bool = field(default=True, metadata={"help": "give the teacher the gold label (GuardReasoner did)"})
    split: str | None = field(default=None, metadata={"help": "only rows of this split"})
    limit: int | None = field(default=None, metadata={"help": "only the first N rows (a pilot)",
                                                       "valid": replace(ROW_LIMIT, cli="--limit")})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature of the first attempt",
                                                       "valid": replace(TEMPERATURE, cli="--temperature")})
    max_tokens: int | None = field(default=None, metadata={"help": "output cap per request (default: the template's)",
                                                            "valid": replace(TOKENS, optional=True, cli="--max-tokens")})
    seed: int | None = field(default=None, metadata={"help": "seed sent to the endpoint", "valid": replace(SEED, optional=True)})
    budget_usd: float | None = field(default=None, metadata={"help": "stop before spending more than this",
                                                              "valid": replace(USD, cli="--budget-usd")})
    max_rejects: int = field(default=2, metadata={"help": "retries of a trace whose label disagrees with the gold one",
                                                   "valid": Range(0, 100, integer=True, cli="--max-rejects")})
    reject_temperature_step: float = field(default=0.3, metadata={"help": "temperature added on each retry",
                                                                   "valid": TEMPERATURE})
    batch: bool = field(default=False, metadata={"help": "use the OpenAI Batch API (50% off, results within 24 h)"})
    batch_poll_s: float = field(default=30.0, metadata={"help": "seconds between batch status checks",
                                                        "valid": replace(SECONDS, cli="--batch-poll")})
    out: str | None = field(default=None, metadata={"help": "output dataset name (default: DATASET-traces)"})

    def __post_init__(self):
        check_fields(self, "trace request")  # every number finite and in range, before anything is paid


def launch_traces(request: TraceRequest, estimate_usd: float | None = None, slurm_options=None):
    """Validate the request, render its items once (errors surface now, not in the job), submit the job."""
    from backend.jobs.manager import submit
    import sqlite3

    from backend.preferences import remember_teacher

    version = resolve(request.dataset)
    out = check_output(request.out or f"{version.dataset}-traces", version.recipe)  # before the first request
    template = get_template(version.recipe, request.template)
    items = build_items(version, template, include_gold=request.include_gold, split=request.split, limit=request.limit)
    if not items:
        raise LabError(f"{version.ref}: no rows to send")
    if request.teacher.provider == "openai":
        require_api_key(request.teacher)
    spec = {**asdict(request), "dataset": version.ref, "teacher": request.teacher.to_json(),
            "template": template_to_json(template), "out": out,
            "items": len(items), "estimate_usd": estimate_usd}
    job = submit("traces", spec, title=f"traces {version.ref} via {request.teacher.label}", slurm_options=slurm_options)
    try:
        remember_teacher(request.teacher)  # the Traces page offers this teacher again next time (never its key)
    except (LabError, sqlite3.Error):  # the job is submitted; a choice not remembered must not fail it
        pass
    return job
