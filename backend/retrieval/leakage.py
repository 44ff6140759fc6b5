"""Cross-split leakage: rows of a held-out split that also appear, exactly or nearly, in training.

Exact: the normalised text (NFKC, casefold, whitespace collapsed) is equal. Near: cosine similarity of
sentence embeddings >= threshold. Each distinct text is embedded once, in length-bucketed batches, through
the shared content-hash embedding cache (the one index builds use), so checking the same texts again (another
threshold, another split, a re-split version) embeds nothing. The k nearest side-a texts of every side-b text
come from an exact FAISS inner-product search over the L2-normalised vectors, a batch of rows at a time;
nothing loops over all pairs. `exact` and `near` count side-b rows that leak (a row with an exact twin is not
counted again as near); `pairs` lists up to k side-a matches per leaking row, exact pairs first, then by
similarity.

`launch_leakage` runs the check as a "leakage" job (progress with done/total, rows/s and an ETA while
embedding and searching; cancellable; the report is the job's result and its artifacts/leakage.json, and
`latest_leakage_job` finds it again for a dataset version); `leakage_report` does the same work in-process.
"""
from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
import pandas as pd

from backend.data import store
from backend.data.examples import SPLIT_COLUMN, missing_split
from backend.data.splits import split_names
from backend.errors import LabError
from backend.jobs.context import JobContext
from backend.jobs.files import SPEC, read_json, write_json_atomic
from backend.recipes import get_recipe
from backend.retrieval.cache import EmbeddingCache, EmbeddingCancelled, embed_with_cache
from backend.retrieval.embeddings import DEFAULT_MODEL, model_id

NEIGHBOURS = 5
SEARCH_BATCH = 1024  # side-b rows per FAISS search: progress and the cancel check come between batches
HELD_OUT_MARKERS = ("test", "validation")
REPORT_FILE = "leakage.json"  # in the job's artifacts
JOB_KIND = "leakage"
_WHITESPACE = re.compile(r"\s+")

Progress = Callable[[float, str], None]  # leakage_report: fraction done, message
Steps = Callable[..., None]  # check_leakage: phase, done, total as keywords
# where each phase sits in leakage_report's fraction (embedding is nearly all of the time)
_PHASES = {"compare": (0.0, 0.05), "embed": (0.05, 0.9), "search": (0.9, 1.0)}


class LeakageCancelled(LabError):
    """The caller asked to stop; the vectors embedded so far are in the cache, so a new check starts from them."""


@dataclass
class LeakagePair:
    kind: str  # "exact" | "near"
    score: float
    a_id: str
    b_id: str
    a_split: str
    b_split: str
    a_text: str
    b_text: str


@dataclass
class LeakageReport:
    a: str
    b: str
    threshold: float
    exact: int
    near: int
    pairs: list[LeakagePair] = field(default_factory=list)
    checked: dict = field(default_factory=dict)
    model: str = DEFAULT_MODEL
    dataset: str = ""
    embedded: int = 0  # distinct texts embedded by this check
    cached: int = 0  # texts whose vectors came from the embedding cache
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _texts(frame: pd.DataFrame, recipe_name: str, columns: list[str] | None) -> list[str]:
    records = frame.to_dict("records")
    if columns:
        return ["\n".join(str(r[c]) for c in columns if not _missing(r[c])) for r in records]
    recipe = get_recipe(recipe_name)
    return [recipe.text_of({k: None if _missing(v) else v for k, v in r.items()}) for r in records]


def _missing(value) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def _side(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    return frame[frame[SPLIT_COLUMN].isin(names)].reset_index(drop=True)


def _ids(side: pd.DataFrame) -> list[str]:
    """The row's id, or its 1-based row number in the version when it has none."""
    ids = side["id"] if "id" in side.columns else pd.Series([None] * len(side), dtype=object)
    return [str(row + 1) if _missing(i) else str(i) for i, row in zip(ids, side["_row"])]


def _held_out(available: list[str], a: str) -> list[str]:
    chosen = [s for s in available if s != a and any(m in s.lower() for m in HELD_OUT_MARKERS)]
    if not chosen:
        raise LabError(f"no test or validation split to compare with {a!r} (splits: {', '.join(available)})")
    return chosen


def _validate(ref: str, a: str, b: str | None, threshold: float, max_pairs: int,
              columns: list[str] | None) -> tuple[store.DatasetVersion, list[str]]:
    """The dataset version and the side-b split names, or a LabError saying what is wrong with the request."""
    if not 0 < threshold <= 1:
        raise LabError(f"similarity threshold must be above 0 and at most 1, not {threshold}")
    if max_pairs < 0:
        raise LabError(f"max_pairs must be 0 or more, not {max_pairs}")
    dv = store.resolve(ref)
    available = split_names(dv)
    b_names = [s.strip() for s in b.split(",") if s.strip()] if b else _held_out(available, a)
    for name in [a, *b_names]:
        if name not in available:
            raise missing_split(dv, name, available)
    if a in b_names:
        raise LabError(f"split {a!r} cannot be compared with itself")
    for column in columns or []:
        if column not in dv.columns:
            raise LabError(f"text column {column!r} is not in dataset {dv.ref} (columns: {', '.join(dv.columns)})")
    return dv, b_names


def check_leakage(
    ref: str,
    *,
    a: str = "train",
    b: str | None = None,
    threshold: float = 0.9,
    max_pairs: int = 200,
    columns: list[str] | None = None,
    model: str | None = None,
    device: str = "cpu",
    steps: Steps | None = None,
    cancelled: Callable[[], bool] | None = None,
    cache: EmbeddingCache | None = None,
) -> LeakageReport:
    """Compare split a (training) with split(s) b: b is one name, a comma-separated list, or by default every
    split whose name contains 'test' or 'validation'. `steps(phase=..., done=..., total=..., **counts)` reports
    progress ("compare", then "embed" counting the texts not in the cache, then "search" counting side-b rows);
    `cancelled()` is asked between batches and stops the check with LeakageCancelled."""
    started = time.time()
    dv, b_names = _validate(ref, a, b, threshold, max_pairs, columns)
    report = steps or (lambda **_: None)
    frame = store.load_frame(dv)
    frame["_row"] = np.arange(len(frame))
    side_a, side_b = _side(frame, [a]), _side(frame, b_names)
    texts_a, texts_b = _texts(side_a, dv.recipe, columns), _texts(side_b, dv.recipe, columns)
    ids_a, ids_b = _ids(side_a), _ids(side_b)
    splits_b = [str(s) for s in side_b[SPLIT_COLUMN]]
    report(phase="compare", done=0, total=len(texts_b))

    rows_a: dict[str, list[int]] = {}
    for i, text in enumerate(texts_a):
        rows_a.setdefault(normalise(text), []).append(i)
    rows_a.pop("", None)
    pairs: list[LeakagePair] = []
    queries: list[int] = []
    exact = 0
    for j, text in enumerate(texts_b):
        key = normalise(text)
        if key in rows_a:
            exact += 1
            pairs += [LeakagePair("exact", 1.0, ids_a[i], ids_b[j], a, splits_b[j], texts_a[i], text)
                      for i in rows_a[key][:NEIGHBOURS]]
        elif key:
            queries.append(j)
    report(phase="compare", done=len(texts_b), total=len(texts_b), exact=exact)

    representatives = [rows[0] for rows in rows_a.values()]
    matches, embedded, cached = _near_matches(
        [texts_a[i] for i in representatives], [texts_b[j] for j in queries], threshold,
        model=model, device=device, report=report, cancelled=cancelled, cache=cache)
    near_rows = set()
    for q, i, score in matches:
        j, i = queries[q], representatives[i]
        near_rows.add(j)
        pairs.append(LeakagePair("near", score, ids_a[i], ids_b[j], a, splits_b[j], texts_a[i], texts_b[j]))
    pairs.sort(key=lambda p: (p.kind != "exact", -p.score))
    return LeakageReport(
        a=a, b=",".join(b_names), threshold=threshold, exact=exact, near=len(near_rows), pairs=pairs[:max_pairs],
        checked={"a": len(side_a), "b": len(side_b)}, model=model_id(model), dataset=dv.ref, embedded=embedded,
        cached=cached, seconds=round(time.time() - started, 3),
    )


def _near_matches(texts_a: list[str], queries: list[str], threshold: float, *, model: str | None, device: str,
                  report: Steps, cancelled: Callable[[], bool] | None, cache: EmbeddingCache | None,
                  ) -> tuple[list[tuple[int, int, float]], int, int]:
    """(query index, side-a index, cosine) for each of a query's k nearest side-a texts at or above threshold,
    with how many texts were embedded and how many came from the cache."""
    if not texts_a or not queries:
        report(phase="embed", done=0, total=0, cached=0)
        report(phase="search", done=len(queries), total=len(queries), near=0)
        return [], 0, 0
    try:  # both sides in one pass: one length-sorted batching, and a text on both sides is embedded once
        vectors, stats = embed_with_cache(
            texts_a + queries, model, cache=cache, device=device, cancelled=cancelled,
            progress=lambda done, total: report(phase="embed", done=done, total=total))
    except EmbeddingCancelled as exc:
        raise LeakageCancelled(str(exc)) from None
    report(phase="embed", done=stats.misses, total=stats.misses, cached=stats.hits)
    vectors_a, vectors_b = vectors[:len(texts_a)], vectors[len(texts_a):]
    index = faiss.IndexFlatIP(vectors.shape[1])  # exact; the vectors are L2-normalised, so inner product = cosine
    index.add(vectors_a)
    k = min(NEIGHBOURS, len(texts_a))
    matches: list[tuple[int, int, float]] = []
    near: set[int] = set()
    report(phase="search", done=0, total=len(queries))
    for start in range(0, len(queries), SEARCH_BATCH):
        if cancelled and cancelled():
            raise LeakageCancelled(f"search stopped after {start:,} of {len(queries):,} rows")
        scores, hits = index.search(vectors_b[start:start + SEARCH_BATCH], k)
        for q, (row_scores, row_hits) in enumerate(zip(scores, hits), start):
            for score, i in zip(row_scores, row_hits):
                if i >= 0 and score >= threshold:
                    matches.append((q, int(i), min(float(score), 1.0)))
                    near.add(q)
        done = min(start + SEARCH_BATCH, len(queries))
        report(phase="search", done=done, total=len(queries), near=len(near))
    return matches, stats.misses, stats.hits


def leakage_report(
    ref: str,
    *,
    a: str = "train",
    b: str | None = None,
    threshold: float = 0.9,
    max_pairs: int = 200,
    columns: list[str] | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    cache: EmbeddingCache | None = None,
) -> LeakageReport:
    """check_leakage in this process, with progress as (fraction done, message)."""

    def steps(phase: str, done: int, total: int, **_) -> None:
        low, high = _PHASES[phase]
        share = done / total if total else float(phase != "compare")  # nothing to do counts as done
        progress(low + (high - low) * share, _message(phase, done, total))

    report = check_leakage(ref, a=a, b=b, threshold=threshold, max_pairs=max_pairs, columns=columns,
                           steps=steps if progress else None, cancelled=cancelled, cache=cache)
    if progress:
        progress(1.0, f"{report.exact} exact and {report.near} near duplicates")
    return report


def _message(phase: str, done: int, total: int) -> str:
    if phase == "compare":
        return "comparing normalised texts"
    if phase == "embed":
        return f"embedded {done:,} of {total:,} new texts" if total else "every text's embedding is in the cache"
    return f"searched the nearest neighbours of {done:,} of {total:,} rows"


# -- as a job ------------------------------------------------------------------------------------------

def launch_leakage(ref: str, *, a: str = "train", b: str | None = None, threshold: float = 0.9,
                   max_pairs: int = 200, columns: list[str] | None = None, gpus: int = 0):
    """Queue a leakage check of a dataset version (pinned to the version `ref` resolves to now). With `gpus` the
    job waits for that many free GPUs and embeds on one of them."""
    from backend.jobs.manager import submit

    dv, b_names = _validate(ref, a, b, threshold, max_pairs, columns)
    if gpus < 0:
        raise LabError(f"gpus must be 0 or more, not {gpus}")
    spec = {"dataset": dv.ref, "a": a, "b": ",".join(b_names), "threshold": threshold, "max_pairs": max_pairs,
            "columns": columns, "gpus": gpus}
    return submit(JOB_KIND, spec, title=f"leakage {dv.ref}: {a} vs {','.join(b_names)}", gpus=gpus)


def _device(ctx: JobContext) -> str:
    if not ctx.spec.get("gpus"):
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    ctx.warn("asked for a GPU but torch sees none: embedded on the CPU")
    return "cpu"


def run_leakage_job(ctx: JobContext) -> dict:
    spec = ctx.spec

    def line(phase: str, done: int, total: int, pace: float | None) -> str | None:
        left = f", {(total - done) / pace:,.0f} s left" if pace else ""
        return f"{_message(phase, done, total)} ({pace or 0:,.1f} rows/s{left})" if done else None

    steps = ctx.phase_progress(("embed", "search"), "rows_per_s", line)

    ctx.log(f"leakage of {spec['dataset']}: {spec['a']} against {spec['b']}, threshold {spec['threshold']}")
    try:
        report = check_leakage(spec["dataset"], a=spec["a"], b=spec["b"], threshold=spec["threshold"],
                               max_pairs=spec.get("max_pairs", 200), columns=spec.get("columns"),
                               device=_device(ctx), steps=steps, cancelled=lambda: ctx.cancelled)
    except LeakageCancelled as exc:
        ctx.log(str(exc))
        return {"dataset": spec["dataset"], "cancelled": True}
    payload = report.to_json()
    write_json_atomic(ctx.artifacts / REPORT_FILE, payload)
    ctx.log(f"{report.exact} exact and {report.near} near duplicates in {report.checked['b']:,} rows of {report.b} "
            f"({report.embedded:,} texts embedded, {report.cached:,} from the cache, {report.seconds:.1f} s)")
    return payload


def latest_leakage_job(ref: str):
    """The newest leakage job of the dataset version `ref` resolves to (any status, anyone's), or None. Reads the
    jobs' specs, not their results, so a page can ask on every rerun."""
    from backend.jobs.manager import get
    from backend.storage.db import connect

    version = store.resolve(ref).ref
    with connect() as db:
        rows = list(db.query("SELECT id, job_dir FROM jobs WHERE kind = ? ORDER BY created_at DESC, id DESC",
                             [JOB_KIND]))
    for row in rows:
        if (read_json(Path(row["job_dir"]) / SPEC, {}) or {}).get("dataset") == version:
            return get(row["id"])
    return None
