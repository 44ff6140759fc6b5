"""RAFT scoring: exact match, token F1 and ROUGE-L of the final `<ANSWER>:` against the reference answers, and
quote faithfulness (the share of quoted spans found in the gold documents)."""
from __future__ import annotations

from backend.metrics.text import answer_scores, quote_faithfulness
from backend.recipes.base import loads_json
from backend.recipes.raft import parse_output

REVIEW_ROWS = 20


def score(rows: list[dict], predictions: list[str]) -> dict:
    parsed = [parse_output(p) for p in predictions]
    references = [loads_json(row.get("answers"), []) or [str(row.get("answer") or "")] for row in rows]
    scores = answer_scores([labels.get("answer") for labels in parsed], references)
    shares = [quote_faithfulness(labels.get("quotes") or [], loads_json(row.get("gold_texts"), []))
              for row, labels in zip(rows, parsed)]
    faithful = [s for s in shares if s is not None]
    return {**scores, "quote_faithfulness": sum(faithful) / len(faithful) if faithful else None,
            "answers_with_quotes": len(faithful)}


def score_predictions(rows: list[dict]) -> dict:
    """A predictions file: the label is one reference answer, or a JSON list of them."""
    references = [(loads_json(row["label"], None) if isinstance(row["label"], str) and row["label"].startswith("[")
                   else None) or [str(row["label"] or "")] for row in rows]
    answers = [parse_output(str(row["predict"] or ""))["answer"] for row in rows]
    return answer_scores(answers, references)


def examples_to_review(predictions: list[dict]) -> list[dict]:
    """The shortest outputs first: a missing or cut-off answer shows there."""
    return sorted(predictions, key=lambda p: len(p["predict"] or ""))[:REVIEW_ROWS]
