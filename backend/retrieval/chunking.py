"""Split documents into overlapping windows of the embedding model's own tokens.

Each document (a chapter) is chunked on its own, so no chunk ever spans two chapters. Windows are
counted in the tokenizer's tokens (MiniLM's WordPiece by default) so every chunk fits the model's
window; a chunk's text is the exact slice of the document its tokens came from.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from backend.errors import LabError

from backend.retrieval.options import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP  # noqa: F401 (re-exported)
MIN_CHUNK_SIZE = 8
TOKENIZE_BATCH = 64


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    text: str
    n_tokens: int


def validate_chunking(chunk_size: int, overlap: int, max_tokens: int | None = None) -> None:
    """Reject settings that would produce no progress or chunks the model would truncate."""
    from backend.validation import Range, check_value

    check_value("chunk_size", chunk_size, Range(1, 1_000_000, integer=True, cli="--chunk-size"))
    check_value("overlap", overlap, Range(0, 1_000_000, integer=True, cli="--overlap"))
    if chunk_size < MIN_CHUNK_SIZE:
        raise LabError(f"chunk size {chunk_size} is too small: use at least {MIN_CHUNK_SIZE} tokens")
    if not 0 <= overlap < chunk_size:
        raise LabError(f"overlap {overlap} must be at least 0 and smaller than the chunk size {chunk_size}")
    if max_tokens is not None and chunk_size > max_tokens:
        raise LabError(f"chunk size {chunk_size} is larger than the embedding model's window of {max_tokens} tokens "
                       f"(without its special tokens); use --chunk-size {max_tokens} or less")


def token_windows(n_tokens: int, chunk_size: int, overlap: int,
                  word_starts: list[bool] | None = None) -> list[tuple[int, int]]:
    """[start, end) token ranges covering 0..n_tokens, each at most `chunk_size` tokens.

    With `word_starts` (True where a token begins a word) windows begin and end on word boundaries,
    so no word is split between chunks and a chunk's text re-tokenises to the same tokens; the
    overlap then shrinks to the nearest boundary (a word longer than a whole window is still cut).
    """
    def boundary(i: int) -> bool:
        return word_starts is None or i >= n_tokens or word_starts[i]

    windows: list[tuple[int, int]] = []
    start = 0
    while start < n_tokens:
        end = min(start + chunk_size, n_tokens)
        cut = end
        while cut > start + 1 and not boundary(cut):
            cut -= 1
        end = cut if boundary(cut) else end
        windows.append((start, end))
        if end == n_tokens:
            break
        nxt = max(end - overlap, start + 1)
        while nxt < end and not boundary(nxt):
            nxt += 1
        start = nxt
    return windows


def chunk_documents(documents: pd.DataFrame | Iterable[dict], tokenizer, chunk_size: int = DEFAULT_CHUNK_SIZE,
                    overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    """Chunks of every document (doc_id, title, text), in document order; chunk ids are '<doc_id>#<n>'.

    `tokenizer` is a `tokenizers.Tokenizer` (see embeddings.load_tokenizer) with truncation off.
    """
    validate_chunking(chunk_size, overlap)
    rows = documents.to_dict(orient="records") if isinstance(documents, pd.DataFrame) else list(documents)
    chunks: list[Chunk] = []
    for start in range(0, len(rows), TOKENIZE_BATCH):
        batch = rows[start:start + TOKENIZE_BATCH]
        texts = [str(r.get("text") or "") for r in batch]
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
        for row, text, encoding in zip(batch, texts, encodings):
            spans, word_ids = encoding.offsets, encoding.word_ids
            word_starts = [i == 0 or word_ids[i] != word_ids[i - 1] for i in range(len(word_ids))]
            doc_id = str(row["doc_id"])
            title = str(row.get("title") or doc_id)
            for n, (lo, hi) in enumerate(token_windows(len(spans), chunk_size, overlap, word_starts)):
                chunks.append(Chunk(chunk_id=f"{doc_id}#{n}", doc_id=doc_id, title=title,
                                    text=text[spans[lo][0]:spans[hi - 1][1]], n_tokens=hi - lo))
    return chunks


def chunks_frame(chunks: list[Chunk]) -> pd.DataFrame:
    return pd.DataFrame(
        {"chunk_id": [c.chunk_id for c in chunks], "doc_id": [c.doc_id for c in chunks],
         "title": [c.title for c in chunks], "text": [c.text for c in chunks],
         "n_tokens": pd.Series([c.n_tokens for c in chunks], dtype="int64")})
