"""Which files an import reads: the supported formats by extension, folders expanded, files fingerprinted."""
from __future__ import annotations

import hashlib
from pathlib import Path

from backend.errors import DataError

READ_CHUNK_BYTES = 1 << 20

FORMATS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
    ".parquet": "parquet", ".pq": "parquet",
}
SUPPORTED_EXTENSIONS = ", ".join(FORMATS)


def file_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        kind = f"'{path.suffix}'" if path.suffix else "without an extension"
        raise DataError(f"unsupported file type {kind}: use {SUPPORTED_EXTENSIONS}", file=path.name) from None


def require_exists(path: Path) -> Path:
    if not path.exists():
        raise DataError("not found: check the path", file=str(path))
    return path


def expand_paths(paths: list[Path]) -> list[Path]:
    """The data files to read: each given file, and the supported files directly inside each given folder."""
    files: list[Path] = []
    for path in paths:
        require_exists(path)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in FORMATS and not p.name.startswith("."))
            if not inside:
                raise DataError(f"the folder holds no data files ({SUPPORTED_EXTENSIONS})", file=str(path))
            files.extend(inside)
        else:
            file_format(path)
            files.append(path)
    return files


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
