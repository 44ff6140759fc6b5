"""Before an evaluation starts: a max-new-tokens that suits the data, and how long the run will take.

Max new tokens. A trained model writes what it was trained on, so for a training run the cap is the
dataset's own answers (the assistant turn of the recipe's messages) at their 95th percentile length,
plus a quarter and 16 tokens of room. A base model or a teacher answers the recipe's prompt (which may ask
for reasoning first), so it also gets at least the recipe's own figure for a teacher reply
(`expected_output_tokens` of its first template). Tokens are counted with o200k_base, which is close to,
not equal to, a local model's tokenizer.

Time. Measured when this machine has already run an evaluation of the same model (the same base model on
the same executor, or the same teacher at the same endpoint): its progress records give seconds per row
and a fixed cost (start-up and loading), and the new run is scaled from them by rows and by the
max-new-tokens cap. Otherwise a rough guess from the model's size (local models generate on the CPU: the
runner does not place the model on a GPU) or, for a teacher, from an assumed endpoint speed. Either way
every answer is assumed to run to the cap, so an answer that stops early makes the run shorter than this.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from backend.errors import LabError
from backend.jobs.executor import LOCAL_EXECUTOR

SAMPLE_ROWS = 200
ROOM = 1.25
EXTRA_TOKENS = 16
MIN_TOKENS, MAX_TOKENS = 32, 1024
DEFAULT_ROWS = 50  # the Evaluate page's default sample: minutes, not hours, for a first look

# The guesses used before anything was measured, with what they stand for.
GUESS_LOAD_S = 15.0  # start the job, import torch, load the model
GUESS_STEP_S = 0.1  # per generated token of a batch on CPU, beyond reading the weights (a tiny model here)
GUESS_CPU_GB_PER_S = 10.0  # weights read once per generated token (memory-bound decoding)
GUESS_TEACHER_TOKENS_PER_S = 50.0  # one request's output speed at an unknown endpoint
GUESS_TEACHER_LATENCY_S = 1.0


@dataclass
class EvalEstimate:
    rows: int  # rows to score, per model
    models: int  # models scored one after the other (checkpoint "all" scores each)
    max_new_tokens: int
    seconds: float
    measured: bool  # from an earlier run on this machine, else a guess
    basis: str  # how the number was reached, in words

    @property
    def minutes(self) -> float:
        return self.seconds / 60

    def text(self) -> str:
        took = f"{self.seconds:.0f} s" if self.seconds < 120 else f"{self.minutes:.0f} min"
        return (f"{'About' if self.measured else 'Roughly'} {took} for {self.rows:,} rows"
                + (f" × {self.models} models" if self.models > 1 else "")
                + f" at up to {self.max_new_tokens} new tokens ({'measured' if self.measured else 'a guess'})")

    def to_json(self) -> dict:
        return {**asdict(self), "text": self.text()}


def _answers(dataset: str, split: str | None) -> tuple[object, list[str]]:
    from backend.data.store import resolve
    from backend.evaluation.runner import eval_rows
    from backend.recipes import get_recipe

    version = resolve(dataset)
    recipe = get_recipe(version.recipe)
    frame, _ = eval_rows(version, split, SAMPLE_ROWS)
    answers = []
    for row in frame.to_dict(orient="records"):
        messages = recipe.to_messages(recipe.plain_row(row))
        if messages and messages[-1]["role"] == "assistant" and messages[-1]["content"]:
            answers.append(messages[-1]["content"])
    return recipe, answers


def suggested_max_new_tokens(dataset: str, split: str | None = None, source: str = "run") -> tuple[int, str]:
    """(tokens, why) for evaluating `dataset` (its `split`, else its test splits) with a training run
    ("run"), a base model ("base") or a teacher ("teacher"); see the module docstring."""
    from backend.traces.tokens import count_tokens

    recipe, answers = _answers(dataset, split)
    reasons, tokens = [], MIN_TOKENS
    if answers:
        lengths = sorted(count_tokens(answers))
        p95 = lengths[min(len(lengths) - 1, math.ceil(0.95 * len(lengths)) - 1)]
        tokens = max(tokens, int(p95 * ROOM) + EXTRA_TOKENS)
        reasons.append(f"the dataset's answers are up to {p95} tokens (95th percentile of {len(lengths)})")
    if source != "run" or not answers:
        reply = recipe.templates[0].expected_output_tokens if recipe.templates else None
        if reply and reply > tokens:
            tokens = reply
            reasons.append(f"a model not trained on these answers may reason first: the {recipe.name} recipe's "
                           f"figure for a teacher's reply is {reply}")
    tokens = min(MAX_TOKENS, -(-tokens // 16) * 16)
    return tokens, "; ".join(reasons) or "no answers to measure: the smallest cap"


def _records(job) -> list[dict]:
    from backend.jobs.files import PROGRESS, read_jsonl

    return [r for r in read_jsonl(Path(job.job_dir) / PROGRESS) if r.get("done") and r.get("elapsed_s")]


def _same_model(spec: dict, request, model) -> bool:
    if request.teacher is not None:
        teacher = spec.get("teacher") or {}
        return teacher.get("model") == request.teacher.model and teacher.get("base_url") == request.teacher.base_url
    first = (spec.get("models") or [{}])[0]
    return not spec.get("teacher") and first.get("base") == model.base


def _measured(request, model, executor: str):
    """(seconds per row per cap token, fixed seconds, what it came from) from the newest finished evaluation of
    the same model on the same executor, or None."""
    from backend.jobs import manager

    for job in manager.list_jobs(kind="eval", status="succeeded", limit=50):
        spec = manager.spec(job.id)
        if job.executor != executor or not _same_model(spec, request, model):
            continue
        first_model = (spec.get("models") or [{}])[0].get("label")
        records = [r for r in _records(job) if r.get("model") in (None, first_model)]
        cap = int(spec.get("max_new_tokens") or 512)
        if not records:
            continue
        last = records[-1]
        earlier = next((r for r in records if r["done"] < last["done"]), None)
        if earlier is not None:
            per_row = (last["elapsed_s"] - earlier["elapsed_s"]) / (last["done"] - earlier["done"])
            fixed = max(0.0, earlier["elapsed_s"] - earlier["done"] * per_row)
        else:
            per_row, fixed = last["elapsed_s"] / last["done"], 0.0
        how = (f"evaluation job {job.id} scored {last['done']} rows at up to {cap} new tokens in "
               f"{last['elapsed_s']:.0f} s here ({per_row:.2f} s per row after {fixed:.0f} s of start-up)")
        return per_row / cap, fixed, how
    return None


def estimate_evaluation(request, executor: str = LOCAL_EXECUTOR) -> EvalEstimate:
    """How long `request` (an EvalRequest) will take; raises LabError for a request launch would refuse."""
    from backend.data.store import resolve
    from backend.evaluation.runner import eval_rows, resolve_models
    from backend.training.model_size import weights_gb

    version = resolve(request.dataset)
    models = resolve_models(request)
    frame, _ = eval_rows(version, request.split, request.limit)
    rows, cap = len(frame), int(request.max_new_tokens)
    passes = 2 if int(request.distractors or 0) > 0 else 1  # the stress test asks every question again
    measured = _measured(request, models[0], executor)
    if measured:
        per_token_row, fixed, how = measured
        seconds = fixed + passes * len(models) * rows * cap * per_token_row
        basis = f"measured: {how}; scaled to {rows:,} rows at up to {cap} tokens"
    elif request.teacher is not None:
        waves = math.ceil(rows / max(1, request.teacher.concurrency or 1))
        seconds = passes * len(models) * waves * (GUESS_TEACHER_LATENCY_S + cap / GUESS_TEACHER_TOKENS_PER_S)
        basis = (f"a guess: this endpoint has not been timed here yet; assumed {GUESS_TEACHER_TOKENS_PER_S:.0f} "
                 f"tokens/s per request and {request.teacher.concurrency} requests at a time")
    else:
        try:
            gb = weights_gb(models[0].base, models[0].adapter) if models[0].base else 0.0
        except LabError:
            gb = 0.0
        step = GUESS_STEP_S + gb / GUESS_CPU_GB_PER_S
        batches = math.ceil(rows / max(1, int(request.batch_size or 1)))
        seconds = GUESS_LOAD_S + passes * len(models) * batches * cap * step
        basis = (f"a guess: this model has not been evaluated here yet; {gb:.2f} GB of weights read per generated "
                 f"token at an assumed {GUESS_CPU_GB_PER_S:.0f} GB/s on the CPU, plus {GUESS_STEP_S} s per step, "
                 f"{batches} batch(es) of {request.batch_size}, {GUESS_LOAD_S:.0f} s to start")
    basis += "; every answer assumed to run to the cap (answers that stop early take less)"
    return EvalEstimate(rows=rows, models=len(models), max_new_tokens=cap, seconds=seconds,
                        measured=bool(measured), basis=basis)
