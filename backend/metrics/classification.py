"""Classification metrics, written out (no scikit-learn at run time) and checked against it in the tests.

An unparseable prediction (None) is never dropped: it counts as wrong, appears in the confusion
matrix as its own column, and is reported as `unparseable`.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

UNPARSEABLE = "(unparseable)"


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def binary_scores(gold: Sequence[str], pred: Sequence[str | None], positive: str) -> dict:
    """Precision, recall and F1 of one positive class (GuardReasoner: harmful / refusal)."""
    tp = sum(1 for g, p in zip(gold, pred) if g == positive and p == positive)
    fp = sum(1 for g, p in zip(gold, pred) if g != positive and p == positive)
    fn = sum(1 for g, p in zip(gold, pred) if g == positive and p != positive)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"positive": positive, "precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "n": len(gold), "unparseable": sum(1 for p in pred if p is None)}


def classification_report(gold: Sequence[str], pred: Sequence[str | None], labels: Iterable[str] | None = None) -> dict:
    """Accuracy, macro/micro F1, per-class precision/recall/F1/support and the confusion matrix
    (rows: gold, columns: predicted, plus an `(unparseable)` column when any prediction is None)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    labels = list(labels) if labels is not None else sorted({*gold, *(p for p in pred if p is not None)})
    pairs = Counter(zip(gold, pred))
    per_class, tp_all, fp_all, fn_all = {}, 0, 0, 0
    for label in labels:
        tp = pairs[(label, label)]
        fp = sum(n for (g, p), n in pairs.items() if p == label and g != label)
        fn = sum(n for (g, p), n in pairs.items() if g == label and p != label)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        per_class[label] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall), "support": tp + fn}
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
    unparseable = sum(1 for p in pred if p is None)
    columns = labels + ([UNPARSEABLE] if unparseable else [])
    matrix = [[pairs[(g, p if p != UNPARSEABLE else None)] for p in columns] for g in labels]
    micro_p, micro_r = _ratio(tp_all, tp_all + fp_all), _ratio(tp_all, tp_all + fn_all)
    return {
        "n": len(gold),
        "accuracy": _ratio(sum(pairs[(l, l)] for l in labels), len(gold)),
        "macro_f1": _ratio(sum(c["f1"] for c in per_class.values()), len(per_class)),
        "micro_f1": _f1(micro_p, micro_r),
        "per_class": per_class,
        "confusion": {"labels": labels, "columns": columns, "matrix": matrix},
        "unparseable": unparseable,
    }


def weighted_average(scores: Iterable[tuple[float, int]]) -> float:
    """Average of (value, weight) pairs, as GuardReasoner averages F1 over benchmarks by their sizes."""
    scores = list(scores)
    total = sum(w for _, w in scores)
    return _ratio(sum(v * w for v, w in scores), total)
