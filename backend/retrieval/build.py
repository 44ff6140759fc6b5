"""Build an index from a raft dataset's `documents` table: chunk, embed (cached), write FAISS.

`launch_index_build` queues the work as an "index" job (`run_index_job` runs it, reporting progress
with an ETA and, while embedding, the throughput in chunks/s); `build_index` is the same work in-process.
"""
from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable

import pandas as pd

from backend.data.store import DatasetVersion, load_frame, resolve
from backend.errors import LabError
from backend.jobs.context import JobContext
from backend.jobs.manager import JobInfo, submit
from backend.recipes import RECIPES, get_recipe
from backend.retrieval.cache import EmbeddingCache, EmbeddingCancelled, embed_with_cache
from backend.retrieval.chunking import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_OVERLAP,
    chunk_documents,
    chunks_frame,
    validate_chunking,
)
from backend.retrieval.embeddings import DEFAULT_MODEL, load_tokenizer, model_id
from backend.retrieval.index import KINDS, IndexMeta, save_index, validate_index_name
from backend.storage.db import now_iso

Progress = Callable[..., None]  # keyword counts: phase, done, total, ...


def model_short_name(model: str | None) -> str:
    base = re.split(r"[\\/]", (model or DEFAULT_MODEL).rstrip("/\\"))[-1]
    return re.sub(r"[^a-z0-9.]+", "-", base.lower()).strip("-") or "model"


def default_index_name(dataset: str, model: str | None, chunk_size: int) -> str:
    return f"{dataset.partition('@')[0]}-{model_short_name(model)}-{chunk_size}"


def corpus_hash(documents: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for doc_id, text in sorted(zip(documents["doc_id"].astype(str), documents["text"].astype(str))):
        digest.update(doc_id.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()[:16]


def corpus_version(dataset: str | DatasetVersion) -> DatasetVersion:
    version = resolve(dataset)
    table = get_recipe(version.recipe).documents_table
    if table is None or table not in version.tables:
        corpus_recipes = " or ".join(r.name for r in RECIPES.values() if r.documents_table)
        raise LabError(f"{version.ref} has no documents table to index: import a corpus with the {corpus_recipes} "
                       f"recipe (this dataset's recipe is {version.recipe!r})")
    return version


def build_index(dataset: str | DatasetVersion, name: str | None = None, model: str | None = None,
                chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP, kind: str = "flat",
                progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
                cache: EmbeddingCache | None = None) -> IndexMeta:
    started = time.time()
    version = corpus_version(dataset)
    name = validate_index_name(name or default_index_name(version.dataset, model, chunk_size))
    if kind not in KINDS:
        raise LabError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    report = progress or (lambda **_: None)
    tokenizer, max_tokens = load_tokenizer(model)
    validate_chunking(chunk_size, overlap, max_tokens)
    documents = load_frame(version, get_recipe(version.recipe).documents_table, columns=["doc_id", "title", "text"])
    if documents.empty:
        raise LabError(f"{version.ref}: the documents table is empty")
    report(phase="chunk", done=0, total=len(documents))
    chunks = chunk_documents(documents, tokenizer, chunk_size, overlap)
    report(phase="chunk", done=len(documents), total=len(documents), chunks=len(chunks))
    if not chunks:
        raise LabError(f"{version.ref}: every document is empty, nothing to index")
    vectors, stats = embed_with_cache(
        [c.text for c in chunks], model, lengths=[c.n_tokens for c in chunks], cache=cache,
        progress=lambda done, total: report(phase="embed", done=done, total=total, chunks=len(chunks)),
        cancelled=cancelled)
    meta = IndexMeta(
        name=name, dataset=version.dataset, dataset_ref=version.ref, dataset_hash=version.content_hash,
        corpus_hash=corpus_hash(documents), model=model_id(model), dimension=int(vectors.shape[1]),
        chunk_size=chunk_size, overlap=overlap, kind=kind, chunks=len(chunks),
        documents=int(documents["doc_id"].nunique()), created_at=now_iso(), build_seconds=0.0,
        embedded=stats.misses, cached=stats.hits)
    report(phase="write", done=0, total=1)
    meta.build_seconds = round(time.time() - started, 3)
    save_index(meta, vectors, chunks_frame(chunks))
    report(phase="write", done=1, total=1)
    return meta


def run_index_job(ctx: JobContext) -> dict:
    spec = ctx.spec

    def line(phase: str, done: int, total: int, pace: float | None) -> str:
        shown = f" ({pace:,.1f} chunks/s, {(total - done) / pace:,.0f} s left)" if pace else ""
        return f"embedded {done:,} of {total:,} new chunks{shown}"

    report = ctx.phase_progress(("embed",), "chunks_per_s", line)  # chunks/s: this build's embedding throughput

    try:
        meta = build_index(spec["dataset"], name=spec["name"], model=spec.get("model"),
                           chunk_size=spec["chunk_size"], overlap=spec["overlap"], kind=spec["index_kind"],
                           progress=report, cancelled=lambda: ctx.cancelled)
    except EmbeddingCancelled as exc:
        ctx.log(str(exc))
        return {"index": spec["name"], "cancelled": True}
    ctx.log(f"index {meta.name}: {meta.chunks} chunks of {meta.documents} documents, {meta.embedded} embedded, "
            f"{meta.cached} from the cache, {meta.build_seconds:.1f} s")
    return {"index": meta.name, **meta.to_json()}


def launch_index_build(dataset: str, model: str | None = None, chunk_size: int = DEFAULT_CHUNK_SIZE,
                       overlap: int = DEFAULT_OVERLAP, kind: str = "flat", name: str | None = None,
                       slurm_options=None) -> JobInfo:
    """Queue an index build for a raft dataset (pinned to its current version); the job id and index name."""
    version = corpus_version(dataset)
    validate_chunking(chunk_size, overlap, load_tokenizer(model)[1])  # also fails early on a missing model
    if kind not in KINDS:
        raise LabError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    name = validate_index_name(name or default_index_name(version.dataset, model, chunk_size))
    spec = {"dataset": version.ref, "name": name, "model": model, "chunk_size": chunk_size, "overlap": overlap,
            "index_kind": kind}  # "kind" is the job kind
    return submit("index", spec, title=f"index {name} from {version.ref}", slurm_options=slurm_options)
