"""`python -m backend traces ...`: teacher templates, cost estimates, trace generation jobs."""
from __future__ import annotations

import argparse

from backend.errors import LabError
from backend.cli import add_executor_options, add_json_flag, slurm_options_from, emit, emit_job


def _teachers(args):
    """One Teacher per --teacher: `estimate` takes several (a list), `run` one (a string, never its letters)."""
    from backend.traces.teachers import Teacher

    names = [args.teacher] if isinstance(args.teacher, str) else list(args.teacher)
    return [Teacher(model=m, base_url=args.base_url, provider=args.provider, api_key_env=args.api_key_env,
                    price_model=args.price_model, concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm,
                    timeout_s=args.timeout)
            for m in names]


def _limits(e) -> str:
    return "no client-side limit" if not (e.rpm or e.tpm) else \
        ", ".join(f"{v:,} {n}" for n, v in (("RPM", e.rpm), ("TPM", e.tpm)) if v)


def cmd_estimate(args):
    from backend.traces.estimate import estimate_cost

    estimates = estimate_cost(args.dataset, _teachers(args), template=args.template, include_gold=not args.no_gold,
                              split=args.split, limit=args.limit, output_tokens=args.output_tokens,
                              pilot_job=args.pilot_job, batch=args.batch, cached_input_fraction=args.cached_fraction)
    first = estimates[0]
    payload = {"requests": first.requests, "input_tokens": first.input_tokens, "output_tokens": first.output_tokens,
               "usd": first.usd, "price": first.price, "price_model": first.price_model,
               "estimates": [e.to_json() for e in estimates]}

    def text():
        lines = [f"{'TEACHER':32} {'REQUESTS':>9} {'INPUT TOK':>12} {'OUTPUT TOK':>12} {'USD':>10} {'USD BATCH':>10} {'MINUTES':>8}"]
        for e in estimates:
            lines.append(f"{e.teacher[:32]:32} {e.requests:>9,} {e.input_tokens:>12,} {e.output_tokens:>12,} "
                         f"{e.usd_online:>10.4f} {e.usd_batch:>10.4f} {e.minutes:>8.1f}{'  <- cheapest' if e.cheapest else ''}")
        for e in estimates:
            lines.append(f"{e.teacher}: price {e.price}; {_limits(e)}, so limited by {e.limited_by}")
        lines.append(f"prices as of {first.prices_as_of}; output tokens: {first.output_tokens_source}")
        return "\n".join(lines)

    emit(args, payload, text)


def cmd_run(args):
    from backend.traces.engine import TraceRequest, launch_traces
    from backend.traces.estimate import estimate_cost
    from backend.traces.records import ledger

    teacher = _teachers(args)[0]
    request = TraceRequest(dataset=args.dataset, teacher=teacher, template=args.template,
                           include_gold=not args.no_gold, split=args.split, limit=args.limit,
                           temperature=args.temperature, max_tokens=args.max_tokens, budget_usd=args.budget_usd,
                           max_rejects=args.max_rejects, batch=args.batch, batch_poll_s=args.batch_poll, out=args.out)
    estimate = estimate_cost(args.dataset, [teacher], template=args.template, include_gold=not args.no_gold,
                             split=args.split, limit=args.limit, batch=args.batch)[0]
    job = launch_traces(request, estimate_usd=estimate.usd, slurm_options=slurm_options_from(args))

    def when_done(done) -> dict:
        led = ledger(done.id)
        result = done.result or {}
        return {**{k: led[k] for k in ("done", "failed", "rejected", "accepted", "pending", "input_tokens",
                                       "output_tokens", "usd", "possibly_billed_requests", "possibly_billed_usd",
                                       "usd_worst_case", "agreement_rate")},
                "dataset": result.get("dataset"), "stopped": result.get("stopped"), "message": done.message,
                "status_line": done.status_line}

    return emit_job(args, job, {"estimate_usd": estimate.usd, "price": estimate.price}, when_done)


def cmd_templates(args):
    from backend.traces.templates import template_entries, template_to_json

    templates = [{**template_to_json(e["template"]), "owner": e["owner"], "shared": e["shared"], "builtin": e["builtin"]}
                 for e in template_entries(args.recipe)]  # built-ins, yours, and the ones others share
    emit(args, {"templates": templates}, lambda: "\n\n".join(
        f"{t['name']} ({t['hash']}): {t['description']}\n--- system ---\n{t['system']}\n--- user ---\n{t['user']}"
        for t in templates))


def cmd_items(args):
    from backend.jobs.manager import get
    from backend.traces.records import attempts_of, items_page, ledger

    job = get(args.job_id)  # NotFound for an unknown id
    if job.kind not in ("traces", "eval"):  # a teacher evaluation keeps its requests as trace items too
        raise LabError(f"job {job.id} is a {job.kind} job: it has no teacher requests")
    items = items_page(args.job_id, status=args.status, limit=args.limit)
    payload = {"ledger": ledger(args.job_id), "items": items}
    if args.item:
        payload["attempts"] = attempts_of(args.job_id, args.item)
    emit(args, payload, lambda: "\n".join(
        [str(payload["ledger"])] + [f"{i['item_id']:24} {i['status']:9} agrees={i['agrees']} {str(i['labels'])[:80]}" for i in items]))


def cmd_prices(args):
    from backend.traces.prices import load_table

    table = load_table()
    emit(args, table, lambda: f"as of {table['as_of']} (USD per 1M tokens: input / cached / output)\n" + "\n".join(
        f"{m:14} {p['input']:>7} / {p.get('cached_input') if p.get('cached_input') is not None else '-':>6} / {p['output']:>6}  {p.get('encoding')}"
        for m, p in table["models"].items()))


def _teacher_options(p: argparse.ArgumentParser, many: bool) -> None:
    p.add_argument("--teacher", required=True, action="append" if many else None,
                   type=str, help="model name (repeat to compare)" if many else "model name, or a local model folder")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp); default OpenAI")
    p.add_argument("--provider", choices=["openai", "local"], default="openai")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the key")
    p.add_argument("--price-model", metavar="NAME|none",
                   help="bill as this price table entry, or 'none' for nothing ('free' also works); default: the "
                        "model's own name, and a model not in the table is free (except on OpenAI's endpoint)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rpm", type=int, default=None,
                   help="requests per minute (default auto: OpenAI's tier default on api.openai.com, no client-side "
                        "limit elsewhere, where the server's 429 and Retry-After pace the job; 0 = no limit)")
    p.add_argument("--tpm", type=int, default=None, help="tokens per minute (default auto, as --rpm; 0 = no limit)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--template", help="template name (see `traces templates RECIPE`)")
    p.add_argument("--split", help="only this split")
    p.add_argument("--limit", type=int, help="only the first N rows")
    p.add_argument("--no-gold", action="store_true", help="do not show the teacher the gold label")
    p.add_argument("--batch", action="store_true", help="OpenAI Batch API (50%% off)")


def register(groups: argparse._SubParsersAction) -> None:
    traces = groups.add_parser("traces", help="teacher traces: templates, estimate, run",
                               description="Reasoning traces from a teacher LLM, with the cost known first.")
    sub = traces.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("estimate", help="cost and time before running, per teacher side by side")
    p.add_argument("dataset")
    _teacher_options(p, many=True)
    p.add_argument("--output-tokens", type=float, help="expected output tokens per request")
    p.add_argument("--pilot-job", help="measure output tokens from this finished trace job")
    p.add_argument("--cached-fraction", type=float, default=0.0, help="share of input billed at the cached rate")
    add_json_flag(p)
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("run", help="generate traces as a background job")
    p.add_argument("dataset")
    _teacher_options(p, many=False)
    p.add_argument("--budget-usd", type=float, help="stop before spending more than this")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--max-tokens", type=int, help="output cap per request")
    p.add_argument("--max-rejects", type=int, default=2, help="retries when the label disagrees with the gold one")
    p.add_argument("--batch-poll", type=float, default=30.0, help="seconds between batch status checks")
    p.add_argument("--out", help="output dataset name (default DATASET-traces)")
    p.add_argument("--wait", action="store_true", help="wait for the job and print its result")
    add_executor_options(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("templates", help="the teacher prompt templates of a recipe")
    p.add_argument("recipe")
    add_json_flag(p)
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("items", help="browse a trace job's items (accepted, rejected, failed) and attempts")
    p.add_argument("job_id")
    p.add_argument("--status", choices=["pending", "accepted", "rejected", "failed"])
    p.add_argument("--item", help="also list every attempt of this item")
    p.add_argument("--limit", type=int, default=50)
    add_json_flag(p)
    p.set_defaults(func=cmd_items)

    p = sub.add_parser("prices", help="the price table in use (edit state/prices.json or on the Traces page)")
    add_json_flag(p)
    p.set_defaults(func=cmd_prices)
