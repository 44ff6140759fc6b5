"""Generic scoring: with class labels, the prediction's text is the predicted class (accuracy, macro F1, the
confusion matrix); without, ROUGE-L against the response."""
from __future__ import annotations

from backend.metrics.classification import classification_report
from backend.metrics.text import rouge_l


def score(rows: list[dict], predictions: list[str]) -> dict:
    gold = [str(row.get("label")) for row in rows if row.get("label") is not None]
    if not gold:
        return {"n": len(rows), "rouge_l": sum(rouge_l(p, [str(r.get("response") or "")])
                                               for r, p in zip(rows, predictions)) / max(1, len(rows))}
    pred = [p.strip() for row, p in zip(rows, predictions) if row.get("label") is not None]
    return classification_report(gold, pred)


def score_predictions(rows: list[dict]) -> dict:
    """A predictions file: the label and the stripped prediction are the classes."""
    gold = [str(row["label"]) for row in rows]
    predicted = [str(row["predict"]).strip() if row["predict"] is not None else None for row in rows]
    return classification_report(gold, predicted)
