"""What a trace job keeps in SQLite: the completions cache, its items and every attempt.

A paid completion is written to the cache and to `trace_attempts` in one transaction the moment it
arrives, so a killed job loses at most the requests in flight and a re-run never pays twice.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from typing import Iterator

import sqlite_utils

from backend.storage.db import connect, now_iso, transaction


@contextlib.contextmanager
def _using(db: sqlite_utils.Database | None) -> Iterator[sqlite_utils.Database]:
    """The job process passes its one long-lived connection; the dashboard opens a short one per call."""
    if db is not None:
        yield db
    else:
        with connect() as fresh:
            yield fresh


@dataclass
class Completion:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    usd: float = 0.0
    from_cache: bool = False


def cache_key(endpoint: str, model: str, messages: list[dict], params: dict) -> str:
    payload = json.dumps({"endpoint": endpoint, "model": model, "messages": messages, "params": params},
                         sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def cached_completion(key: str, db: sqlite_utils.Database | None = None) -> Completion | None:
    with _using(db) as db:
        row = next(iter(db.query("SELECT * FROM completions WHERE key = ?", [key])), None)
    if row is None:
        return None
    return Completion(row["text"], row["finish_reason"], row["prompt_tokens"], row["completion_tokens"],
                      row["cached_tokens"], 0.0, from_cache=True)


def register_items(job_id: str, items, db: sqlite_utils.Database | None = None) -> None:
    now = now_iso()
    with _using(db) as db, transaction(db):
        db.conn.executemany(
            "INSERT OR IGNORE INTO trace_items (job_id, item_id, row_id, per_value, status, gold, updated_at) "
            "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
            [(job_id, i.item_id, i.row_id, i.per_value, json.dumps(i.gold), now) for i in items])


def item_statuses(job_id: str, db: sqlite_utils.Database | None = None) -> dict[str, str]:
    with _using(db) as db:
        return {r["item_id"]: r["status"] for r in db.query("SELECT item_id, status FROM trace_items WHERE job_id = ?", [job_id])}


def record_attempt(job_id: str, item_id: str, attempt: int, temperature: float, completion: Completion,
                   labels: dict, agrees: bool | None, key: str, request: dict, endpoint: str, model: str, *,
                   status: str | None = None, error: str | None = None,
                   db: sqlite_utils.Database | None = None) -> None:
    """Store the completion (cache + attempt) and, with `status`, the item's outcome, in one transaction."""
    now = now_iso()
    with _using(db) as db, transaction(db):
        if not completion.from_cache:
            db.conn.execute(
                "INSERT OR IGNORE INTO completions (key, endpoint, model, request, text, finish_reason, prompt_tokens, "
                "cached_tokens, completion_tokens, usd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, endpoint, model, json.dumps(request, ensure_ascii=False), completion.text,
                 completion.finish_reason, completion.prompt_tokens, completion.cached_tokens,
                 completion.completion_tokens, completion.usd, now))
        db.conn.execute(
            "INSERT INTO trace_attempts (job_id, item_id, attempt, temperature, text, labels, agrees, cache_key, cached, "
            "prompt_tokens, completion_tokens, usd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, item_id, attempt, temperature, completion.text, json.dumps(labels), _flag(agrees), key,
             int(completion.from_cache), completion.prompt_tokens, completion.completion_tokens,
             0.0 if completion.from_cache else completion.usd, now))
        db.conn.execute("UPDATE trace_items SET attempts = ?, updated_at = ? WHERE job_id = ? AND item_id = ?",
                        (attempt, now, job_id, item_id))
        if status:
            _set_outcome(db, job_id, item_id, status, completion.text, labels, agrees, error)


def _set_outcome(db, job_id, item_id, status, text, labels, agrees, error) -> None:
    db.conn.execute(
        "UPDATE trace_items SET status = ?, text = ?, labels = ?, agrees = ?, error = ?, updated_at = ? "
        "WHERE job_id = ? AND item_id = ?",
        (status, text, json.dumps(labels) if labels is not None else None, _flag(agrees), error, now_iso(),
         job_id, item_id))


def finish_item(job_id: str, item_id: str, status: str, text: str | None = None, labels: dict | None = None,
                agrees: bool | None = None, error: str | None = None, db: sqlite_utils.Database | None = None) -> None:
    with _using(db) as db, transaction(db):
        _set_outcome(db, job_id, item_id, status, text, labels, agrees, error)


def record_possibly_billed(job_id: str, item_id: str, key: str | None, reason: str, prompt_tokens: int,
                           max_tokens: int, usd: float, db: sqlite_utils.Database | None = None) -> None:
    """A request we gave up on (a timeout on our side) that the provider may still have run and billed: it
    counts at its worst-case cost in the ledger's possibly-billed columns and against the budget."""
    with _using(db) as db, transaction(db):
        db.conn.execute(
            "INSERT INTO trace_possibly_billed (job_id, item_id, cache_key, reason, prompt_tokens, max_tokens, usd, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, item_id, key, reason, prompt_tokens, max_tokens, usd, now_iso()))


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def ledger(job_id: str, db: sqlite_utils.Database | None = None) -> dict:
    """Requests, tokens and dollars of one job, from its attempts (paid ones only count toward usd). Requests
    that timed out on our side are `possibly_billed_requests` at their worst-case `possibly_billed_usd`;
    `usd_worst_case` adds them to `usd` (what the budget cap counts)."""
    with _using(db) as db:
        spend = next(iter(db.query(
            "SELECT COUNT(*) attempts, COALESCE(SUM(1 - cached), 0) paid_requests, COALESCE(SUM(cached), 0) cache_hits, "
            "COALESCE(SUM(CASE WHEN cached = 0 THEN prompt_tokens END), 0) input_tokens, "
            "COALESCE(SUM(CASE WHEN cached = 0 THEN completion_tokens END), 0) output_tokens, "
            "COALESCE(SUM(usd), 0) usd FROM trace_attempts WHERE job_id = ?", [job_id])))
        counts = {r["status"]: r["n"] for r in db.query(
            "SELECT status, COUNT(*) n FROM trace_items WHERE job_id = ? GROUP BY status", [job_id])}
        agreement = next(iter(db.query(
            "SELECT COUNT(*) n, COALESCE(SUM(agrees), 0) agreed FROM trace_attempts WHERE job_id = ? AND agrees IS NOT NULL",
            [job_id])))
        possibly = next(iter(db.query(
            "SELECT COUNT(*) n, COALESCE(SUM(usd), 0) usd FROM trace_possibly_billed WHERE job_id = ?", [job_id])))
        errors = [r["error"] for r in db.query(
            "SELECT error, COUNT(*) n FROM trace_items WHERE job_id = ? AND status = 'failed' AND error IS NOT NULL "
            "GROUP BY error ORDER BY n DESC LIMIT 1", [job_id])]
    total = sum(counts.values())
    return {**spend, "possibly_billed_requests": possibly["n"], "possibly_billed_usd": possibly["usd"],
            "usd_worst_case": spend["usd"] + possibly["usd"], "failed_error": errors[0] if errors else None,
            "items": total, "accepted": counts.get("accepted", 0), "rejected": counts.get("rejected", 0),
            "failed": counts.get("failed", 0), "pending": counts.get("pending", 0),
            "done": counts.get("accepted", 0) + counts.get("rejected", 0),
            "agreement_rate": agreement["agreed"] / agreement["n"] if agreement["n"] else None}


def items_page(job_id: str, status: str | None = None, limit: int = 50, offset: int = 0, db: sqlite_utils.Database | None = None) -> list[dict]:
    sql = "SELECT * FROM trace_items WHERE job_id = ?" + (" AND status = ?" if status else "") + \
          " ORDER BY item_id LIMIT ? OFFSET ?"
    params = [job_id] + ([status] if status else []) + [limit, offset]
    with _using(db) as db:
        return list(db.query(sql, params))


def attempts_of(job_id: str, item_id: str, db: sqlite_utils.Database | None = None) -> list[dict]:
    with _using(db) as db:
        return list(db.query("SELECT * FROM trace_attempts WHERE job_id = ? AND item_id = ? ORDER BY id",
                             [job_id, item_id]))


def accepted_items(job_id: str, db: sqlite_utils.Database | None = None) -> list[dict]:
    with _using(db) as db:
        return list(db.query("SELECT * FROM trace_items WHERE job_id = ? AND status = 'accepted' ORDER BY item_id",
                             [job_id]))
