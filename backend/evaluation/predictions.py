"""Score a predictions file made elsewhere: LLaMA-Factory's generated_predictions.jsonl
({"prompt", "label", "predict"} per line), or CSV / JSONL / JSON with a column mapping."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from backend.errors import DataError, LabError
from backend.evaluation import guard as guard_scoring
from backend.evaluation.metrics import classification_report
from backend.evaluation.text import answer_scores
from backend.recipes import get_recipe
from backend.recipes.base import loads_json
from backend.recipes.orgaccess import LABELS as ORGACCESS_LABELS

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


def _gold_word(label, parse, key: str, words: tuple[str, ...]):
    if isinstance(label, str) and label.strip().lower() in words:
        return label.strip().lower()
    return parse(label or "").get(key) if isinstance(label, str) else None


def score_predictions(path: str | Path, recipe: str, *, task: str | None = None, paper_compatible: bool = False,
                      mapping: dict[str, str] | None = None) -> dict:
    rows = read_predictions(path, mapping)
    r = get_recipe(recipe)
    if recipe == "guard":
        task = task or "prompt"
        if paper_compatible:
            return {"file": str(path), **guard_scoring.paper_compatible(rows, task)}
        key, _, _ = guard_scoring.task_of(task)
        words = ("harmful", "unharmful", "refusal", "compliance")
        gold = [_gold_word(row["label"], r.parse_output, key, words) for row in rows]
        predicted = [r.parse_output(str(row["predict"] or "")).get(key) for row in rows]
        return {"file": str(path), "task": task, "mode": "ours", **guard_scoring.score_task(gold, predicted, task)}
    if paper_compatible:
        raise LabError("--paper-compatible reproduces GuardReasoner's scoring: it applies to the guard recipe only")
    if recipe == "orgaccess":
        gold = [_gold_word(row["label"], r.parse_output, "expected_response", ORGACCESS_LABELS) for row in rows]
        kept = [(g, row) for g, row in zip(gold, rows) if g is not None]
        predicted = [r.parse_output(str(row["predict"] or ""))["expected_response"] for _, row in kept]
        return {"file": str(path), **classification_report([g for g, _ in kept], predicted, ORGACCESS_LABELS),
                "skipped_without_gold": len(rows) - len(kept)}
    if recipe == "raft":
        references = [(loads_json(row["label"], None) if isinstance(row["label"], str) and row["label"].startswith("[")
                       else None) or [str(row["label"] or "")] for row in rows]
        answers = [r.parse_output(str(row["predict"] or ""))["answer"] for row in rows]
        return {"file": str(path), **answer_scores(answers, references)}
    gold = [str(row["label"]) for row in rows]
    predicted = [str(row["predict"]).strip() if row["predict"] is not None else None for row in rows]
    return {"file": str(path), **classification_report(gold, predicted)}


def score_predictions_upload(name: str, stream, recipe: str, **options) -> dict:
    """The Evaluate page's upload: the file saved under the uploads folder (its own name kept, so its type
    is read from the extension), then score_predictions on it with the same options as
    `python -m backend eval predictions` (task, paper_compatible, mapping)."""
    from backend.data.uploads import new_upload_dir, save_upload

    return score_predictions(save_upload(new_upload_dir(), name, stream), recipe, **options)


def as_results(scored: dict, recipe: str) -> dict:
    """score_predictions' answer in the shape of an evaluation's results (headline, headline_value, metrics),
    so the same result views show both."""
    from backend.evaluation.scoring import HEADLINES

    if "task" in scored and "f1" in scored:  # guard: one task's F1, harmful / refusal positive (x 100)
        headline = f"{scored['task']}_f1"
        value = scored["f1"]
    else:
        headline = HEADLINES.get(recipe, "accuracy")
        value = scored.get(headline)
    return {"headline": headline, "headline_value": value, "metrics": {**scored, headline: value}, "recipe": recipe}
