"""Curation results: a new dataset version made of chosen rows of another, in a chosen order.

The operations live beside this module: filters (column filters for any recipe, and a recipe's own
curate filter, `Recipe.curate_filter`) and dedup. Each picks row positions; `derive_version` stores them.
"""
from __future__ import annotations

import numpy as np

from backend.data import store
from backend.data.store import DatasetVersion
from backend.errors import LabError

BATCH_ROWS = 50_000


def derive_version(source: DatasetVersion, out: str, operation: str, params: dict, rows: np.ndarray,
                   summary: dict) -> DatasetVersion:
    """Store `source`'s rows at positions `rows` (in that order) as a new version of dataset `out` with the
    same recipe; `source`'s other tables (e.g. raft's documents) are copied unchanged."""
    if not len(rows):
        raise LabError(f"{operation} of {source.ref} keeps no rows; nothing was stored")
    with store.VersionWriter(out, source.recipe, operation, params, parent=source) as writer:
        if np.all(np.diff(rows) > 0):
            _write_in_file_order(writer, source, rows)
        else:
            _write_reordered(writer, source, rows)
        for table in source.tables:
            if table != store.MAIN_TABLE:
                for batch in store.iter_batches(source, table):
                    writer.write(batch, table)
        return writer.commit(summary=summary)


def _write_in_file_order(writer: store.VersionWriter, source: DatasetVersion, rows: np.ndarray) -> None:
    """Stream the source batch by batch, so only one batch is in memory at a time."""
    keep = np.zeros(source.rows, dtype=bool)
    keep[rows] = True
    start = 0
    for batch in store.iter_batches(source, batch_size=BATCH_ROWS):
        part = keep[start:start + len(batch)]
        start += len(batch)
        if part.any():
            writer.write(batch[part])


def _write_reordered(writer: store.VersionWriter, source: DatasetVersion, rows: np.ndarray) -> None:
    frame = store.load_frame(source)
    for start in range(0, len(rows), BATCH_ROWS):
        writer.write(frame.take(rows[start:start + BATCH_ROWS]))
