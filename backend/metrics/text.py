"""Free-text answer metrics for RAFT: exact match and token F1 (SQuAD's normalisation), ROUGE-L, and quote
faithfulness (the share of `##begin_quote##` spans that really occur in the oracle documents)."""
from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SPACE = re.compile(r"\s+")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalise_answer(text: str) -> str:
    text = (text or "").lower().translate(_PUNCT)
    return _SPACE.sub(" ", _ARTICLES.sub(" ", text)).strip()


def exact_match(prediction: str, references: list[str]) -> float:
    guess = normalise_answer(prediction)
    return float(any(guess == normalise_answer(r) for r in references))


def _token_f1(guess: list[str], truth: list[str]) -> float:
    common = sum((Counter(guess) & Counter(truth)).values())
    if not guess or not truth:
        return float(guess == truth)
    if not common:
        return 0.0
    precision, recall = common / len(guess), common / len(truth)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, references: list[str]) -> float:
    """The best token-overlap F1 against any reference."""
    guess = normalise_answer(prediction).split()
    return max((_token_f1(guess, normalise_answer(r).split()) for r in references), default=0.0)


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, references: list[str]) -> float:
    """ROUGE-L F-measure on lower-cased word tokens, the best over the references."""
    guess = (prediction or "").lower().split()
    best = 0.0
    for reference in references:
        truth = (reference or "").lower().split()
        lcs = _lcs(guess, truth) if guess and truth else 0
        if lcs:
            precision, recall = lcs / len(guess), lcs / len(truth)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def quote_faithfulness(quotes: list[str], oracle_documents: list[str]) -> float | None:
    """Share of quoted spans found (whitespace-normalised) in an oracle document; None without quotes."""
    if not quotes:
        return None
    haystack = [_SPACE.sub(" ", d).strip().lower() for d in oracle_documents]
    found = sum(1 for q in quotes if any(_SPACE.sub(" ", q).strip().lower() in d for d in haystack))
    return found / len(quotes)


def answer_scores(answers: list[str | None], references: list[list[str]]) -> dict:
    """Mean exact match, token F1 and ROUGE-L of parsed answers (None: unparseable, scored as empty)."""
    n = max(1, len(answers))
    filled = [a or "" for a in answers]
    return {"n": len(answers),
            "exact_match": sum(exact_match(a, r) for a, r in zip(filled, references)) / n,
            "token_f1": sum(token_f1(a, r) for a, r in zip(filled, references)) / n,
            "rouge_l": sum(rouge_l(a, r) for a, r in zip(filled, references)) / n,
            "unparseable": sum(1 for a in answers if a is None)}
