"""Our metrics equal scikit-learn's on random labels, unparseable predictions included."""
import random

import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from backend.metrics.classification import UNPARSEABLE, binary_scores, classification_report, weighted_average

LABELS = ["full", "partial", "rejected"]


@pytest.mark.parametrize("seed", range(8))
def test_report_equals_sklearn(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 300)
    gold = [rng.choice(LABELS) for _ in range(n)]
    pred = [rng.choice(LABELS + [None]) if rng.random() < 0.9 else None for _ in range(n)]
    report = classification_report(gold, pred, LABELS)
    filled = [p if p is not None else UNPARSEABLE for p in pred]
    assert report["accuracy"] == pytest.approx(accuracy_score(gold, filled))
    assert report["macro_f1"] == pytest.approx(f1_score(gold, filled, labels=LABELS, average="macro", zero_division=0))
    assert report["micro_f1"] == pytest.approx(f1_score(gold, filled, labels=LABELS, average="micro", zero_division=0))
    p, r, f, s = precision_recall_fscore_support(gold, filled, labels=LABELS, zero_division=0)
    for i, label in enumerate(LABELS):
        assert report["per_class"][label] == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]})
    columns = report["confusion"]["columns"]
    expected = confusion_matrix(gold, filled, labels=columns)[: len(LABELS)]
    assert report["confusion"]["matrix"] == expected.tolist()
    assert report["unparseable"] == pred.count(None)


@pytest.mark.parametrize("seed", range(5))
def test_binary_f1_equals_sklearn(seed):
    rng = random.Random(seed)
    gold = [rng.choice(["harmful", "unharmful"]) for _ in range(200)]
    pred = [rng.choice(["harmful", "unharmful", None]) for _ in range(200)]
    filled = [p or "x" for p in pred]
    scores = binary_scores(gold, pred, "harmful")
    assert scores["f1"] == pytest.approx(f1_score(gold, filled, labels=["harmful"], average="macro", zero_division=0))
    assert scores["unparseable"] == pred.count(None)


def test_weighted_average():
    assert weighted_average([(80.0, 100), (60.0, 300)]) == pytest.approx(65.0)
    assert weighted_average([]) == 0.0
