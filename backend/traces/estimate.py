"""What a trace job will cost before a cent is spent: exact input tokens (OpenAI's chat billing),
expected output tokens, dollars from the dated price table (by the model's name, or --price-model; each
estimate says which price it used), and time at the teacher's rate limits (resolved per endpoint)."""
from __future__ import annotations

import json

from dataclasses import asdict, dataclass, replace

from backend.data.store import resolve
from backend.errors import LabError
from backend.storage.db import connect
from backend.traces.prices import batch_discount, load_table
from backend.traces.teachers import Teacher
from backend.traces.templates import build_items, get_template
from backend.traces.tokens import count_chats_tokens
from backend.validation import ROW_LIMIT, Range, check_value


@dataclass
class CostEstimate:
    teacher: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    output_tokens_source: str
    usd: float
    usd_online: float
    usd_batch: float
    batch: bool
    minutes: float
    limited_by: str
    prices_as_of: str
    encoding: str
    price: str = ""  # which price was used, in words ("gpt-4o-mini (0.15 / 0.6 USD ...)", "no price: ...")
    price_model: str | None = None  # the price table entry used; None when nothing is billed
    price_source: str = "table"  # table (the model's name), given (--price-model), none, no price, local
    rpm: int | None = None  # the client-side limits in force (None: none; the server's 429s pace the job)
    tpm: int | None = None
    repeated_prompts: int = 0  # rows whose prompt another row already sends: paid once, by the first
    cheapest: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def measured_output_tokens(job_id: str) -> float:
    """Mean completion tokens of a finished pilot job's paid attempts."""
    with connect() as db:
        row = next(iter(db.query("SELECT AVG(completion_tokens) mean, COUNT(*) n FROM trace_attempts "
                                 "WHERE job_id = ? AND cached = 0", [job_id])))
    if not row["n"]:
        raise LabError(f"job {job_id} has no paid completions to measure output length from")
    return float(row["mean"])


def estimate_cost(dataset: str, teachers: list[Teacher], *, template: str | None = None, include_gold: bool = True,
                  split: str | None = None, limit: int | None = None, output_tokens: float | None = None,
                  pilot_job: str | None = None, batch: bool = False, cached_input_fraction: float = 0.0,
                  latency_s: float = 2.0) -> list[CostEstimate]:
    """One estimate per teacher, side by side; the cheapest is marked."""
    if not teachers:
        raise LabError("name at least one teacher to estimate")
    check_value("cached_input_fraction", cached_input_fraction, Range(0, 1, cli="--cached-fraction"))
    check_value("output_tokens", output_tokens, Range(0, 10_000_000, optional=True, cli="--output-tokens"))
    check_value("limit", limit, replace(ROW_LIMIT, cli="--limit"))
    version = resolve(dataset)
    tmpl = get_template(version.recipe, template)
    all_items = build_items(version, tmpl, include_gold=include_gold, split=split, limit=limit)
    # A job pays once per distinct prompt: identical ones share the first one's completion (cache, in flight).
    items = list({json.dumps(i.messages, sort_keys=True, ensure_ascii=False): i for i in all_items}.values())
    if pilot_job:
        per_item, source = measured_output_tokens(pilot_job), f"measured in pilot job {pilot_job}"
    elif output_tokens is not None:
        per_item, source = float(output_tokens), "given"
    else:
        per_item, source = float(tmpl.expected_output_tokens), f"template {tmpl.name} default"
    table = load_table()
    discount = batch_discount(table)
    token_cache: dict[str, int] = {}
    estimates = []
    for teacher in teachers:
        price = teacher.price()
        if price.encoding not in token_cache:
            token_cache[price.encoding] = sum(count_chats_tokens([i.messages for i in items], price.encoding))
        input_tokens = token_cache[price.encoding]
        out_tokens = int(round(per_item * len(items)))
        cached = int(input_tokens * cached_input_fraction)
        online = price.cost(input_tokens, out_tokens, cached)
        offline = price.cost(input_tokens, out_tokens, cached, discount)
        rpm, tpm = teacher.rate_limits() if teacher.provider == "openai" else (None, None)
        minutes, limited_by = _duration(len(items), input_tokens + out_tokens, teacher, latency_s, rpm, tpm)
        estimates.append(CostEstimate(
            teacher=teacher.label, model=teacher.model, requests=len(items), input_tokens=input_tokens,
            output_tokens=out_tokens, output_tokens_source=source, usd=offline if batch else online,
            usd_online=online, usd_batch=offline, batch=batch, minutes=minutes, limited_by=limited_by,
            prices_as_of=table.get("as_of", "?"), encoding=price.encoding, price=price.describe(),
            price_model=price.priced_as, price_source=price.source, rpm=rpm, tpm=tpm,
            repeated_prompts=len(all_items) - len(items)))
    cheapest = min(estimates, key=lambda e: e.usd)
    cheapest.cheapest = True
    return estimates


def _duration(requests: int, tokens: int, teacher: Teacher, latency_s: float, rpm: int | None,
              tpm: int | None) -> tuple[float, str]:
    limits = {"concurrency": requests * latency_s / teacher.concurrency / 60}
    if rpm:
        limits["requests per minute"] = requests / rpm
    if tpm:
        limits["tokens per minute"] = tokens / tpm
    limited_by = max(limits, key=limits.get)
    return round(limits[limited_by], 2), limited_by
