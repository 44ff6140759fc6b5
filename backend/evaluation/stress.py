"""RAFT's distractor stress test: the same questions with extra retrieved (BM25) non-gold documents mixed
into their context, to see whether the answers survive them."""
from __future__ import annotations

import json
import random
import re

import numpy as np
import pandas as pd
from rank_bm25 import BM25Okapi

from backend.data.store import DatasetVersion, load_frame
from backend.errors import LabError
from backend.recipes import get_recipe
from backend.recipes.base import loads_json

_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


def with_distractors(frame: pd.DataFrame, version: DatasetVersion, k: int, seed: int = 0) -> pd.DataFrame:
    """Each row's context: its gold documents plus the k best BM25 matches that are not gold, shuffled."""
    documents = get_recipe(version.recipe).documents_table
    if documents is None or documents not in version.tables:
        raise LabError(f"{version.ref} has no documents table: the distractor stress test needs the corpus")
    docs = load_frame(version, documents, columns=["doc_id", "text"])
    index = BM25Okapi([_words(t) for t in docs["text"]])
    ids, texts = docs["doc_id"].tolist(), docs["text"].tolist()
    rng = random.Random(seed)
    contexts = []
    for row in frame.to_dict(orient="records"):
        gold = set(loads_json(row.get("gold_documents"), []))
        ranked = np.argsort(-index.get_scores(_words(row.get("query") or "")), kind="stable")
        extra = [texts[i] for i in ranked if ids[i] not in gold][:k]
        context = loads_json(row.get("gold_texts"), []) + extra
        rng.shuffle(context)
        contexts.append(json.dumps(context, ensure_ascii=False))
    out = frame.copy()
    out["context_texts"] = contexts
    return out
