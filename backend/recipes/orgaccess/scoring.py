"""OrgAccess scoring: accuracy, macro F1 and the 3-class confusion matrix (full / partial / rejected), overall and
per difficulty."""
from __future__ import annotations

from collections import defaultdict

from backend.metrics.classification import classification_report
from backend.recipes.orgaccess import LABELS, parse_output
from backend.recipes.scoring import gold_word


def score(rows: list[dict], predictions: list[str]) -> dict:
    gold = [row.get("expected_response") for row in rows]
    pred = [parse_output(p).get("expected_response") for p in predictions]
    out = classification_report(gold, pred, LABELS)
    groups = defaultdict(list)
    for i, row in enumerate(rows):
        groups[row.get("difficulty") or "(none)"].append(i)
    out["by_difficulty"] = {name: classification_report([gold[i] for i in idx], [pred[i] for i in idx], LABELS)
                            for name, idx in sorted(groups.items())}
    return out


def score_predictions(rows: list[dict]) -> dict:
    """A predictions file: the gold label is a bare class word or a `Response type:` text; rows without one
    are skipped and counted."""
    gold = [gold_word(row["label"], parse_output, "expected_response", LABELS) for row in rows]
    kept = [(g, row) for g, row in zip(gold, rows) if g is not None]
    predicted = [parse_output(str(row["predict"] or ""))["expected_response"] for _, row in kept]
    return {**classification_report([g for g, _ in kept], predicted, LABELS),
            "skipped_without_gold": len(rows) - len(kept)}
