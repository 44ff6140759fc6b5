"""Exact deduplication on normalised text: the first occurrence of each text stays."""
from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from backend.data import store
from backend.data.curate import derive_version
from backend.data.store import DatasetVersion
from backend.errors import LabError
from backend.recipes import get_recipe

MAX_EXAMPLES = 20
MAX_IDS_PER_EXAMPLE = 20
MAX_EXAMPLE_CHARS = 300
# Joins the normalised columns of a row; normalise_text removes it from inside a text (str.split treats it
# as whitespace), so ("a b", "c") and ("a", "b c") stay different keys.
COLUMN_SEPARATOR = "\x1f"


@dataclass
class DedupReport:
    total: int
    kept: int
    removed: int
    groups: int  # texts that occur more than once
    examples: list[dict]  # up to 20 groups: kept_id, removed_ids (up to 20), removed_count, text

    def to_json(self) -> dict:
        return asdict(self)


def normalise_text(text: object) -> str:
    """NFKC, casefold, whitespace runs to one space, punctuation stripped from both ends. Missing -> ''."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    folded = " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())
    start, end = 0, len(folded)
    while start < end and _is_edge(folded[start]):
        start += 1
    while end > start and _is_edge(folded[end - 1]):
        end -= 1
    return folded[start:end]


def _is_edge(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


def dedup(ref: str, out: str | None = None, columns: list[str] | None = None) -> tuple[DatasetVersion, DedupReport]:
    """Drop rows whose normalised text (the recipe's text columns, or `columns`) repeats an earlier row's.
    The result is a new version of `out` (default: the same dataset); the report is its summary."""
    source = store.resolve(ref)
    store.check_output(out or source.dataset, source.recipe)  # the output name, before any work
    columns = list(columns or get_recipe(source.recipe).text_columns)
    if not columns:
        raise LabError(f"dedup of {source.ref}: name the columns to compare (its columns: {', '.join(source.columns)})")
    missing = [c for c in columns if c not in source.columns]
    if missing:
        raise LabError(f"dedup of {source.ref}: no column(s) {', '.join(map(repr, missing))}; "
                       f"its columns are {', '.join(source.columns)}")
    has_id = "id" in source.columns
    frame = store.load_frame(source, columns=[c for c in source.columns if c in columns or (has_id and c == "id")])
    keys = [COLUMN_SEPARATOR.join(normalise_text(v) for v in values)
            for values in zip(*(frame[c].tolist() for c in columns))]
    codes, _ = pd.factorize(np.array(keys, dtype=object))  # codes count up in order of first appearance
    counts = np.bincount(codes)
    first = np.zeros(len(codes), dtype=bool)
    first[np.unique(codes, return_index=True)[1]] = True
    ids = frame["id"].tolist() if has_id else list(range(1, len(frame) + 1))
    report = DedupReport(
        total=len(frame), kept=int(first.sum()), removed=int(len(frame) - first.sum()),
        groups=int((counts > 1).sum()), examples=_examples(codes, counts, keys, ids),
    )
    version = derive_version(source, out or source.dataset, "dedup", {"columns": columns},
                             np.flatnonzero(first), report.to_json())
    return version, report


def _examples(codes: np.ndarray, counts: np.ndarray, keys: list[str], ids: list) -> list[dict]:
    examples = []
    for code in np.flatnonzero(counts > 1)[:MAX_EXAMPLES]:
        positions = np.flatnonzero(codes == code)
        examples.append({
            "kept_id": ids[positions[0]],
            "removed_ids": [ids[p] for p in positions[1:MAX_IDS_PER_EXAMPLE + 1]],
            "removed_count": int(len(positions) - 1),
            "text": keys[positions[0]].replace(COLUMN_SEPARATOR, "\n")[:MAX_EXAMPLE_CHARS],
        })
    return examples
