"""RAFT training examples (arXiv 2403.10131): each question with its oracle document(s) in a fraction P of
examples and k distractors (hard negatives from a retrieval index, or random documents), shuffled.

The instruction wraps each document in <DOCUMENT>...</DOCUMENT> and ends with the question; the chain-of-
thought answer is then written by a teacher through the trace engine (`traces run DATASET --template cot`),
with the same estimate, cache and budget as every other trace job.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field, replace

import pandas as pd

from backend.data.store import VersionWriter, check_output, iter_batches, load_frame, resolve
from backend.errors import LabError
from backend.recipes.base import loads_json
from backend.recipes import get_recipe
from backend.recipes.raft import EXAMPLES_SUMMARY_KEY, instruction, parse_output
from backend.validation import SEED, Range, check_fields


@dataclass
class RaftBuildRequest:
    dataset: str = field(metadata={"help": "a raft dataset (queries + documents table)"})
    index: str | None = field(default=None, metadata={"help": "retrieval index for hard-negative distractors (none: random)"})
    distractors: int = field(default=4, metadata={"help": "distractor documents per example (paper: 4)",
                                                  "valid": Range(0, 1000, integer=True, cli="--distractors")})
    oracle_p: float = field(default=0.8, metadata={"help": "share of examples that contain the oracle document(s) (paper: 0.8)",
                                                   "valid": Range(0, 1, cli="--oracle-p")})
    seed: int = field(default=0, metadata={"help": "random seed: the same seed gives the same examples",
                                           "valid": replace(SEED, cli="--seed")})
    split: str | None = field(default=None, metadata={"help": "only queries of this split / source_split"})
    out: str | None = field(default=None, metadata={"help": "output dataset name (default DATASET-raft)"})

    def __post_init__(self):
        check_fields(self, "raft build")  # every number finite and in range (backend/validation.py)
        if not 0 <= self.oracle_p <= 1:
            raise LabError(f"oracle_p must be between 0 and 1, got {self.oracle_p}")
        if self.distractors < 0:
            raise LabError("distractors must be 0 or more")


def _distractor_ids(request: RaftBuildRequest, query: str, gold: set[str], all_ids: list[str], rng: random.Random) -> list[str]:
    if request.index:
        from backend.retrieval.search import retrieve_doc_ids

        return retrieve_doc_ids(request.index, query, request.distractors, exclude=gold)
    pool = [d for d in all_ids if d not in gold]
    return rng.sample(pool, min(request.distractors, len(pool)))


def build_raft_dataset(request: RaftBuildRequest):
    """A new raft dataset version whose rows carry context_texts / instruction / oracle flags."""
    version = resolve(request.dataset)
    documents = get_recipe(version.recipe).documents_table
    if documents is None or documents not in version.tables:
        raise LabError(f"{version.ref} is not a raft dataset with a documents table")
    check_output(request.out or f"{version.dataset}-raft", version.recipe)  # the output name, before any work
    frame = load_frame(version)
    if request.split:
        column = "split" if "split" in frame.columns else "source_split"
        frame = frame[frame[column] == request.split]
        if frame.empty:
            raise LabError(f"{version.ref} has no rows with {column} = {request.split!r}")
    docs = load_frame(version, documents, columns=["doc_id", "title", "text"])
    text_of, title_of = dict(zip(docs["doc_id"], docs["text"])), dict(zip(docs["doc_id"], docs["title"]))
    all_ids = docs["doc_id"].tolist()
    rng = random.Random(request.seed)
    rows = []
    for row in frame.to_dict(orient="records"):
        gold = [d for d in loads_json(row.get("gold_documents"), []) if d in text_of]
        with_oracle = rng.random() < request.oracle_p
        distractors = _distractor_ids(request, row.get("query") or "", set(gold), all_ids, rng)
        context_ids = (gold if with_oracle else []) + distractors
        rng.shuffle(context_ids)
        texts = [text_of[d] for d in context_ids]
        rows.append({**row, "raft_type": "oracle" if with_oracle else "distractors_only",
                     "context_doc_ids": json.dumps(context_ids), "context_texts": json.dumps(texts, ensure_ascii=False),
                     "context_titles": json.dumps([title_of[d] for d in context_ids], ensure_ascii=False),
                     "gold_texts": json.dumps([text_of[d] for d in gold], ensure_ascii=False),
                     "instruction": instruction(texts, row.get("query") or ""),
                     "n_distractors": len(distractors), "has_oracle": with_oracle})
    if not rows:
        raise LabError(f"{version.ref}: no questions to build examples from")
    out = pd.DataFrame(rows)
    stats = raft_stats(out)
    with VersionWriter(request.out or f"{version.dataset}-raft", version.recipe, "raft-build", asdict(request),
                       parent=version) as writer:
        writer.write(out)
        for batch in iter_batches(version, documents):
            writer.write(batch, table=documents)
        return writer.commit(summary={EXAMPLES_SUMMARY_KEY: stats})


def raft_stats(frame: pd.DataFrame) -> dict:
    """Share with oracle, distractors per example, and (once traces exist) quote validity: the share of
    quoted spans that occur in the example's context."""
    stats = {"examples": len(frame), "share_with_oracle": float(frame["has_oracle"].mean()) if len(frame) else 0.0,
             "distractors_per_example": float(frame["n_distractors"].mean()) if len(frame) else 0.0}
    if "trace" in frame.columns:
        found = total = 0
        for trace, texts in zip(frame["trace"], frame["context_texts"]):
            context = " ".join(" ".join(t.split()) for t in loads_json(texts, []))
            for quote in parse_output(trace or "")["quotes"]:
                total += 1
                found += " ".join(quote.split()) in context
        stats["quotes"] = total
        stats["quote_validity"] = found / total if total else None
    return stats


def raft_record(row: dict) -> dict:
    """One example with the RAFT repo's fields (id, type, question, context, oracle_context, cot_answer, instruction)."""
    texts = loads_json(row.get("context_texts"), [])
    return {"id": row.get("id"), "type": "general", "question": row.get("query"),
            "context": {"title": [[t] for t in loads_json(row.get("context_titles"), [])],
                        "sentences": [[t] for t in texts]},
            "oracle_context": "\n".join(loads_json(row.get("gold_texts"), [])),
            "cot_answer": row.get("trace") or row.get("cot_answer"), "instruction": row.get("instruction")}
