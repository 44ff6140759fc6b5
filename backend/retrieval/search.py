"""Search an index: dense (FAISS), lexical (BM25) or hybrid (reciprocal rank fusion, the default).

Every mode ranks documents, not chunks: a document scores as its best chunk, and that chunk is the
one shown. Hybrid fuses the two document rankings with RRF, score = sum of 1 / (60 + rank). An
optional cross-encoder reorders the top documents by (query, best chunk); it loads only from a local
folder or the local Hugging Face cache, never from the network.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.errors import LabError
from backend.retrieval.embeddings import load_embedder
from backend.retrieval.index import LoadedIndex, load_index
from backend.retrieval.lexical import Bm25

from backend.retrieval.options import MODES  # noqa: E402
RRF_K = 60  # the constant of Cormack et al. (2009)
FUSION_DEPTH = 50  # documents taken from each ranking before fusing
RERANK_DEPTH = 3  # the reranker sees k * this many candidates

_bm25_lock = threading.Lock()
_rerankers: dict[str, object] = {}


@dataclass
class DocHit:
    doc_id: str
    score: float
    chunk_row: int  # row in the index's chunks table of the document's best chunk


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise LabError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def bm25_for(loaded: LoadedIndex) -> Bm25:
    with _bm25_lock:
        if "bm25" not in loaded.extras:
            loaded.extras["bm25"] = Bm25(loaded.chunks["text"].tolist())
        return loaded.extras["bm25"]


def embed_queries(loaded: LoadedIndex, queries: list[str]) -> np.ndarray:
    embedder = load_embedder(loaded.meta.model)
    vectors = embedder.encode(queries, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                              show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _best_per_document(rows: np.ndarray, scores: np.ndarray, doc_ids: np.ndarray, depth: int,
                       exclude: frozenset[str] | set[str]) -> list[DocHit]:
    """Rows in descending score order -> the first `depth` documents, each at its best chunk."""
    hits: list[DocHit] = []
    seen: set[str] = set()
    for row, score in zip(rows, scores):
        if row < 0:
            continue  # FAISS pads with -1 when it finds fewer than asked
        doc = doc_ids[row]
        if doc in seen or doc in exclude:
            continue
        seen.add(doc)
        hits.append(DocHit(doc, float(score), int(row)))
        if len(hits) == depth:
            break
    return hits


def dense_rankings(loaded: LoadedIndex, vectors: np.ndarray, depth: int,
                   exclude: frozenset[str] | set[str] = frozenset()) -> list[list[DocHit]]:
    total = loaded.faiss_index.ntotal
    doc_ids = loaded.chunks["doc_id"].to_numpy()
    per_doc = max(1, round(total / max(1, loaded.meta.documents)))
    fetch = min(total, max(64, (depth + len(exclude)) * per_doc * 2))
    while True:
        scores, rows = loaded.faiss_index.search(vectors, fetch)
        out = [_best_per_document(r, s, doc_ids, depth, exclude) for r, s in zip(rows, scores)]
        if fetch >= total or all(len(hits) >= depth for hits in out):
            return out
        fetch = min(total, fetch * 4)  # some query's top chunks crowd into few documents: look deeper


def bm25_ranking(loaded: LoadedIndex, query: str, depth: int,
                 exclude: frozenset[str] | set[str] = frozenset()) -> list[DocHit]:
    scores = bm25_for(loaded).scores(query)
    matching = np.flatnonzero(scores > 0)
    order = matching[np.argsort(-scores[matching], kind="stable")]
    return _best_per_document(order, scores[order], loaded.chunks["doc_id"].to_numpy(), depth, exclude)


def fuse(rankings: list[list[DocHit]], depth: int) -> list[DocHit]:
    """Reciprocal rank fusion; a document keeps the best chunk of the ranking that placed it highest."""
    score: dict[str, float] = {}
    best: dict[str, tuple[int, int]] = {}  # doc -> (its best rank, chunk row)
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            score[hit.doc_id] = score.get(hit.doc_id, 0.0) + 1.0 / (RRF_K + rank)
            if hit.doc_id not in best or rank < best[hit.doc_id][0]:
                best[hit.doc_id] = (rank, hit.chunk_row)
    order = sorted(score, key=lambda d: (-score[d], best[d][0], d))
    return [DocHit(d, score[d], best[d][1]) for d in order[:depth]]


def rank_documents(loaded: LoadedIndex, queries: list[str], depth: int, mode: str = "hybrid",
                   exclude: frozenset[str] | set[str] = frozenset()) -> list[list[DocHit]]:
    """The top `depth` documents for each query (queries are embedded together, in one pass)."""
    check_mode(mode)
    if depth < 1:
        raise LabError(f"k must be at least 1, got {depth}")
    if not queries:
        return []
    if mode == "bm25":
        return [bm25_ranking(loaded, q, depth, exclude) for q in queries]
    fusion_depth = depth if mode == "dense" else max(FUSION_DEPTH, depth * 3)
    dense = dense_rankings(loaded, embed_queries(loaded, queries), fusion_depth, exclude)
    if mode == "dense":
        return dense
    return [fuse([d, bm25_ranking(loaded, q, fusion_depth, exclude)], depth) for q, d in zip(queries, dense)]


def load_reranker(model: str):
    """A cross-encoder from a local folder or the local Hugging Face cache; LabError if neither has it."""
    if model in _rerankers:
        return _rerankers[model]
    local = Path(model).expanduser()
    if local.is_dir():
        path = str(local.resolve())
    else:
        from huggingface_hub import snapshot_download

        try:
            path = snapshot_download(model, local_files_only=True)
        except Exception:  # not cached, bad id: the hub raises several kinds; none is worth more detail here
            raise LabError(
                f"reranker {model!r} is not available: it is not a local folder and not in the local Hugging Face "
                "cache (nothing is downloaded). Give the path of a downloaded cross-encoder model, or search "
                "without a reranker.") from None
    from sentence_transformers import CrossEncoder

    try:
        _rerankers[model] = CrossEncoder(path, device="cpu")
    except (OSError, ValueError, RuntimeError) as exc:
        raise LabError(f"reranker {model!r} at {path} could not be loaded as a cross-encoder: {exc}") from None
    return _rerankers[model]


def rerank(loaded: LoadedIndex, query: str, hits: list[DocHit], model: str) -> list[DocHit]:
    reranker = load_reranker(model)
    texts = loaded.chunks["text"].to_numpy()
    scores = reranker.predict([(query, str(texts[h.chunk_row])) for h in hits], show_progress_bar=False)
    order = np.argsort(-np.asarray(scores), kind="stable")
    return [DocHit(hits[i].doc_id, float(scores[i]), hits[i].chunk_row) for i in order]


def search(index_name: str, query: str, k: int = 8, mode: str = "hybrid", reranker: str | None = None) -> list[dict]:
    """The top k documents: {"doc_id", "score", "rank", "chunk" (its best chunk's text), "title"}."""
    loaded = load_index(index_name)
    if reranker:
        load_reranker(reranker)  # fail before searching if it is missing
    depth = k * RERANK_DEPTH if reranker else k
    hits = rank_documents(loaded, [query], depth, mode)[0]
    if reranker:
        hits = rerank(loaded, query, hits, reranker)[:k]
    chunks = loaded.chunks
    return [{"doc_id": h.doc_id, "score": h.score, "rank": rank, "chunk": str(chunks["text"].iat[h.chunk_row]),
             "title": str(chunks["title"].iat[h.chunk_row]), "chunk_id": str(chunks["chunk_id"].iat[h.chunk_row])}
            for rank, h in enumerate(hits, start=1)]


def retrieve_doc_ids(index_name: str, query: str, k: int, mode: str = "hybrid",
                     exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The ids of the top k documents not in `exclude` (e.g. hard-negative distractors for RAFT)."""
    return [h.doc_id for h in rank_documents(load_index(index_name), [query], k, mode, frozenset(exclude))[0]]
