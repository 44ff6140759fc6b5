"""SAIGE scoring: ROUGE-L of the model's response against the stored AI response."""
from __future__ import annotations

from backend.metrics.text import rouge_l


def score(rows: list[dict], predictions: list[str]) -> dict:
    return {"n": len(rows), "rouge_l": sum(rouge_l(p, [str(r.get("ai_response") or "")])
                                           for r, p in zip(rows, predictions)) / max(1, len(rows))}
