"""How a trace job's money and attempts read to a person (the Traces page shows these; tests check them).

Money: a teacher with no price (a model the price table does not know, served by vLLM, Ollama, llama.cpp;
or a model on this machine) costs nothing, and "$0.00" would read as a measurement. It says
"no price (local model)" instead, and what the same tokens would cost at a reference model of the price
table ("would be $0.0123 at gpt-4o-mini").

Attempts: a reply whose required labels could not be parsed is "unparseable", not a disagreement with the
gold label; the agreement rate is per attempt, accepted items per item, and each says so.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from backend.errors import LabError
from backend.traces.prices import batch_discount, load_table, price_for

NO_PRICE = "no price (local model)"
NO_PRICE_GIVEN = "no price (--price-model none)"
DEFAULT_REFERENCE = "gpt-4o-mini"
AGREES, DISAGREES, UNPARSEABLE = "agrees", "disagrees", "unparseable"


def unpriced_label(source: str | None) -> str:
    """What to show instead of dollars for a teacher that is not priced (Price.source, CostEstimate.price_source)."""
    return NO_PRICE_GIVEN if source == "none" else NO_PRICE


def reference_models(table: dict | None = None) -> list[str]:
    """The price table's models, the default reference first."""
    models = list((table or load_table()).get("models", {}))
    return sorted(models, key=lambda m: m != DEFAULT_REFERENCE)


def reference_usd(reference: str, input_tokens: int, output_tokens: int, batch: bool = False,
                  table: dict | None = None) -> float:
    """What these tokens would cost at `reference`, a price table entry."""
    table = table or load_table()
    return price_for(reference, table).cost(int(input_tokens), int(output_tokens), 0,
                                            batch_discount(table) if batch else 0.0)


@dataclass
class Spend:
    """Dollars of a job or an estimate as a person reads them."""
    priced: bool
    usd: float
    label: str  # "0.0123 USD", or "no price (local model)"
    reference: str | None = None  # the price table entry an unpriced teacher is compared with
    reference_usd: float | None = None

    @property
    def would_be(self) -> str:
        """'would be $0.0123 at gpt-4o-mini' for an unpriced teacher with a reference; else empty."""
        if self.priced or self.reference is None or self.reference_usd is None:
            return ""
        return f"would be ${self.reference_usd:.4f} at {self.reference}"

    @property
    def text(self) -> str:
        return " · ".join(p for p in (self.label, self.would_be) if p)

    def to_json(self) -> dict:
        return {**asdict(self), "would_be": self.would_be, "text": self.text}


def spend(usd: float, priced: bool, input_tokens: int, output_tokens: int, *, source: str | None = None,
          reference: str | None = None, batch: bool = False, digits: int = 4) -> Spend:
    """A Spend from dollars and tokens; for an unpriced teacher, the reference's price of the same tokens."""
    if priced:
        return Spend(True, usd, f"{usd:.{digits}f} USD")
    at = None
    if reference:
        try:
            at = reference_usd(reference, input_tokens, output_tokens, batch)
        except LabError:
            reference = None
    return Spend(False, 0.0, unpriced_label(source), reference, at)


def estimate_spend(estimate, reference: str | None = None, batch: bool | None = None) -> Spend:
    """A CostEstimate's dollars (online, or batch with batch=True; default: the estimate's own choice)."""
    batch = estimate.batch if batch is None else batch
    return spend(estimate.usd_batch if batch else estimate.usd_online, estimate.price_model is not None,
                 estimate.input_tokens, estimate.output_tokens, source=estimate.price_source, reference=reference,
                 batch=batch)


def _job_price(spec: dict):
    from backend.traces.teachers import teacher_from_json

    try:
        return teacher_from_json(spec.get("teacher") or {}).price()
    except (LabError, TypeError):
        return None


def job_spend(job_id: str, reference: str | None = None, led: dict | None = None) -> Spend:
    """What a trace job spent so far, from its ledger; an unpriced teacher's with the reference's price."""
    from backend.jobs import manager
    from backend.traces import records

    spec = manager.spec(job_id)
    led = led if led is not None else records.ledger(job_id)
    price = _job_price(spec)
    priced = price is None or not price.free
    return spend(led["usd"], priced, led["input_tokens"], led["output_tokens"],
                 source=None if price is None else price.source, reference=reference, batch=bool(spec.get("batch")))


# ---- attempts ---------------------------------------------------------------------------------------------

def _json_dict(value) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    return value if isinstance(value, dict) else {}


def verdict(attempt: dict, require, gold: dict | str | None = None) -> str | None:
    """agrees, disagrees, unparseable (a label the check needs could not be parsed from the reply: one the
    template requires, or one the item has a gold value for), or None (nothing to compare with)."""
    if attempt.get("agrees") is None:
        return None
    labels = _json_dict(attempt.get("labels"))
    needed = set(require) | {key for key, value in _json_dict(gold).items() if value is not None}
    if any(labels.get(key) in (None, "", []) for key in needed):
        return UNPARSEABLE
    return AGREES if attempt["agrees"] else DISAGREES


def job_require(job_id: str) -> tuple[str, ...]:
    """The parsed keys a trace job's template requires."""
    from backend.jobs import manager

    template = manager.spec(job_id).get("template") or {}
    return tuple(template.get("require") or ())


def attempts_with_verdicts(job_id: str, item_id: str) -> list[dict]:
    """An item's attempts, each with its `verdict`."""
    from backend.traces import records

    from backend.storage.db import connect

    require = job_require(job_id)
    with connect() as db:
        item = next(iter(db.query("SELECT gold FROM trace_items WHERE job_id = ? AND item_id = ?",
                                  [job_id, item_id])), {})
    return [{**a, "verdict": verdict(a, require, item.get("gold"))} for a in records.attempts_of(job_id, item_id)]


def agreement_summary(job_id: str, led: dict | None = None) -> dict:
    """Attempts by verdict (the agreement rate is per attempt) and items by outcome (accepted is per item),
    with a sentence that says which is which."""
    from backend.storage.db import connect
    from backend.traces import records

    led = led if led is not None else records.ledger(job_id)
    require = job_require(job_id)
    counts = {AGREES: 0, DISAGREES: 0, UNPARSEABLE: 0}
    with connect() as db:
        for row in db.query("SELECT a.agrees, a.labels, i.gold FROM trace_attempts a JOIN trace_items i "
                            "ON i.job_id = a.job_id AND i.item_id = a.item_id "
                            "WHERE a.job_id = ? AND a.agrees IS NOT NULL", [job_id]):
            counts[verdict(row, require, row["gold"])] += 1
    attempts = sum(counts.values())
    rate = counts[AGREES] / attempts if attempts else None
    per_attempt = ("agreement per attempt: -" if rate is None else
                   f"agreement per attempt: {rate:.0%} ({counts[AGREES]:,} of {attempts:,} attempts agreed with "
                   f"the gold label, {counts[DISAGREES]:,} disagreed, {counts[UNPARSEABLE]:,} unparseable)")
    per_item = f"accepted per item: {led['accepted']:,} of {led['items']:,} items"
    return {"attempts": attempts, "agreed": counts[AGREES], "disagreed": counts[DISAGREES],
            "unparseable": counts[UNPARSEABLE], "agreement_per_attempt": rate, "items": led["items"],
            "accepted_items": led["accepted"], "text": f"{per_item}; {per_attempt}"}
