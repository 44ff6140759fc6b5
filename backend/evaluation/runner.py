"""The evaluation job: generate answers for a dataset split with a model (base, base + adapter at any
checkpoint, merged) or a teacher endpoint, parse them with the recipe, score them, and record the result.

Outputs in the job folder: artifacts/predictions.jsonl (LLaMA-Factory's prompt / label / predict fields,
plus id, parsed and gold labels, group) and artifacts/results.json; a row in `evaluations` for lineage
and comparisons. With checkpoint "all" every checkpoint of a run is scored and the best one named.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from backend.users import current_user
from backend.data import examples
from backend.data.examples import prompt_messages
from backend.data.store import DatasetVersion, resolve
from backend.errors import LabError
from backend.evaluation.scoring import score
from backend.jobs.context import JobContext
from backend.jobs.files import write_json_atomic
from backend.recipes import get_recipe
from backend.recipes.base import TraceTemplate
from backend.storage.db import connect, now_iso, transaction
from backend.traces.teachers import Teacher
from backend.traces.templates import Item
from backend.training.run_outputs import ModelRef, RunOutputs
from backend.validation import ROW_LIMIT, TEMPERATURE, TOKENS, USD, Range, check_fields

PREDICTIONS = "predictions.jsonl"
RESULTS = "results.json"


@dataclass
class EvalRequest:
    dataset: str = field(metadata={"help": "dataset NAME or NAME@VERSION"})
    split: str | None = field(default=None, metadata={"help": "split to score (default: every *test* split, else all rows)"})
    train_job: str | None = field(default=None, metadata={"help": "evaluate this training run's model"})
    checkpoint: str | None = field(default=None, metadata={
        "help": "checkpoint-N of that run, 'final' (default), or 'all' to score each and pick the best"})
    base_model: str | None = field(default=None, metadata={"help": "a base model (local folder or cached id)"})
    adapter: str | None = field(default=None, metadata={"help": "a LoRA adapter folder on top of base_model"})
    teacher: Teacher | None = field(default=None, metadata={"help": "an OpenAI-compatible endpoint as the model"})
    max_new_tokens: int = field(default=512, metadata={"help": "answer length cap",
                                                        "valid": replace(TOKENS, cli="--max-new-tokens")})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy", "valid": replace(TEMPERATURE, cli="--temperature")})
    batch_size: int = field(default=8, metadata={"help": "rows generated together (left padding)",
                                                   "valid": Range(1, 100_000, integer=True, cli="--batch-size")})
    limit: int | None = field(default=None, metadata={"help": "only the first N rows", "valid": replace(ROW_LIMIT, cli="--limit")})
    budget_usd: float | None = field(default=None, metadata={"help": "teacher: stop before spending more",
                                                              "valid": replace(USD, cli="--budget-usd")})
    distractors: int = field(default=0, metadata={
        "help": "datasets with a documents table: also score the same questions with this many extra retrieved "
                "non-gold documents",
        "valid": Range(0, 1000, integer=True)})

    def __post_init__(self):
        check_fields(self, "evaluation")  # every number finite and in range, before a job starts


def run_checkpoints(job_dir: Path) -> list[Path]:
    return RunOutputs(job_dir).checkpoints


def models_of_run(train_job: str, checkpoint: str | None) -> list[ModelRef]:
    """A training run's final model, one checkpoint, or all of them (oldest first, then the final one)."""
    from backend.jobs.manager import get

    return RunOutputs.of(get(train_job)).models(checkpoint)


def resolve_models(request: EvalRequest) -> list[ModelRef]:
    given = [x for x in (request.train_job, request.base_model, request.teacher) if x]
    if len(given) != 1:
        raise LabError("evaluate exactly one of: a training run, a base model (+ adapter), or a teacher")
    if request.train_job:
        return models_of_run(request.train_job, request.checkpoint)
    if request.base_model:
        for path in (request.base_model, request.adapter):
            if path and path.startswith(("/", ".", "~")) and not Path(path).expanduser().exists():
                raise LabError(f"no model folder at {path}")
        label = Path(request.base_model).name + (f" + {Path(request.adapter).name}" if request.adapter else "")
        return [ModelRef(label, request.base_model, request.adapter)]
    return [ModelRef(request.teacher.label, None)]


def eval_rows(version: DatasetVersion, split: str | None, limit: int | None) -> tuple[pd.DataFrame, str | None]:
    """The rows to score (the first `limit`) and the split they come from: `split`, else every *test* split,
    else all rows; an unsplit version is scored whole. Prompts are examples.prompt_messages of these rows."""
    wanted: str | list[str] | None = split or None
    if examples.SPLIT_COLUMN not in version.columns:
        wanted = None
    elif not split:
        tests = [s for s in examples.splits_present(version) if "test" in s]
        wanted, split = (tests, ",".join(tests)) if tests else (None, split)
    frame = examples.load_rows(version, wanted, limit=limit)
    if frame.empty:
        raise LabError(f"{version.ref}: no rows to evaluate")
    return frame.reset_index(drop=True), split


def launch_evaluation(request: EvalRequest, slurm_options=None):
    from backend.jobs.manager import submit

    version = resolve(request.dataset)
    models = resolve_models(request)
    eval_rows(version, request.split, request.limit)  # fail now on a bad split
    spec = {**asdict(request), "dataset": version.ref,
            "teacher": request.teacher.to_json() if request.teacher else None,
            "models": [asdict(m) for m in models]}
    resource = "api" if request.teacher else "gpu"
    from backend.jobs.gpus import gpu_inventory

    if request.teacher:
        gpus = 0
    elif slurm_options:
        gpus = 1 if slurm_options.gpus is None else slurm_options.gpus
    else:
        gpus = 1 if gpu_inventory() else 0
    return submit("eval", spec, title=f"eval {models[0].label}{' (+%d)' % (len(models) - 1) if len(models) > 1 else ''} "
                                      f"on {version.ref}", gpus=gpus, resource=resource if gpus or request.teacher else "cpu",
                  slurm_options=slurm_options)


def _generate_local(ctx: JobContext, model: ModelRef, conversations: list[list[dict]]) -> list[str]:
    from backend.traces.local_teacher import LocalTeacher

    generator = LocalTeacher(model.base, adapter=model.adapter)
    spec = ctx.spec
    texts, batch = [], max(1, int(spec.get("batch_size", 8)))
    for start in range(0, len(conversations), batch * 4):
        if ctx.cancelled:
            raise LabError("cancelled")
        chunk = conversations[start:start + batch * 4]
        texts += [c.text for c in generator.generate(chunk, max_new_tokens=int(spec.get("max_new_tokens", 512)),
                                                     temperature=float(spec.get("temperature", 0.0)), batch_size=batch)]
        ctx.progress(done=len(texts), total=len(conversations), model=model.label)
    return texts


def _generate_teacher(ctx: JobContext, conversations: list[list[dict]], ids: list[str]) -> list[str]:
    from backend.traces import records
    from backend.traces.engine import TraceRun

    items = [Item(item_id=i, row_id=i, per_value=None, messages=m, gold={}) for i, m in zip(ids, conversations)]
    keep_all = TraceTemplate(name="evaluation", description="", system="", user="", max_tokens=int(ctx.spec.get("max_new_tokens", 512)))
    spec = {**ctx.spec, "max_tokens": ctx.spec.get("max_new_tokens", 512), "max_rejects": 0}
    run = TraceRun(JobContext(ctx.job_id, ctx.job_dir, spec, ctx.attempt, ctx.cancel_event, ctx.started,
                              warnings=ctx.warnings), items, keep_all)
    result = run.run(write_dataset=False)  # a teacher that refuses every request raises with its message
    if result.get("stopped") or ctx.cancelled:
        raise LabError(f"teacher evaluation stopped ({result.get('stopped') or 'cancelled'}) after {result['done']} rows"
                       + (f": {result['warning']}" if result.get("warning") else ""))
    texts = {r["item_id"]: r["text"] for r in records.accepted_items(ctx.job_id)}
    return [texts.get(i) or "" for i in ids]


def _generate(ctx: JobContext, model: ModelRef, conversations: list[list[dict]], ids: list[str]) -> list[str]:
    if ctx.spec.get("teacher"):
        return _generate_teacher(ctx, conversations, ids)
    return _generate_local(ctx, model, conversations)


def run_eval_job(ctx: JobContext) -> dict:
    spec = ctx.spec
    version = resolve(spec["dataset"])
    recipe = get_recipe(version.recipe)
    frame, split = eval_rows(version, spec.get("split"), spec.get("limit"))
    rows = [recipe.plain_row(r) for r in frame.to_dict(orient="records")]
    ids = [str(r.get("id") or n) for n, r in enumerate(rows, start=1)]
    conversations = [prompt_messages(recipe, r) for r in rows]
    models = [ModelRef(**m) for m in spec["models"]]
    outcomes = []
    stressed_rows = None
    if int(spec.get("distractors") or 0) > 0:
        if recipe.documents_table is None:
            raise LabError(f"the distractor stress test needs a documents table; {version.ref} ({version.recipe}) has none")
        from backend.evaluation.stress import with_distractors

        stressed_rows = [recipe.plain_row(r) for r in with_distractors(frame, version, int(spec["distractors"])).to_dict(orient="records")]
    for model in models:
        ctx.log(f"generating {len(rows)} answers with {model.label}")
        texts = _generate(ctx, model, conversations, ids)
        scored = score(version.recipe, recipe, rows, texts)
        if stressed_rows is not None:
            ctx.log(f"stress test: the same questions with {spec['distractors']} extra distractors each")
            stressed = score(version.recipe, recipe, stressed_rows,
                             _generate(ctx, model, [prompt_messages(recipe, r) for r in stressed_rows],
                                       [f"{i}::stress" for i in ids]))
            scored["metrics"]["stress"] = {**stressed["metrics"], "distractors": int(spec["distractors"]),
                                           "delta_" + scored["headline"]: (stressed["headline_value"] or 0)
                                           - (scored["headline_value"] or 0)}
        outcomes.append(_record(ctx, version, recipe, split, model, rows, ids, conversations, texts, scored,
                                several=len(models) > 1))
        ctx.log(f"{model.label}: {scored['headline']} = {scored['headline_value']}")
    best = max(outcomes, key=lambda o: (o["headline_value"] is not None, o["headline_value"] or 0))
    summary = {"evaluations": [{k: o[k] for k in ("id", "model", "checkpoint", "headline", "headline_value")} for o in outcomes],
               "best": {k: best[k] for k in ("id", "model", "checkpoint", "headline", "headline_value")}, "split": split}
    write_json_atomic(ctx.artifacts / "summary.json", summary)
    return summary


def _record(ctx, version, recipe, split, model: ModelRef, rows, ids, conversations, texts, scored, several: bool) -> dict:
    folder = ctx.artifacts / (model.checkpoint or "model") if several else ctx.artifacts
    folder.mkdir(parents=True, exist_ok=True)
    group_key = recipe.group_column or ("policy" if any(r.get("policy") for r in rows) else None)
    with open(folder / PREDICTIONS, "w", encoding="utf-8") as out:
        for row_id, row, messages, text, parsed in zip(ids, rows, conversations, texts, scored["parsed"]):
            out.write(json.dumps({"id": row_id, "prompt": messages[-1]["content"],
                                  "label": json.dumps(recipe.gold_labels(row)) if recipe.gold_labels(row) else None,
                                  "predict": text, "parsed": parsed, "gold": recipe.gold_labels(row),
                                  "group": row.get(group_key) if group_key else None,
                                  "trace": row.get("trace")}, ensure_ascii=False, default=str) + "\n")
    results = {"model": model.label, "checkpoint": model.checkpoint, "dataset": version.ref, "split": split,
               "headline": scored["headline"], "headline_value": scored["headline_value"], "metrics": scored["metrics"]}
    write_json_atomic(folder / RESULTS, results)
    eval_id = uuid.uuid4().hex[:12]
    train_job = ctx.spec.get("train_job")
    with connect() as db, transaction(db):
        db["evaluations"].insert({
            "id": eval_id, "job_id": ctx.job_id, "dataset": version.ref, "dataset_hash": version.content_hash,
            "recipe": version.recipe, "split": split, "model_label": model.label,
            "model_kind": "teacher" if ctx.spec.get("teacher") else "model", "train_job": train_job,
            "checkpoint": model.checkpoint, "headline": scored["headline"], "headline_value": scored["headline_value"],
            "results_path": str(folder / RESULTS), "owner": current_user(), "created_at": now_iso()})
    return {"id": eval_id, "model": model.label, "checkpoint": model.checkpoint, "headline": scored["headline"],
            "headline_value": scored["headline_value"]}


def list_evaluations(dataset: str | None = None, train_job: str | None = None) -> list[dict]:
    where, params = [], []
    if dataset:
        where.append("dataset LIKE ?")
        params.append(dataset.split("@")[0] + "%")
    if train_job:
        where.append("train_job = ?")
        params.append(train_job)
    with connect() as db:
        return list(db.query("SELECT * FROM evaluations" + (" WHERE " + " AND ".join(where) if where else "")
                             + " ORDER BY created_at DESC", params))


def load_results(eval_id: str) -> tuple[dict, list[dict]]:
    """An evaluation's results.json and its predictions, for the views."""
    with connect() as db:
        row = next(iter(db.query("SELECT * FROM evaluations WHERE id = ?", [eval_id])), None)
    if row is None:
        raise LabError(f"no evaluation {eval_id!r}")
    path = Path(row["results_path"])
    predictions = [json.loads(line) for line in (path.parent / PREDICTIONS).read_text(encoding="utf-8").splitlines() if line]
    return {**json.loads(path.read_text()), "id": eval_id, "row": row}, predictions
