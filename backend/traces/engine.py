"""The trace generation job: teacher completions for every item, parsed, checked against gold labels,
cached, budgeted, and turned into a new dataset version. The request and its launch are
backend/traces/launch.py (TraceRequest and launch_traces are importable from here as well).

Online mode sends requests concurrently (asyncio, bounded in-flight requests, RPM/TPM limits, retries
with backoff and jitter honouring Retry-After). Batch mode hands them to the OpenAI Batch API
(backend/traces/batch.py). A local teacher runs batched generation with Transformers.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from dataclasses import replace

import openai
import pandas as pd

from backend.data.store import VersionWriter, check_output, iter_batches, resolve
from backend.errors import LabError
from backend.jobs.context import JobContext
from backend.recipes import get_recipe
from backend.recipes.base import TraceTemplate
from backend.storage.db import connect
from backend.traces import records
from backend.traces.launch import TraceRequest, launch_traces  # noqa: F401 - callers import them from here too
from backend.traces.limits import Budget, RateLimiter, backoff_delay
from backend.traces.records import Completion, cache_key
from backend.traces.teachers import error_code, require_api_key, server_message, teacher_from_json
from backend.traces.templates import Item, build_items, prepared_frame, template_from_json, template_hash
from backend.traces.tokens import count_chats_tokens

FAIL_FAST = 3  # items refused the same way in a row (no success between) before a job stops as failed


def agreement(labels: dict, gold: dict, template: TraceTemplate) -> bool | None:
    """True/False against the gold labels that are known; None when there is nothing to compare."""
    if any(labels.get(key) in (None, "", []) for key in template.require):
        return False
    known = {k: v for k, v in gold.items() if v is not None}
    if not known:
        return None
    return all(labels.get(k) == v for k, v in known.items())


class TraceRun:
    """A trace job; evaluation jobs with a teacher reuse it with their own items and a template that
    checks nothing (so every reply is kept), for the same cache, limits, retries, budget and ledger."""

    def __init__(self, ctx: JobContext, items: list[Item] | None = None, template: TraceTemplate | None = None):
        spec = ctx.spec
        self.ctx = ctx
        self.version = resolve(spec["dataset"])
        self.recipe = get_recipe(self.version.recipe)
        self.template = template or template_from_json(spec["template"])
        self.teacher = teacher_from_json(spec["teacher"])
        self.price = self.teacher.price()
        self.batch = bool(spec.get("batch"))
        self.discount = 0.5 if self.batch else 0.0
        self.max_tokens = spec.get("max_tokens") or self.template.max_tokens
        self.items = items if items is not None else build_items(
            self.version, self.template, include_gold=spec.get("include_gold", True), split=spec.get("split"),
            limit=spec.get("limit"))
        records.register_items(ctx.job_id, self.items)
        spent = records.ledger(ctx.job_id)["usd_worst_case"]  # possibly billed timeouts count at worst case
        self.budget = Budget(spec.get("budget_usd"), spent)
        self.stop_reason: str | None = None
        self.refused: str | None = None  # the message of a teacher that refuses every request
        self._same_refusals, self._last_refusal, self._successes = 0, None, 0
        self.done_now = 0
        self.in_flight: dict[str, asyncio.Future] = {}

    # -- one request ---------------------------------------------------------------------------
    def params(self, temperature: float) -> dict:
        params = {"temperature": temperature, "max_tokens": self.max_tokens}
        if self.ctx.spec.get("seed") is not None:
            params["seed"] = self.ctx.spec["seed"]
        return params

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        return self.price.cost(prompt_tokens, completion_tokens, cached_tokens, self.discount)

    async def request(self, client, limiter: RateLimiter, messages: list[dict], params: dict,
                      input_tokens: int, item_id: str = "", key: str | None = None) -> Completion | None:
        """One paid completion with retries; None when the budget, a cancel or a refusing teacher stops it first.
        A non-retryable refusal (400, 401, 403, 404, 422) raises TeacherRefused with the server's message."""
        worst = self.cost(input_tokens, params["max_tokens"])
        if not self.budget.try_reserve(worst):
            self.stop_reason = self.stop_reason or "budget"
            return None
        reserved, actual = worst, 0.0
        try:
            for retry in range(self.teacher.max_retries + 1):
                if self.ctx.cancelled or self.refused:
                    return None
                await limiter.acquire(input_tokens + params["max_tokens"])
                try:
                    response = await client.chat.completions.create(model=self.teacher.model, messages=messages, **params)
                    choice = response.choices[0]
                    text = choice.message.content
                    if not isinstance(text, str):
                        raise ValueError("reply without message content")
                    usage = response.usage
                    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None) or 0
                    actual = self.cost(usage.prompt_tokens, usage.completion_tokens, cached)
                    return Completion(text, choice.finish_reason, usage.prompt_tokens, usage.completion_tokens,
                                      cached, actual)
                except openai.RateLimitError as exc:
                    if error_code(exc) == "insufficient_quota":  # no wait brings money back: a refusal
                        raise TeacherRefused(429, f"429 from the teacher ({self.teacher.label}): "
                                             f"{server_message(exc)}", code="insufficient_quota") from None
                    delay = backoff_delay(retry, _retry_after(exc))
                    limiter.pause(delay)
                    self.ctx.log(f"429 rate limited ({server_message(exc)}); waiting {delay:.1f}s")
                except openai.APITimeoutError:
                    # We gave up, but the provider may have run the request and billed it: count it at its
                    # worst case, and reserve the retry's worst case afresh.
                    records.record_possibly_billed(self.ctx.job_id, item_id, key, "timeout", input_tokens,
                                                   params["max_tokens"], worst, db=self.db)
                    self.budget.settle(reserved, worst)
                    reserved = 0.0
                    delay = backoff_delay(retry)
                    self.ctx.log(f"timed out after {self.teacher.timeout_s:g}s (possibly billed, up to "
                                 f"{worst:.5f} USD); retry {retry + 1} in {delay:.1f}s")
                    if retry < self.teacher.max_retries:
                        if not self.budget.try_reserve(worst):
                            self.stop_reason = self.stop_reason or "budget"
                            return None
                        reserved = worst
                except (openai.APIConnectionError, openai.InternalServerError) as exc:
                    delay = backoff_delay(retry, _retry_after(exc))
                    self.ctx.log(f"{type(exc).__name__} ({server_message(exc)}); retry {retry + 1} in {delay:.1f}s")
                except openai.APIStatusError as exc:
                    if exc.status_code >= 500 or exc.status_code in (408, 409):
                        delay = backoff_delay(retry, _retry_after(exc))
                        self.ctx.log(f"{exc.status_code} ({server_message(exc)}); retry {retry + 1} in {delay:.1f}s")
                    else:
                        raise TeacherRefused(exc.status_code, f"{exc.status_code} from the teacher "
                                             f"({self.teacher.label}): {server_message(exc)}",
                                             code=error_code(exc)) from None
                except (ValueError, TypeError, AttributeError, IndexError, openai.APIResponseValidationError) as exc:
                    delay = backoff_delay(retry)
                    self.ctx.log(f"malformed reply ({type(exc).__name__}: {exc}); retry {retry + 1} in {delay:.1f}s")
                await asyncio.sleep(delay)
            raise LabError(f"no valid reply after {self.teacher.max_retries + 1} tries")
        finally:
            self.budget.settle(reserved, actual)

    def note_outcome(self, refusal: TeacherRefused | None) -> None:
        """Count refusals in a row: after FAIL_FAST items refused the same way with no success in between, the
        teacher refuses everything (an unknown model, a bad key, a wrong URL): stop, and the job fails with the
        server's message. A 400 or 422 after some successes is taken as one item's problem (a prompt the
        provider rejects), so those stop the job only while nothing has succeeded yet."""
        if refusal is None:
            self._same_refusals = 0
            self._successes += 1
            return
        self._same_refusals = self._same_refusals + 1 if refusal.kind == self._last_refusal else 1
        self._last_refusal = refusal.kind
        systemic = refusal.status in (401, 403, 404, 429) or not self._successes
        if self._same_refusals >= FAIL_FAST and systemic and not self.refused:
            self.refused = str(refusal)
            self.stop_reason = self.stop_reason or "teacher refused"
            self.ctx.log(f"{FAIL_FAST} items in a row refused the same way; stopping: {refusal}")

    # -- one item ------------------------------------------------------------------------------
    async def process(self, item: Item, client, limiter: RateLimiter, input_tokens: int, slots: asyncio.Semaphore):
        temperature = float(self.ctx.spec.get("temperature", 0.0))
        step = float(self.ctx.spec.get("reject_temperature_step", 0.3))
        max_rejects = int(self.ctx.spec.get("max_rejects", 2))
        first_attempt = self.attempts_so_far.get(item.item_id, 0) + 1
        async with slots:
            for attempt in range(first_attempt, first_attempt + max_rejects + 1):
                temperature_now = min(2.0, temperature + step * (attempt - 1))
                params = self.params(temperature_now)
                key = cache_key(self.teacher.endpoint, self.teacher.model, item.messages, params)
                completion = records.cached_completion(key, db=self.db)
                if completion is None:
                    if self.ctx.cancelled or self.stop_reason:
                        return
                    try:
                        completion = await self.request_once(key, lambda: self.request(
                            client, limiter, item.messages, params, input_tokens, item_id=item.item_id, key=key))
                    except LabError as exc:
                        self.in_flight.pop(key, None)
                        records.finish_item(self.ctx.job_id, item.item_id, "failed", error=str(exc), db=self.db)
                        self.note_outcome(exc if isinstance(exc, TeacherRefused) else None)
                        return
                    if completion is None:
                        self.in_flight.pop(key, None)
                        return
                    self.note_outcome(None)
                status = self.settle(item, attempt, temperature_now, completion, key, params,
                                     last=attempt == first_attempt + max_rejects)
                if not completion.from_cache:  # the one that paid: its reply is in the cache now, twins find it
                    self.in_flight.pop(key, None)
                if status:
                    return

    async def request_once(self, key: str, send) -> Completion | None:
        """Identical requests in this run are sent once; the others get the same completion, unpaid (as from the
        cache), so rows with the same prompt never pay twice, whatever the timing. The sender removes the entry
        only once `settle` has written the reply to the cache: until then a late twin would miss both."""
        task = self.in_flight.get(key)
        if task is None:
            task = self.in_flight[key] = asyncio.ensure_future(send())
            return await asyncio.shield(task)
        completion = await asyncio.shield(task)
        return None if completion is None else replace(completion, usd=0.0, from_cache=True)

    def settle(self, item: Item, attempt: int, temperature: float, completion: Completion, key: str, params: dict,
               last: bool) -> str | None:
        """Parse a completion, compare it with the gold labels and record it; returns the item's final status
        (accepted, or rejected on its last try), or None when it should be tried again hotter."""
        labels = self.recipe.parse_output(completion.text)
        agrees = agreement(labels, item.gold, self.template)
        status = "accepted" if agrees is not False else ("rejected" if last else None)
        records.record_attempt(
            self.ctx.job_id, item.item_id, attempt, temperature, completion, labels, agrees, key,
            {"messages": item.messages, **params}, self.teacher.endpoint, self.teacher.model, status=status,
            error=f"label disagreed with the gold label on {attempt} tries" if status == "rejected" else None,
            db=self.db)
        if status:
            self.done_now += 1
        return status

    # -- the job -------------------------------------------------------------------------------
    def todo(self) -> list[Item]:
        statuses = records.item_statuses(self.ctx.job_id, db=self.db)
        return [i for i in self.items if statuses.get(i.item_id) in ("pending", "failed")]

    def report(self) -> None:
        led = records.ledger(self.ctx.job_id, db=self.db)
        self.ctx.progress(done=led["done"], total=led["items"], accepted=led["accepted"], rejected=led["rejected"],
                          failed=led["failed"], usd=round(led["usd"], 6),
                          possibly_billed_requests=led["possibly_billed_requests"],
                          possibly_billed_usd=round(led["possibly_billed_usd"], 6), input_tokens=led["input_tokens"],
                          output_tokens=led["output_tokens"], cache_hits=led["cache_hits"],
                          agreement_rate=led["agreement_rate"], rate_done=self.done_now, priced=not self.price.free)

    async def run_online(self, todo: list[Item]) -> None:
        client = openai.AsyncOpenAI(base_url=self.teacher.base_url, api_key=require_api_key(self.teacher),
                                    max_retries=0, timeout=self.teacher.timeout_s)
        limiter = RateLimiter(*self.teacher.rate_limits())
        slots = asyncio.Semaphore(self.teacher.concurrency)
        counts = count_chats_tokens([i.messages for i in todo], self.price.encoding) if todo else []
        tasks = [asyncio.create_task(self.process(item, client, limiter, n, slots)) for item, n in zip(todo, counts)]
        pending = set(tasks)
        last = 0.0
        try:
            while pending:
                _, pending = await asyncio.wait(pending, timeout=0.5)
                if time.monotonic() - last > 1.0:
                    self.report()
                    last = time.monotonic()
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()

    def run(self, write_dataset: bool = True) -> dict:
        self.write_output = write_dataset
        if write_dataset:  # a job launched before the name was taken by someone else: fail before paying
            check_output(self.ctx.spec["out"], self.version.recipe)
        with connect() as self.db:  # one connection for the whole job: thousands of small writes
            return self._run()

    def _run(self) -> dict:
        self.attempts_so_far = {r["item_id"]: r["attempts"]
                                for r in records.items_page(self.ctx.job_id, limit=10**9, db=self.db)}
        todo = self.todo()
        rpm, tpm = self.teacher.rate_limits() if self.teacher.provider == "openai" else (None, None)
        self.ctx.log(f"{len(self.items)} items, {len(todo)} to do; teacher {self.teacher.label}; "
                     f"price {self.price.describe()}; client-side limits: {rpm or 'no'} RPM, {tpm or 'no'} TPM; "
                     f"budget {self.budget.limit if self.budget.limit is not None else 'none'} USD, "
                     f"already spent {self.budget.spent:.4f} (worst case)")
        if self.batch:
            from backend.traces.batch import run_batch

            run_batch(self, todo)
        elif self.teacher.provider == "local":
            from backend.traces.local_run import run_local

            run_local(self, todo)
        else:
            asyncio.run(self.run_online(todo))
        self.report()
        led = records.ledger(self.ctx.job_id)
        result = {key: led[key] for key in ("items", "done", "accepted", "rejected", "failed", "pending", "usd",
                                            "possibly_billed_requests", "possibly_billed_usd", "usd_worst_case",
                                            "input_tokens", "output_tokens", "cache_hits", "agreement_rate")}
        result["estimate_usd"] = self.ctx.spec.get("estimate_usd")
        result["price"] = self.price.describe()
        if self.ctx.cancelled:
            return {**result, "stopped": "cancelled"}
        if self.refused:
            raise TeacherRefused(None, f"{self.refused} (stopped after {led['failed']} items failed this way; "
                                       f"{led['pending']} not sent)")
        if led["failed"] and not led["done"] and not led["pending"]:
            raise LabError(f"all {led['failed']} items failed: {led['failed_error']}")
        warnings = []
        if led["failed"]:
            warnings.append(f"{led['failed']} of {led['items']} items failed: {led['failed_error']}")
        if self.stop_reason:
            warnings.append(f"stopped: {self.stop_reason} (spent {led['usd']:.4f} USD, worst case "
                            f"{led['usd_worst_case']:.4f}, of {self.budget.limit} USD; {led['pending']} items not sent)")
            result["stopped"] = self.stop_reason
        if led["possibly_billed_requests"]:
            warnings.append(f"{led['possibly_billed_requests']} timed-out requests possibly billed "
                            f"(up to {led['possibly_billed_usd']:.4f} USD)")
        for warning in warnings:
            self.ctx.warn(warning)
        if warnings:
            result["warning"] = "; ".join(warnings)
        if led["accepted"] and self.write_output:
            out = self.write_dataset(led)
            result["dataset"] = out.ref
        return result

    def write_dataset(self, led: dict):
        frame = prepared_frame(self.version, self.ctx.spec.get("split"), self.ctx.spec.get("limit"))
        rows = {str(r.get("id")): r for r in frame.to_dict(orient="records")}
        out_rows = []
        for item in records.accepted_items(self.ctx.job_id):
            row = dict(rows.get(item["row_id"]) or {})
            if item["per_value"] is not None and self.template.per_field:
                row[self.template.per_field] = item["per_value"]
                row[f"{self.template.per_field}_label"] = json.loads(item["gold"] or "{}").get(f"{self.template.per_field}_label")
                row["id"] = item["item_id"]
            row.update(trace=item["text"], trace_labels=item["labels"], trace_agrees=item["agrees"],
                       trace_teacher=self.teacher.label, trace_template=template_hash(self.template),
                       trace_job=self.ctx.job_id)
            out_rows.append(row)
        with VersionWriter(self.ctx.spec["out"], self.version.recipe, "traces",
                           {"job_id": self.ctx.job_id, "teacher": self.teacher.label, "template": self.template.name,
                            "template_hash": template_hash(self.template)}, parent=self.version) as writer:
            writer.write(pd.DataFrame(out_rows))
            for table in self.version.tables:
                if table != "rows":
                    for batch in iter_batches(self.version, table):
                        writer.write(batch, table=table)
            summary = {"traces": {k: led[k] for k in ("accepted", "rejected", "failed", "usd", "agreement_rate")}}
            splits = Counter(row["split"] for row in out_rows if row.get("split"))
            if splits:  # the rows keep their split column; pages offer splits from the summary
                summary["splits"] = dict(splits)
            return writer.commit(summary=summary)


class TeacherRefused(LabError):
    """The endpoint refused a request in a way no retry fixes (400, 401, 403, 404, 422); the text is its own."""

    def __init__(self, status: int | None, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code

    @property
    def kind(self) -> tuple:
        """What makes two refusals 'the same': the status and the error code; without a code, the message with
        its request ids and numbers blanked (gateways put a fresh request id in every error)."""
        return (self.status, self.code or re.sub(r"[\w-]*\d[\w-]*", "#", str(self)))


def _retry_after(exc) -> float | None:
    """The server's wait in seconds: retry-after-ms, else Retry-After (seconds or an HTTP date)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if headers.get("retry-after-ms") is not None:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError, IndexError):
            return None


def run_trace_job(ctx: JobContext) -> dict:
    return TraceRun(ctx).run()
