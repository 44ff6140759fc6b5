"""OpenAI Batch API mode: write the batch JSONL, upload it, create the batch, poll, fetch, merge.

The batch id is saved in the job folder the moment the batch exists, so a cancelled or killed job
resumes by polling the same batch: nothing is submitted, or paid for, twice. Items whose label
disagrees with the gold one go into a further round at a higher temperature.
"""
from __future__ import annotations

import json
import time

import openai

from backend.errors import LabError
from backend.traces import records
from backend.traces.records import Completion, cache_key
from backend.traces.teachers import body_message, require_api_key
from backend.traces.tokens import count_chats_tokens

TERMINAL = ("completed", "failed", "expired", "cancelled")


def _round_file(run, round_no: int):
    return run.ctx.artifacts / f"batch_round_{round_no}.json"


def run_batch(run, todo) -> None:
    if run.teacher.provider != "openai":
        raise LabError("batch mode needs an OpenAI-compatible endpoint with the Batch API")
    client = openai.OpenAI(base_url=run.teacher.base_url, api_key=require_api_key(run.teacher), max_retries=3,
                           timeout=run.teacher.timeout_s)
    base_temperature = float(run.ctx.spec.get("temperature", 0.0))
    step = float(run.ctx.spec.get("reject_temperature_step", 0.3))
    max_rounds = int(run.ctx.spec.get("max_rejects", 2)) + 1
    by_id = {i.item_id: i for i in run.items}
    round_no = 1
    while round_no <= max_rounds:
        saved = _round_file(run, round_no)
        state = json.loads(saved.read_text()) if saved.exists() else None
        if state is None:
            todo = [i for i in todo if not run.ctx.cancelled]
            if not todo:
                return
            temperature = min(2.0, base_temperature + step * (round_no - 1))
            state = _submit_round(run, client, todo, temperature, round_no)
            if state is None:
                return
        remaining = _collect_round(run, client, state, by_id, round_no, final=round_no == max_rounds)
        if remaining is None:  # cancelled while waiting
            return
        todo = [by_id[i] for i in remaining]
        round_no += 1


def _submit_round(run, client, todo, temperature: float, round_no: int) -> dict | None:
    params = run.params(temperature)
    lines, cached_ids = [], []
    counts = count_chats_tokens([i.messages for i in todo], run.price.encoding)
    worst = 0.0
    for item, tokens in zip(todo, counts):
        key = cache_key(run.teacher.endpoint, run.teacher.model, item.messages, params)
        if records.cached_completion(key, db=run.db):
            cached_ids.append(item.item_id)
            continue
        worst += run.cost(tokens, params["max_tokens"])
        lines.append(json.dumps({"custom_id": item.item_id, "method": "POST", "url": "/v1/chat/completions",
                                 "body": {"model": run.teacher.model, "messages": item.messages, **params}},
                                ensure_ascii=False))
    if lines and not run.budget.try_reserve(worst):
        run.stop_reason = "budget"
        run.ctx.log(f"batch round {round_no} would cost up to {worst:.4f} USD, past the budget; not submitted")
        return None
    state = {"round": round_no, "temperature": temperature, "params": params, "items": [i.item_id for i in todo],
             "cached": cached_ids, "reserved_usd": worst, "batch_id": None}
    if lines:
        path = run.ctx.artifacts / f"batch_round_{round_no}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        uploaded = client.files.create(file=path.open("rb"), purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                      completion_window="24h", metadata={"job_id": run.ctx.job_id})
        state["batch_id"] = batch.id
        run.ctx.log(f"batch round {round_no}: {len(lines)} requests submitted as {batch.id}")
    _round_file(run, round_no).write_text(json.dumps(state))
    return state


def _collect_round(run, client, state: dict, by_id: dict, round_no: int, final: bool) -> list[str] | None:
    params = state["params"]
    results: dict[str, Completion] = {}
    if state["batch_id"]:
        poll = float(run.ctx.spec.get("batch_poll_s", 30.0))
        while True:
            batch = client.batches.retrieve(state["batch_id"])
            counts = batch.request_counts
            run.ctx.progress(done=getattr(counts, "completed", 0) or 0, total=getattr(counts, "total", 0) or 0,
                             batch_status=batch.status, round=round_no)
            if batch.status in TERMINAL:
                break
            if run.ctx.cancelled:
                run.ctx.log(f"cancelled while batch {batch.id} is {batch.status}; resume will keep polling it")
                return None
            time.sleep(poll)
        if batch.status != "completed" or not (batch.output_file_id or batch.error_file_id):
            errors = "; ".join(e.message for e in ((batch.errors.data or []) if batch.errors else []) if e.message)
            raise LabError(f"batch {batch.id} ended {batch.status}" + (f": {errors}" if errors else ""))
        if batch.error_file_id:  # requests the endpoint refused: failed items, with the server's own message
            for line in client.files.content(batch.error_file_id).text.splitlines():
                if line.strip():
                    record = json.loads(line)
                    response = record.get("response") or {}
                    message = body_message(response.get("body")) or body_message(record.get("error")) or "no reply"
                    records.finish_item(run.ctx.job_id, record.get("custom_id", "?"), "failed",
                                        error=f"{response.get('status_code', '?')} from the teacher "
                                              f"({run.teacher.label}): {message}")
        content = client.files.content(batch.output_file_id).text if batch.output_file_id else ""
        for line in content.splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            body = ((record.get("response") or {}).get("body")) or {}
            try:
                choice, usage = body["choices"][0], body["usage"]
                cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
                results[record["custom_id"]] = Completion(
                    choice["message"]["content"], choice.get("finish_reason"), usage["prompt_tokens"],
                    usage["completion_tokens"], cached, run.cost(usage["prompt_tokens"], usage["completion_tokens"], cached))
            except (KeyError, IndexError, TypeError):
                records.finish_item(run.ctx.job_id, record.get("custom_id", "?"), "failed",
                                    error=f"batch result without a completion: {record.get('error')}")
    run.budget.settle(state["reserved_usd"], sum(c.usd for c in results.values()))
    statuses = records.item_statuses(run.ctx.job_id, db=run.db)
    attempts = {r["item_id"]: r["attempts"] for r in records.items_page(run.ctx.job_id, limit=10**9, db=run.db)}
    again = []
    for item_id in state["items"]:
        if statuses.get(item_id) in ("accepted", "rejected", "failed"):
            continue
        if attempts.get(item_id, 0) >= round_no:  # merged before a restart; it disagreed, so it goes round again
            again.append(item_id)
            continue
        item = by_id[item_id]
        key = cache_key(run.teacher.endpoint, run.teacher.model, item.messages, params)
        cached = records.cached_completion(key, db=run.db)
        completion = cached or results.get(item_id)
        if completion is None:
            continue
        if not run.settle(item, round_no, state["temperature"], completion, key, params, last=final):
            again.append(item_id)
    return again
