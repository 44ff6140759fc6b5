"""FAISS indexes over document chunks, persisted under state/indexes/<name>/.

    index.faiss     the vectors (L2-normalised, so inner product = cosine)
    chunks.parquet  chunk_id, doc_id, title, text, n_tokens, in FAISS id order
    meta.json       IndexMeta: model, chunking, kind, corpus hash, dataset ref, counts, build time

An index is written under a temporary folder and renamed into place, so a reader never sees half of
one. Loaded indexes are cached per process and reloaded when meta.json changes.
"""
from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import faiss
import numpy as np
import pandas as pd

from backend.config import state_path
from backend.errors import LabError, NotFound

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.parquet"
META_FILE = "meta.json"
from backend.retrieval.options import KINDS  # noqa: E402
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


@dataclass
class IndexMeta:
    name: str
    dataset: str
    dataset_ref: str
    dataset_hash: str
    corpus_hash: str
    model: str
    dimension: int
    chunk_size: int
    overlap: int
    kind: str
    chunks: int
    documents: int
    created_at: str
    build_seconds: float
    embedded: int = 0  # chunks embedded by this build; the rest came from the cache
    cached: int = 0
    path: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> IndexMeta:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class LoadedIndex:
    meta: IndexMeta
    faiss_index: faiss.Index
    chunks: pd.DataFrame
    extras: dict = field(default_factory=dict)  # per-process helpers built on demand (BM25)

    @property
    def name(self) -> str:
        return self.meta.name


def validate_index_name(name: str) -> str:
    if not NAME_RE.fullmatch(name or ""):
        raise LabError(f"index name {name!r} is not allowed: use letters, digits, '_', '.', '-' "
                       "(up to 96), starting with a letter or digit")
    return name


def index_dir(name: str) -> Path:
    return state_path("indexes") / validate_index_name(name)


def build_faiss(vectors: np.ndarray, kind: str = "flat") -> faiss.Index:
    """Exact inner product (flat), or HNSW over inner product for corpora too big to scan."""
    if kind not in KINDS:
        raise LabError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(vectors)
    return index


def save_index(meta: IndexMeta, vectors: np.ndarray, chunks: pd.DataFrame) -> IndexMeta:
    """Write the index folder atomically, replacing an older index of the same name."""
    if len(chunks) != len(vectors):
        raise LabError(f"index {meta.name}: {len(chunks)} chunks but {len(vectors)} vectors")
    final = index_dir(meta.name)
    tmp = state_path("indexes", ".tmp") / uuid.uuid4().hex
    tmp.mkdir(parents=True)
    try:
        faiss.write_index(build_faiss(vectors, meta.kind), str(tmp / INDEX_FILE))
        chunks.reset_index(drop=True).to_parquet(tmp / CHUNKS_FILE, index=False)
        meta.path = str(final)
        (tmp / META_FILE).write_text(json.dumps(meta.to_json(), indent=2))
        old = None
        if final.exists():
            old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:6]}")
            final.rename(old)
        tmp.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def read_meta(name: str) -> IndexMeta:
    path = index_dir(name) / META_FILE
    try:
        return IndexMeta.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        known = ", ".join(m["name"] for m in list_indexes()) or "none yet"
        raise NotFound(f"no index {name!r} (known: {known}); build one with `python -m backend index build DATASET`") from None
    except ValueError as exc:
        raise LabError(f"index {name!r}: {path} is not valid JSON: {exc}") from None


def list_indexes() -> list[dict]:
    """Every complete index's metadata, newest first."""
    out = []
    for meta_path in state_path("indexes").glob(f"*/{META_FILE}"):
        if meta_path.parent.name.startswith("."):
            continue
        try:
            out.append(json.loads(meta_path.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now
    return sorted(out, key=lambda m: (m.get("created_at", ""), m.get("name", "")), reverse=True)


_loaded: dict[str, tuple[tuple[int, int], LoadedIndex]] = {}
_loaded_lock = threading.Lock()


def load_index(name: str) -> LoadedIndex:
    """The index with its chunks, loaded once per process (again after a rebuild)."""
    folder = index_dir(name)
    meta = read_meta(name)
    stat = (folder / META_FILE).stat()
    stamp = (stat.st_ino, stat.st_mtime_ns)  # a rebuild writes a new file
    with _loaded_lock:
        cached = _loaded.get(name)
        if cached and cached[0] == stamp:
            return cached[1]
        try:
            faiss_index = faiss.read_index(str(folder / INDEX_FILE))
            chunks = pd.read_parquet(folder / CHUNKS_FILE)
        except (OSError, RuntimeError) as exc:
            raise LabError(f"index {name!r} under {folder} is damaged ({exc}); build it again") from None
        if isinstance(faiss_index, faiss.IndexHNSW):
            faiss_index.hnsw.efSearch = HNSW_EF_SEARCH
        loaded = LoadedIndex(meta=meta, faiss_index=faiss_index, chunks=chunks)
        _loaded[name] = (stamp, loaded)
        return loaded

