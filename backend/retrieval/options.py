"""The retrieval choices the CLI offers, in a module with no imports: building the CLI's parser must not load
pandas, numpy or FAISS for every command."""

DEFAULT_CHUNK_SIZE = 200
DEFAULT_OVERLAP = 40
KINDS = ("flat", "hnsw")
MODES = ("hybrid", "dense", "bm25")
