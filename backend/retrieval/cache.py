"""Embedding cache: one vector per (model, text content hash) in state/indexes/embeddings.db.

A rebuild after a document changes re-embeds only the chunks whose text changed. The file is its
own SQLite database (WAL, busy timeout) so concurrent index builds can share it; vectors are stored
as raw float32 bytes.
"""
from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from backend.config import state_path
from backend.errors import LabError
from backend.retrieval.embeddings import (
    encode_batch,
    length_batches,
    load_embedder,
    model_id,
)

CACHE_FILE = "embeddings.db"
LOOKUP_BATCH = 500  # SQLite's limit on bound variables is far above this
TOKEN_BUDGET = 32 * 258  # padded tokens per batch: 32 full MiniLM windows
MAX_BATCH = 256


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0  # texts that had to be embedded

    def to_json(self) -> dict:
        return asdict(self)


class EmbeddingCache:
    def __init__(self, path: Path | None = None):
        self.path = path or state_path("indexes") / CACHE_FILE
        with closing(self._connect()) as conn:
            conn.execute("""CREATE TABLE IF NOT EXISTS embeddings (
                model TEXT NOT NULL, text_hash TEXT NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,
                PRIMARY KEY (model, text_hash))""")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def get_many(self, model: str, hashes: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        with closing(self._connect()) as conn:
            for start in range(0, len(unique), LOOKUP_BATCH):
                part = unique[start:start + LOOKUP_BATCH]
                marks = ",".join("?" * len(part))
                for key, dim, blob in conn.execute(
                        f"SELECT text_hash, dim, vector FROM embeddings WHERE model = ? AND text_hash IN ({marks})",
                        [model, *part]):
                    found[key] = np.frombuffer(blob, dtype=np.float32, count=dim)
        return found

    def put_many(self, model: str, hashes: list[str], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with closing(self._connect()) as conn:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT OR REPLACE INTO embeddings (model, text_hash, dim, vector) VALUES (?, ?, ?, ?)",
                [(model, h, int(v.shape[0]), v.tobytes()) for h, v in zip(hashes, vectors)])
            conn.execute("COMMIT")

    def count(self) -> int:
        with closing(self._connect()) as conn:
            return conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]


class EmbeddingCancelled(LabError):
    """The caller asked to stop; the vectors embedded so far are already in the cache."""


def embed_with_cache(texts: list[str], model: str | None = None, lengths: list[int] | None = None,
                     cache: EmbeddingCache | None = None, progress: Callable[[int, int], None] | None = None,
                     cancelled: Callable[[], bool] | None = None, token_budget: int = TOKEN_BUDGET,
                     max_batch: int = MAX_BATCH, device: str = "cpu") -> tuple[np.ndarray, CacheStats]:
    """L2-normalised float32 vectors for `texts` (in order); only texts not in the cache are embedded.

    `lengths` are the texts' token counts (the chunker knows them), used to batch similar lengths
    together; `progress(done, total)` counts the texts that needed embedding; each batch goes to the
    cache as soon as it is done, so a cancelled or crashed build loses at most one batch. `device` is where the
    model runs ("cpu", "cuda"); a fully cached call never loads the model.
    """
    cache = cache or EmbeddingCache()
    key = model_id(model)
    hashes = [text_hash(t) for t in texts]
    known = cache.get_many(key, hashes)
    missing = list(dict.fromkeys(h for h in hashes if h not in known))
    stats = CacheStats(hits=len(texts) - sum(1 for h in hashes if h not in known), misses=len(missing))
    if missing:
        embedder = load_embedder(model, device)
        first = {h: i for i, h in reversed(list(enumerate(hashes)))}
        todo = [texts[first[h]] for h in missing]
        window = embedder.max_seq_length or 512
        if lengths is None:
            lengths_todo = [len(ids) for ids in embedder.tokenizer(todo, add_special_tokens=False)["input_ids"]]
        else:
            lengths_todo = [lengths[first[h]] for h in missing]
        padded = [min(n + 2, window) for n in lengths_todo]  # + [CLS] and [SEP], truncated at the window
        done = 0
        if progress:
            progress(0, len(missing))
        for batch in length_batches(padded, token_budget, max_batch):
            if cancelled and cancelled():
                raise EmbeddingCancelled(f"embedding stopped after {done} of {len(missing)} texts (kept in the cache)")
            vectors = encode_batch(embedder, [todo[i] for i in batch])
            batch_hashes = [missing[i] for i in batch]
            cache.put_many(key, batch_hashes, vectors)
            known.update(zip(batch_hashes, vectors))
            done += len(batch)
            if progress:
                progress(done, len(missing))
    dim = next(iter(known.values())).shape[0] if known else load_embedder(model, device).get_embedding_dimension()
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        out[i] = known[h]
    return out, stats
