"""`python -m backend data ...`: import, browse, curate, split, check and export datasets."""
from __future__ import annotations

import argparse

from backend.cli import add_json_flag, emit
from backend.errors import LabError
from backend.jobs.status import ENDED, JobStatus


def _kv(pairs: list[str] | None, what: str, cast=str) -> dict:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LabError(f"{what}: expected KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = cast(value.strip())
        except ValueError:
            raise LabError(f"{what}: {key} needs a number, got {value!r}") from None
    return out


def _version_json(dv, **extra) -> dict:
    return {"dataset": dv.dataset, "version": dv.version, "ref": dv.ref, "recipe": dv.recipe, "rows": dv.rows,
            "content_hash": dv.content_hash, "parent": dv.parent, **extra}


def cmd_list(args):
    from backend.data.store import list_datasets

    datasets = list_datasets()
    payload = {"datasets": [{"name": d["name"], "recipe": d["recipe"], "owner": d["owner"], "latest": d["latest"],
                             "rows": d["rows"], "versions": [
                                 {"version": v["version"], "rows": v["rows"], "operation": v["operation"],
                                  "content_hash": v["content_hash"], "parent": v["parent"]} for v in d["versions"]]}
                            for d in datasets]}

    def text():
        if not datasets:
            return "no datasets yet: try `python -m backend data demo`"
        lines = [f"{'NAME':24} {'RECIPE':10} {'VERSION':>7} {'ROWS':>9}  LAST OPERATION"]
        for d in datasets:
            last = d["versions"][-1] if d["versions"] else {}
            lines.append(f"{d['name']:24} {d['recipe']:10} {d['latest'] or '-':>7} {d['rows']:>9}  {last.get('operation', '')}")
        return "\n".join(lines)

    emit(args, payload, text)


def cmd_demo(args):
    from backend.data.demo import create_demo_datasets

    created = create_demo_datasets(force=args.force, seed=args.seed)
    emit(args, {"created": [_version_json(v) for v in created]},
         lambda: "\n".join(f"created {v.ref} ({v.recipe}, {v.rows} rows)" for v in created) or "demo datasets already exist")


def _declared(declarations, name) -> dict:
    """{name: (the recipes that declare it, the declaration)} over every recipe; `declarations(recipe)` gives a
    recipe's declarations (import options, filter flags), `name(declaration)` the key they share."""
    from backend.recipes import RECIPES

    found: dict = {}
    for recipe in RECIPES.values():
        for declaration in declarations(recipe):
            owners, _ = found.setdefault(name(declaration), ([], declaration))
            owners.append(recipe.name)
    return found


def _import_options() -> dict:
    """{option name: (the recipes that take it, the ImportOption)}: each becomes a flag of `data import`."""
    return _declared(lambda r: r.importer.options if r.importer else (), lambda option: option.name)


def cmd_import(args):
    from backend.data.importers import import_dataset, import_notes
    from backend.data.importers.normalise import BadLabels
    from backend.recipes.importing import OptionNeeded

    options = {name: getattr(args, name) for name in _import_options()}
    try:
        dv = import_dataset(args.recipe, args.name, args.paths, on_bad_label=args.on_bad_label,
                            mapping=_kv(args.map, "--map") or None, description=args.description, **options)
    except BadLabels as exc:  # the backend names no flag; the CLI says which one
        raise LabError(exc.with_hint("choose --on-bad-label drop or keep")) from None
    except OptionNeeded as exc:
        choices = "|".join(_import_options()[exc.option][1].choices)
        raise LabError(exc.with_hint(f"with --{exc.option} {choices}")) from None
    emit(args, _version_json(dv, summary=dv.summary),
         lambda: "\n".join([f"imported {dv.ref}: {dv.rows} rows (hash {dv.content_hash})",
                            *(f"  {note}" for note in import_notes(dv.summary))]))


def cmd_show(args):
    from backend.data.store import load_frame, resolve

    dv = resolve(args.name)
    frame = load_frame(dv).head(args.rows)
    emit(args, _version_json(dv, columns=dv.columns, tables=dv.tables, operation=dv.operation, params=dv.params,
                             summary=dv.summary, sample=frame.to_dict(orient="records")),
         lambda: f"{dv.ref} [{dv.recipe}] {dv.rows} rows, {dv.operation} {dv.params}\n{frame.to_string(max_colwidth=40)}")


def _filter_flags() -> dict:
    """{flag: (the recipes whose curate filter takes it, the FilterFlag)}: each becomes a flag of `data filter`."""
    return _declared(lambda r: r.curate_filter.flags if r.curate_filter else (), lambda flag: flag.flag)


def _flag_dest(flag: str) -> str:
    return "filter_" + flag.lstrip("-").replace("-", "_")


def _filter_settings(curate, args) -> dict:
    """The curate filter's settings from its flags (pairs and ranges always set, as empty or open)."""
    settings: dict = {}
    for flag in curate.flags:
        value = getattr(args, _flag_dest(flag.flag))
        if flag.kind == "pairs":
            settings[flag.setting] = _kv(value, flag.flag, float)
        elif flag.kind == "range":
            settings.update(zip(flag.setting, _range(value, flag.flag)))
        elif value is not None:
            settings[flag.setting] = value
    return settings


def cmd_filter(args):
    from backend.data.filters import filter_rows, parse_where
    from backend.data.store import resolve
    from backend.recipes import get_recipe

    source = resolve(args.name)
    curate = get_recipe(source.recipe).curate_filter
    sliders = curate.make(**_filter_settings(curate, args)) if curate else None
    given = [flag for flag in _filter_flags() if getattr(args, _flag_dest(flag)) not in (None, [])]
    if given and not (curate and set(given) <= {f.flag for f in curate.flags}):
        owners = sorted({name for flag in given for name in _filter_flags()[flag][0]})
        raise LabError(f"{', '.join(given)} apply to {', '.join(owners)} datasets only; {source.ref} is "
                       f"{source.recipe} (use --where)")
    dv = filter_rows(source.ref, [parse_where(w) for w in args.where or []], args.out, sliders=sliders)
    emit(args, _version_json(dv, kept=dv.rows, of=source.rows),
         f"{dv.ref}: kept {dv.rows} of {source.rows} rows from {source.ref}")


def _range(text: str | None, flag: str) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    lo, sep, hi = text.partition("-")
    try:
        return (int(lo), int(hi)) if sep else (int(lo), int(lo))
    except ValueError:
        raise LabError(f"{flag}: expected A-B (e.g. 1-3), got {text!r}") from None


def cmd_dedup(args):
    from backend.data.dedup import dedup

    dv, report = dedup(args.name, out=args.out)
    emit(args, _version_json(dv, total=report.total, kept=report.kept, removed=report.removed, groups=report.groups,
                             examples=report.examples),
         f"{dv.ref}: removed {report.removed} duplicates ({report.groups} groups), kept {report.kept} of {report.total}")


def cmd_split(args):
    from backend.data.splits import parse_ratios, split_dataset

    if not args.preset and not args.ratios:
        raise LabError("give --preset NAME or --ratios (e.g. 0.8,0.1,0.1)")
    dv = split_dataset(args.name, ratios=parse_ratios(args.ratios) if args.ratios else None, stratify=args.stratify,
                       group=args.group, seed=args.seed, preset=args.preset)
    splits = dv.summary.get("splits", {})
    emit(args, _version_json(dv, splits=splits, balance=dv.summary.get("balance", {})),
         lambda: f"{dv.ref}: " + ", ".join(f"{k} {v}" for k, v in splits.items()))


def cmd_leakage(args):
    from backend.retrieval.leakage import launch_leakage

    job = launch_leakage(args.name, a=args.a, b=args.b, threshold=args.threshold, max_pairs=args.max_pairs,
                         gpus=args.gpus)
    if not args.wait:
        emit(args, {"job_id": job.id, "status": job.status},
             f"queued job {job.id}: {job.title} (follow it with `python -m backend jobs show {job.id}`; "
             f"--wait waits for the report)")
        return 0
    job = _wait_showing_progress(job.id, quiet=args.quiet)
    report = job.result or {}
    payload = {"job_id": job.id, "status": job.status, "error": job.error, **report}

    def text():
        if job.status != JobStatus.SUCCEEDED or "exact" not in report:
            return f"job {job.id} {job.status}: {job.error or 'see its log (`python -m backend jobs log ' + job.id + '`)'}"
        lines = [f"{report['exact']} exact and {report['near']} near-duplicate pairs between {report['a']} and "
                 f"{report['b']} (threshold {report['threshold']}; {report['embedded']} texts embedded, "
                 f"{report['cached']} from the cache)"]
        for p in report["pairs"][:20]:
            lines.append(f"  [{p['kind']} {p['score']:.3f}] {p['a_id']} <-> {p['b_id']}: {p['a_text'][:60]!r} | "
                         f"{p['b_text'][:60]!r}")
        return "\n".join(lines)

    emit(args, payload, text)
    return 0 if job.status == JobStatus.SUCCEEDED and "exact" in report else 1


def _wait_showing_progress(job_id: str, quiet: bool = False, poll: float = 0.5):
    """manager.wait, printing the job's progress records to stderr (stdout stays one JSON object)."""
    import sys
    import time

    from backend.jobs import manager
    from backend.jobs.executor import executor_for

    shown = None
    while True:
        manager.reconcile()
        job = manager.get(job_id)
        progress = job.progress or {}
        if not quiet and progress and progress.get("ts") != shown:
            shown = progress.get("ts")
            pace = f", {progress['rows_per_s']:,.1f} rows/s" if progress.get("rows_per_s") else ""
            eta = f", ETA {progress['eta_s']:,.0f} s" if progress.get("eta_s") is not None else ""
            print(f"[{progress.get('phase', job.status)}] {progress.get('done', 0):,} of {progress.get('total', 0):,}"
                  f"{pace}{eta}", file=sys.stderr, flush=True)
        if job.status in ENDED:
            return job
        if job.status == JobStatus.QUEUED:
            executor_for(job.executor).schedule()
        time.sleep(poll)


def cmd_export(args):
    from backend.training.sft_export import export_dataset

    result = export_dataset(args.name, args.format, args.out, split=args.split)
    emit(args, result.to_json(), f"wrote {result.rows} rows as {result.format} to {result.path} ({result.bytes} bytes)")


def cmd_stats(args):
    from backend.training.sft_export import token_length_stats

    stats = token_length_stats(args.name, encoding=args.encoding, max_seq_length=args.max_seq_length, split=args.split)
    emit(args, stats, lambda: (f"{stats['rows']} rows, tokens mean {stats['mean']:.0f}, p50 {stats['p50']}, "
                               f"p95 {stats['p95']}, max {stats['max']}; {stats['over']} rows "
                               f"({stats['over_pct']:.1f}%) longer than {stats['max_seq_length']}"))


def cmd_delete(args):
    from backend.data.store import delete_dataset

    n = delete_dataset(args.name)
    emit(args, {"deleted": args.name, "versions": n}, f"deleted {args.name} ({n} versions)")


def register(groups: argparse._SubParsersAction) -> None:
    from backend.recipes import RECIPES

    data = groups.add_parser("data", help="datasets: import, curate, split, check, export",
                             description="Datasets: import, curate, split, check and export.")
    sub = data.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        add_json_flag(p)
        p.set_defaults(func=func)
        return p

    command("list", cmd_list, "list datasets with their versions and row counts")

    demos = ", ".join(recipe.demo.dataset for recipe in RECIPES.values() if recipe.demo)
    p = command("demo", cmd_demo, f"create the demo datasets ({demos})")
    p.add_argument("--force", action="store_true", help="import them again as new versions")
    p.add_argument("--seed", type=int, default=0, help="random seed for the generated data")

    p = command("import", cmd_import, "import files as a new dataset version")
    p.add_argument("--recipe", required=True, choices=list(RECIPES), help="which workflow the data is for")
    p.add_argument("--name", required=True, help="dataset name (a new version if it exists)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to import")
    p.add_argument("--on-bad-label", choices=["error", "drop", "keep"], default="error",
                   help="labels outside a column's choices (OrgAccess's release has 37 spellings): error (default: "
                        "stop and list them), drop those rows, or keep them as found (seed 003's split uses every row)")
    for name, (owners, option) in _import_options().items():
        p.add_argument(f"--{name}", dest=name, choices=list(option.choices),
                       help=f"{', '.join(owners)}: {option.cli_help}")
    p.add_argument("--map", nargs="*", metavar="COLUMN=SOURCE",
                   help=f"{', '.join(r.name for r in RECIPES.values() if r.importer and r.importer.mapping_box)}: "
                        "map recipe columns onto source columns, e.g. prompt=question response=answer")
    p.add_argument("--description", help="free text shown in the dashboard")

    p = command("show", cmd_show, "show a dataset version's facts and first rows")
    p.add_argument("name", help="NAME or NAME@VERSION")
    p.add_argument("--rows", type=int, default=5, help="how many rows to show")

    p = command("filter", cmd_filter, "keep the rows that pass the filters, as a new dataset")
    p.add_argument("name", help="source dataset, NAME or NAME@VERSION")
    p.add_argument("--out", required=True, help="name of the new dataset")
    for name, (owners, flag) in _filter_flags().items():  # each recipe's curate filter
        shape = {"number": {"type": float}, "choice": {"choices": list(flag.choices)}, "pairs": {"nargs": "*"},
                 "range": {}}[flag.kind]
        metavar = flag.metavar or name.lstrip("-").replace("-", "_").upper()
        p.add_argument(name, dest=_flag_dest(name), metavar=metavar, help=f"{', '.join(owners)}: {flag.help}", **shape)
    p.add_argument("--where", nargs="*", metavar="EXPR",
                   help="any recipe: label=harmful, label!=x, 'difficulty in easy,medium', prompt_len>=20, "
                        "score<=0.9, prompt~bomb (contains)")

    p = command("dedup", cmd_dedup, "drop exact duplicates (normalised text), keeping the first")
    p.add_argument("name")
    p.add_argument("--out", help="new dataset name (default: a new version of the same dataset)")

    p = command("split", cmd_split, "assign rows to splits (a new version with a `split` column)")
    p.add_argument("name")
    presets = [preset for recipe in RECIPES.values() for preset in recipe.split_presets]
    p.add_argument("--preset", choices=[preset.name for preset in presets],
                   help="a recipe's published split, which sets its own ratios and groups: "
                        + " ".join(f"{preset.name}: {preset.description}" for preset in presets).replace("%", "%%"))
    p.add_argument("--ratios", help="0.8,0.1,0.1 (train/validation/test) or train=0.7,test=0.3")
    p.add_argument("--stratify", help="label column to stratify by (default: the recipe's label)")
    p.add_argument("--group", help="split separately within each value of this column (e.g. difficulty)")
    p.add_argument("--seed", type=int, default=0)

    p = command("leakage", cmd_leakage, "find exact and near-duplicate pairs between two splits, as a background job")
    p.add_argument("name")
    p.add_argument("--a", default="train", help="first split (default train)")
    p.add_argument("--b", help="second split (default: every test/validation split)")
    p.add_argument("--threshold", type=float, default=0.9, help="cosine similarity for near duplicates")
    p.add_argument("--max-pairs", type=int, default=200)
    p.add_argument("--gpus", type=int, default=0, help="embed on a GPU (the job waits for a free one)")
    p.add_argument("--wait", action="store_true", help="wait for the job and print its report")
    p.add_argument("--quiet", action="store_true", help="with --wait: no progress on stderr")

    p = command("export", cmd_export, "write SFT data in a training format")
    p.add_argument("name")
    p.add_argument("--format", required=True,
                   choices=["tinyllama", "mistral", "llama3", "messages-jsonl", "messages-parquet", "openai-jsonl",
                            "raft-jsonl"])
    p.add_argument("--out", required=True, help="output file (.csv or .jsonl for the text formats)")
    p.add_argument("--split", help="only this split")

    p = command("stats", cmd_stats, "token lengths of the chat-formatted rows against a max sequence length")
    p.add_argument("name")
    p.add_argument("--encoding", default="o200k_base", help="o200k_base, cl100k_base or a local tokenizer folder")
    p.add_argument("--max-seq-length", type=int, default=2048)
    p.add_argument("--split")

    p = command("delete", cmd_delete, "delete a dataset and all its versions")
    p.add_argument("name")
