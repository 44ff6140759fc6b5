"""Score a predictions file made elsewhere: LLaMA-Factory's generated_predictions.jsonl
({"prompt", "label", "predict"} per line), or CSV / JSONL / JSON with a column mapping."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from backend.errors import DataError, LabError
from backend.recipes import RECIPES, get_recipe
from backend.recipes.scoring import PredictionOption

FIELDS = ("prompt", "label", "predict")


def read_predictions(path: str | Path, mapping: dict[str, str] | None = None) -> list[dict]:
    """Rows with keys prompt / label / predict (mapping: our name -> the file's column)."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file", file=str(path))
    columns = {name: (mapping or {}).get(name, name) for name in FIELDS}
    try:
        if path.suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as f:
                raw = list(csv.DictReader(f))
        elif path.suffix == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
        else:
            raw = []
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, start=1):
                    if line.strip():
                        try:
                            raw.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise DataError(f"invalid JSON on line {number} ({exc.msg})", file=path.name, row=number) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", file=path.name) from None
    if not raw:
        raise DataError("the file has no rows", file=path.name)
    rows = []
    for number, record in enumerate(raw, start=1):
        if not isinstance(record, dict):
            raise DataError("expected an object per row", file=path.name, row=number)
        for name in ("label", "predict"):
            if columns[name] not in record:
                raise DataError(f"missing column {columns[name]!r} (map it with --map {name}=COLUMN)",
                                file=path.name, row=number, field=columns[name])
        rows.append({name: record.get(columns[name]) for name in FIELDS})
    return rows


def prediction_recipes() -> list[str]:
    """The recipes that can score a predictions file (the CLI's --recipe choices, the Evaluate page's box)."""
    return [name for name, recipe in RECIPES.items() if recipe.scorer and recipe.scorer.predictions_file]


def prediction_options() -> dict[str, tuple[PredictionOption, list[str]]]:
    """Every option any recipe's predictions-file scoring takes, with the recipes that take it."""
    found: dict[str, tuple[PredictionOption, list[str]]] = {}
    for name in prediction_recipes():
        for option in RECIPES[name].scorer.prediction_options:
            found.setdefault(option.name, (option, []))[1].append(name)
    return found


def score_predictions(path: str | Path, recipe: str, *, mapping: dict[str, str] | None = None, **options) -> dict:
    """Score a predictions file with the recipe's scoring; `options` are its `prediction_options` (None or False:
    not given). An option the recipe does not take is refused."""
    rows = read_predictions(path, mapping)
    scorer = get_recipe(recipe).scorer
    if scorer is None or not scorer.predictions_file:
        raise LabError(f"recipe {recipe!r} cannot score a predictions file; choose one of "
                       f"{', '.join(prediction_recipes())}")
    for name, value in options.items():
        if value not in (None, False) and scorer.option(name) is None:
            takers = prediction_options().get(name, (None, []))[1]
            raise LabError(f"--{name.replace('_', '-')} applies to the {' / '.join(takers)} recipe only" if takers
                           else f"predictions scoring has no option {name!r}")
    given = {name: value for name, value in options.items() if scorer.option(name) is not None}
    return {"file": str(path), **scorer.score_predictions(rows, **given)}


def score_predictions_upload(name: str, stream, recipe: str, **options) -> dict:
    """The Evaluate page's upload: the file saved under the uploads folder (its own name kept, so its type
    is read from the extension), then score_predictions on it with the same options as
    `python -m backend eval predictions` (the recipe's prediction options, mapping)."""
    from backend.data.uploads import new_upload_dir, save_upload

    return score_predictions(save_upload(new_upload_dir(), name, stream), recipe, **options)


def as_results(scored: dict, recipe: str) -> dict:
    """score_predictions' answer in the shape of an evaluation's results (headline, headline_value, metrics),
    so the same result views show both."""
    if "task" in scored and "f1" in scored:  # one task's F1 (a recipe's `task` option), its positive class x 100
        headline = f"{scored['task']}_f1"
        value = scored["f1"]
    else:
        headline = get_recipe(recipe).scorer.headline
        value = scored.get(headline)
    return {"headline": headline, "headline_value": value, "metrics": {**scored, headline: value}, "recipe": recipe}
