"""One import in progress: sources fingerprinted, rows normalised and written in batches, a summary kept.

The recipe importers only read their layouts and call `add()`; batching, the label policy, the
per-file counts and the final checks live here, so every recipe behaves the same way.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pandas as pd

from backend.data.importers.normalise import LabelTally, RowNormaliser, to_frame
from backend.data.store import VersionWriter
from backend.errors import LabError
from backend.formats.files import sha256_file
from backend.formats.where import Where
from backend.recipes.base import Recipe

BATCH_ROWS = 20_000
BATCH_CHARS = 64 * 1024 * 1024


class ImportRun:
    def __init__(self, recipe: Recipe, writer: VersionWriter, on_bad_label: str, sources: list[dict],
                 options: dict | None = None):
        """`sources` is the list in the version's params that records each input file's name and sha256;
        `options` holds the recipe's import options by name (`Importer.options`, e.g. {"task": "prompt"}).
        It satisfies the `ImportRun` protocol of backend.recipes.importing, which importers are written against."""
        self.recipe, self.writer, self.sources = recipe, writer, sources
        self.options = dict(options or {})
        self.labels = LabelTally(recipe, on_bad_label)
        self.normaliser = RowNormaliser(recipe, self.labels)
        self.file_rows: dict[str, int] = {}
        self.counts: dict[str, Counter] = {}
        self.extra_summary: dict = {}
        self._pending: list[dict] = []
        self._pending_chars = 0
        self._seen = 0

    def add_source(self, path: Path) -> str:
        """Fingerprint an input file; returns the name it goes by in messages and the summary."""
        name = path.name
        self.sources.append({"name": name, "sha256": sha256_file(path), "bytes": path.stat().st_size})
        self.file_rows.setdefault(name, 0)
        return name

    def add_source_group(self, name: str, paths: list[Path]) -> None:
        """Fingerprint many files as one source (a folder of documents): a hash over their names and hashes."""
        digest = hashlib.sha256()
        for path in paths:
            digest.update(path.name.encode())
            digest.update(bytes.fromhex(sha256_file(path)))
        self.sources.append({"name": name, "sha256": digest.hexdigest(), "files": len(paths),
                             "bytes": sum(p.stat().st_size for p in paths)})

    def keep_extra_columns(self, names: list[str]) -> None:
        """Columns outside the recipe that are stored as text (generic data); fixed before the first row."""
        if self._seen:
            raise RuntimeError("extra columns must be set before the first row")
        self.normaliser = RowNormaliser(self.recipe, self.labels, names)

    def count(self, what: str, key: str) -> None:
        """Tally something for the summary, e.g. count('layouts', 'wildguard')."""
        self.counts.setdefault(what, Counter())[key] += 1

    def add(self, values: dict, where: Where, default_id: str, fields: dict[str, str] | None = None) -> None:
        self._seen += 1
        row = self.normaliser.normalise(values, where, default_id, fields)
        if row is None:
            return
        self.file_rows[where.file] = self.file_rows.get(where.file, 0) + 1
        self._pending.append(row)
        self._pending_chars += sum(len(v) for v in row.values() if isinstance(v, str))
        if len(self._pending) >= BATCH_ROWS or self._pending_chars >= BATCH_CHARS:
            self._flush()

    def write_table(self, table: str, frame: pd.DataFrame) -> None:
        self.writer.write(frame, table=table)

    def _flush(self) -> None:
        if self._pending:
            self.writer.write(to_frame(self._pending, self.normaliser.columns))
            self._pending, self._pending_chars = [], 0

    def finish(self) -> dict:
        """Write what is left and return the summary; raises if bad labels stop the import or nothing is left."""
        self._flush()
        error = self.labels.error()
        if error:
            raise error
        kept = sum(self.file_rows.values())
        if not kept:
            if self._seen:
                raise LabError(f"nothing to import: all {self._seen} rows had labels outside the allowed values "
                               "and were dropped")
            raise LabError("nothing to import: the files hold no rows")
        summary = {"files": dict(self.file_rows), "rows": kept, "dropped": self._seen - kept,
                   "bad_labels": self.labels.summary()}
        summary.update({what: dict(counter) for what, counter in self.counts.items()})
        summary.update(self.extra_summary)
        return summary
