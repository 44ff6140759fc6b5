"""`python -m backend eval ...`: score predictions and models with the papers' metrics."""
from __future__ import annotations

import argparse

from backend.cli import add_executor_options, add_json_flag, slurm_options_from, emit, emit_job


def cmd_predictions(args):
    from backend.commands.data import _kv
    from backend.evaluation.predictions import prediction_options, score_predictions
    from backend.metrics.classification import weighted_average

    options = {name: getattr(args, name) for name in prediction_options()}
    results = [score_predictions(f, args.recipe, mapping=_kv(args.map, "--map") or None, **options)
               for f in args.files]
    result = results[0] if len(results) == 1 else {"files": results}
    if len(results) > 1:  # GuardReasoner's benchmark average: weighted by each file's rows
        for key in ("f1", "accuracy", "macro_f1", "token_f1"):
            if all(key in r for r in results):
                result[f"weighted_{key}"] = weighted_average((r[key], r.get("weight", r["n"])) for r in results)

    def line(r: dict) -> str:
        if "f1" in r:
            return (f"{r.get('task', '')} F1 {r['f1']:.2f}  precision {r['precision']:.2f}  recall {r['recall']:.2f}  "
                    f"n {r['n']}  unparseable {r['unparseable']}  ({r.get('mode', 'ours')})  {r['file']}")
        if "accuracy" in r:
            return f"accuracy {r['accuracy']:.4f}  macro F1 {r['macro_f1']:.4f}  n {r['n']}  unparseable {r['unparseable']}  {r['file']}"
        return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items())

    emit(args, result, lambda: "\n".join([line(r) for r in results] + [
        f"{k}: {v:.4f}" for k, v in result.items() if k.startswith("weighted_")]))


def cmd_run(args):
    from backend.evaluation.runner import EvalRequest, launch_evaluation
    from backend.traces.teachers import Teacher

    teacher = Teacher(model=args.teacher, base_url=args.base_url, api_key_env=args.api_key_env,
                      price_model=args.price_model, concurrency=args.concurrency, rpm=args.rpm, tpm=args.tpm,
                      timeout_s=args.timeout) if args.teacher else None
    job = launch_evaluation(EvalRequest(
        dataset=args.dataset, split=args.split, train_job=args.run, checkpoint=args.checkpoint,
        base_model=args.base_model, adapter=args.adapter, teacher=teacher, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, batch_size=args.batch_size, limit=args.limit, budget_usd=args.budget_usd),
        slurm_options=slurm_options_from(args))
    return emit_job(args, job)


def cmd_list(args):
    from backend.evaluation.runner import list_evaluations

    rows = list_evaluations(dataset=args.dataset, train_job=args.run)
    emit(args, {"evaluations": rows}, lambda: "\n".join(
        f"{r['id']}  {r['dataset']:22} {r['model_label'][:40]:40} {r['headline']} {r['headline_value']}" for r in rows)
        or "no evaluations yet")


def cmd_show(args):
    from backend.evaluation.runner import load_results

    results, predictions = load_results(args.eval_id)
    payload = {**results, "predictions": predictions[: args.rows]}
    emit(args, payload, lambda: json_text(results))


def json_text(results: dict) -> str:
    import json

    return json.dumps({k: v for k, v in results.items() if k != "row"}, indent=2, default=str)


def register(groups: argparse._SubParsersAction) -> None:
    from backend.evaluation.predictions import prediction_options, prediction_recipes

    ev = groups.add_parser("eval", help="evaluation: score predictions files and models",
                           description="Evaluation with the papers' metrics.")
    sub = ev.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("predictions", help="score predictions files made elsewhere (LLaMA-Factory, CSV, JSONL); "
                                           "several files: per file and their row-weighted average")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--recipe", required=True, choices=prediction_recipes())
    for option, recipes in prediction_options().values():  # the options the recipes' scoring declares
        help_text = f"{', '.join(recipes)}: {option.help}"
        if option.is_flag:
            p.add_argument(option.flag, dest=option.name, action="store_true", help=help_text)
        else:
            p.add_argument(option.flag, dest=option.name, choices=option.choices, help=help_text)
    p.add_argument("--map", nargs="*", metavar="FIELD=COLUMN", help="label=gold predict=output prompt=input")
    add_json_flag(p)
    p.set_defaults(func=cmd_predictions)

    p = sub.add_parser("run", help="evaluate a model (a training run, base + adapter) or a teacher as a job")
    p.add_argument("dataset")
    p.add_argument("--split", help="split to score (default: every *test* split, else all rows)")
    p.add_argument("--run", help="training job id whose model to evaluate")
    p.add_argument("--checkpoint", help="checkpoint-N, final (default) or all (score each, name the best)")
    p.add_argument("--base-model", help="a base model folder or cached id (a baseline)")
    p.add_argument("--adapter", help="a LoRA adapter folder on top of --base-model")
    p.add_argument("--teacher", help="a teacher model name (with --base-url for compatible endpoints)")
    p.add_argument("--base-url")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY")
    p.add_argument("--price-model", metavar="NAME|none", help="teacher: bill as this price table entry, or 'none' "
                                                               "(default: the model's name; unknown models are free)")
    p.add_argument("--concurrency", type=int, default=16, help="teacher: requests in flight")
    p.add_argument("--rpm", type=int, help="teacher: requests per minute (default auto: OpenAI's tier default on "
                                           "api.openai.com, none elsewhere; 0 = no limit)")
    p.add_argument("--tpm", type=int, help="teacher: tokens per minute (default auto; 0 = no limit)")
    p.add_argument("--timeout", type=float, default=120.0, help="teacher: seconds per request")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int)
    p.add_argument("--budget-usd", type=float)
    p.add_argument("--wait", action="store_true")
    add_executor_options(p)
    add_json_flag(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("list", help="evaluations with their headline metric")
    p.add_argument("--dataset")
    p.add_argument("--run", help="only this training job's")
    add_json_flag(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="an evaluation's metrics and predictions")
    p.add_argument("eval_id")
    p.add_argument("--rows", type=int, default=20)
    add_json_flag(p)
    p.set_defaults(func=cmd_show)
