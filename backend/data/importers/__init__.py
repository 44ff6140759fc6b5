"""Importers: the files each recipe's users bring -> a new, immutable dataset version.

    from backend.data.importers import import_dataset, SUPPORTED
    version = import_dataset("orgaccess", "orgaccess", ["data/easy-00000-of-00001.parquet"], on_bad_label="drop")

Each recipe's importer (`Recipe.importer`, the code in backend/recipes/<name>/importer.py) reads its
layouts and hands rows to an `ImportRun`, which normalises them to the recipe's columns and writes
them in batches through a `VersionWriter`; any error discards the half-built version, so nothing is
ever half-imported.
"""
from __future__ import annotations

from pathlib import Path

from backend.data.importers.normalise import BAD_LABEL_POLICIES, check_mapping
from backend.data.importers.pipeline import ImportRun
from backend.data.store import DatasetVersion, VersionWriter, resolve, validate_name
from backend.errors import LabError, NotFound
from backend.recipes import RECIPES, Recipe, get_recipe

SUPPORTED: dict[str, str] = {r.name: r.importer.description for r in RECIPES.values() if r.importer}


def _check_target(name: str, recipe: str) -> None:
    """Fail before reading anything when the dataset exists under another recipe."""
    validate_name(name)
    try:
        existing = resolve(name)
    except NotFound:
        return
    if existing.recipe != recipe:
        raise LabError(f"dataset {name!r} already exists with recipe {existing.recipe!r}, not {recipe!r}")


def _check_options(spec: Recipe, options: dict[str, str | None]) -> dict[str, str]:
    """The import options given (None = not given), checked against the ones the recipe declares."""
    given = {key: value for key, value in options.items() if value is not None}
    for key, value in given.items():
        option = spec.importer.option(key)
        if option is None:
            owners = [(r, r.importer.option(key)) for r in RECIPES.values() if r.importer and r.importer.option(key)]
            if not owners:
                raise LabError(f"no recipe takes an import option {key!r}")
            where = " or ".join(f"{r.name}'s {o.applies_to}" for r, o in owners)
            raise LabError(f"a {key} applies to {where}, not to recipe {spec.name!r}")
        if value not in option.choices:
            raise LabError(f"{key} must be one of {', '.join(option.choices)}, not {value!r}")
    return given


def import_dataset(recipe: str, name: str, paths: list[str | Path], *, on_bad_label: str = "error",
                   mapping: dict[str, str] | None = None, description: str | None = None,
                   **options: str | None) -> DatasetVersion:
    """Read `paths` with the recipe's importer into a new version of dataset `name`.

    on_bad_label: what to do with labels outside a column's choices: "error" (stop and list them),
    "drop" (leave those rows out) or "keep" (store them as found). mapping: {recipe column: source
    column} for recipes whose importer `accepts_mapping` (free-form columns). options: the recipe's
    `ImportOption`s by name (e.g. task="prompt"); None or absent lets the importer infer them.
    """
    spec = get_recipe(recipe)
    importer = spec.importer
    if importer is None:
        raise LabError(f"recipe {recipe!r} has no importer")
    if on_bad_label not in BAD_LABEL_POLICIES:
        raise LabError(f"on_bad_label must be one of {', '.join(BAD_LABEL_POLICIES)}, not {on_bad_label!r}")
    given = _check_options(spec, options)
    mapping = check_mapping(spec, mapping)
    if mapping and not importer.accepts_mapping:
        raise LabError(f"recipe {recipe!r} reads a fixed layout; a column mapping does not apply")
    sources = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not sources:
        raise LabError("no input files given")
    _check_target(name, spec.name)
    params = {"files": [], "on_bad_label": on_bad_label, "mapping": mapping, **given}
    with VersionWriter(name, spec.name, "import", params, description=description) as writer:
        run = ImportRun(spec, writer, on_bad_label, params["files"],
                        options={option.name: given.get(option.name) for option in importer.options})
        importer.read(run, sources, mapping)
        return writer.commit(summary=run.finish())


def import_notes(summary: dict) -> list[str]:
    """What an import decided that a user should see: benchmark tasks, rows without gold, skipped files."""
    notes = []
    for file, info in (summary.get("benchmarks") or {}).items():
        how = "inferred from the file name" if info.get("inferred") else "as given"
        notes.append(f"{file}: task {info['task']} ({how}); {info['without_gold']} of {info['rows']} rows "
                     "without gold")
    for file, why in (summary.get("skipped") or {}).items():
        notes.append(f"{file}: skipped, it {why}")
    for given, found in (summary.get("resolved_loosely") or {}).items():
        notes.append(f"gold document {given!r} matched documents/{found}.txt")
    for column, counts in (summary.get("bad_labels") or {}).items():
        notes.append(f"{sum(counts.values())} rows with {column} outside the allowed values "
                     f"({len(counts)} distinct: {', '.join(list(counts)[:8])}{' ...' if len(counts) > 8 else ''})")
    if summary.get("dropped"):
        notes.append(f"{summary['dropped']} rows dropped")
    return notes


__all__ = ["SUPPORTED", "import_dataset", "import_notes"]
