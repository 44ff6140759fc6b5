"""Immutable dataset versions: a folder of Parquet tables plus a row in `dataset_versions`.

state/datasets/<name>/v<version>/rows.parquet   the main table (one row per example)
state/datasets/<name>/v<version>/<table>.parquet extra tables (e.g. raft's documents)
state/datasets/<name>/v<version>/meta.json       the same facts as the DB row, for humans

Rows are written in batches through `VersionWriter`, so a large import never holds the whole
file in memory, and a version becomes visible only once it is complete: the folder is built
under a temporary name and renamed, then the row is inserted. A failure leaves nothing behind.
A derived version (one with a parent) whose parent and content equal an existing version's of the same
dataset is not stored twice: commit() returns the existing one (or the parent itself, when the derivation
changed nothing).
Every column is a scalar (text, number, bool); structured fields are stored as JSON text.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd
import pyarrow as pa
import psutil
import pyarrow.parquet as pq

from backend.config import state_path
from backend.users import PermissionDenied, current_user, may_change, require_owner
from backend.errors import LabError, NotFound
from backend.storage.db import connect, now_iso, transaction

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAIN_TABLE = "rows"
TMP = ".tmp"  # versions being written: <host>-<pid>-<uuid>, renamed into place on commit
TRASH = ".trash"  # deleted datasets, moved here under the write lock and removed after it
_HOST = socket.gethostname().replace("-", "_")
_swept: set[Path] = set()


def _sweep_stale_tmp() -> None:
    """Remove what killed writers on this host left (their process is gone), once per process and state dir."""
    base = state_path("datasets")
    if base in _swept:
        return
    _swept.add(base)
    for folder in (base / TMP, base / TRASH):
        for entry in (folder.iterdir() if folder.is_dir() else ()):
            host, _, rest = entry.name.partition("-")
            pid = rest.partition("-")[0]
            if folder.name == TRASH or (host == _HOST and pid.isdigit() and not psutil.pid_exists(int(pid))):
                shutil.rmtree(entry, ignore_errors=True)


@dataclass
class DatasetVersion:
    dataset: str
    version: int
    recipe: str
    operation: str
    params: dict
    parent: str | None
    parent_hash: str | None
    content_hash: str
    rows: int
    columns: list[str]
    tables: dict[str, int]
    summary: dict
    path: str
    owner: str
    created_at: str

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    def table_path(self, table: str = MAIN_TABLE) -> Path:
        return Path(self.path) / f"{table}.parquet"

    def to_json(self) -> dict:
        out = asdict(self)
        out["ref"] = self.ref
        return out


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise LabError(
            f"dataset name {name!r} is not allowed: use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit"
        )
    return name


def _hash_frame(hasher, frame: pd.DataFrame) -> None:
    if len(frame):
        hasher.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def require_may_add_version(db, name: str) -> None:
    """A dataset's versions belong to its owner: anyone else derives under a name of their own."""
    row = db.conn.execute("SELECT owner FROM datasets WHERE name = ?", (name,)).fetchone()
    if row and not may_change(row[0]):
        raise PermissionDenied(f"{current_user()} cannot add a version to dataset {name}: it belongs to {row[0]}; "
                               "save the result under a name of your own")


def check_output(name: str, recipe: str | None = None) -> str:
    """Before any work (or any paid request) that ends in a new version of dataset `name`: the name is allowed,
    the acting user may add versions to it, and an existing dataset of that name has the same recipe."""
    validate_name(name)
    with connect() as db:
        require_may_add_version(db, name)
        row = db.conn.execute("SELECT recipe FROM datasets WHERE name = ?", (name,)).fetchone()
    if recipe and row and row[0] != recipe:
        raise LabError(f"dataset {name!r} already exists with recipe {row[0]!r}, not {recipe!r}; choose another name")
    return name


@dataclass
class _TableSink:
    path: Path
    writer: pq.ParquetWriter | None = None
    schema: pa.Schema | None = None
    rows: int = 0


@dataclass
class VersionWriter:
    """Collects batches for a new version; `commit()` publishes it, leaving the block without it discards it.

    with VersionWriter("demo-guard", "guard", "import", {"files": [...]}) as w:
        for frame in batches: w.write(frame)
        version = w.commit(summary={...})
    """

    dataset: str
    recipe: str
    operation: str
    params: dict = field(default_factory=dict)
    parent: DatasetVersion | None = None
    description: str | None = None

    def __post_init__(self):
        validate_name(self.dataset)
        with connect() as db:
            require_may_add_version(db, self.dataset)
        _sweep_stale_tmp()
        self._tmp = state_path("datasets", TMP) / f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex}"
        self._tmp.mkdir(parents=True)
        self._sinks: dict[str, _TableSink] = {}
        self._hashers: dict[str, "hashlib._Hash"] = {}
        self._committed: DatasetVersion | None = None
        self.reused = False  # commit() returned an existing version with the same parent and content

    def __enter__(self) -> "VersionWriter":
        return self

    def __exit__(self, *exc) -> None:
        self._close()
        if self._committed is None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def write(self, frame: pd.DataFrame, table: str = MAIN_TABLE) -> None:
        sink = self._sinks.get(table)
        if sink is None:
            sink = self._sinks[table] = _TableSink(self._tmp / f"{table}.parquet")
            self._hashers[table] = hashlib.sha256()
        frame = frame.reset_index(drop=True)
        batch = pa.Table.from_pandas(frame, preserve_index=False)
        if sink.writer is None:
            sink.schema = _nullable(batch.schema)
            sink.writer = pq.ParquetWriter(sink.path, sink.schema)
            self._hashers[table].update(json.dumps(sink.schema.names).encode())
        try:
            batch = batch.select(sink.schema.names).cast(sink.schema)
        except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LabError(f"table {table!r}: a later batch does not match the first one's columns/types: {exc}")
        sink.writer.write_table(batch)
        sink.rows += len(frame)
        _hash_frame(self._hashers[table], frame[sink.schema.names])

    def _close(self) -> None:
        for sink in self._sinks.values():
            if sink.writer is not None:
                sink.writer.close()
                sink.writer = None

    def commit(self, summary: dict | None = None, columns: list[str] | None = None) -> DatasetVersion:
        if MAIN_TABLE not in self._sinks:
            if not columns:
                raise LabError("no rows to store: the result is empty")
            self.write(pd.DataFrame({c: pd.Series([], dtype="object") for c in columns}))
        self._close()
        total = hashlib.sha256()
        for table in sorted(self._hashers):
            total.update(table.encode())
            total.update(self._hashers[table].digest())
        content_hash = total.hexdigest()[:16]
        main = self._sinks[MAIN_TABLE]
        tables = {name: sink.rows for name, sink in self._sinks.items()}
        with connect() as db, transaction(db):
            require_may_add_version(db, self.dataset)
            existing = db.conn.execute("SELECT recipe FROM datasets WHERE name = ?", (self.dataset,)).fetchone()
            if existing and existing[0] != self.recipe:
                raise LabError(f"dataset {self.dataset!r} already exists with recipe {existing[0]!r}, not {self.recipe!r}")
            if not existing:
                db.conn.execute(
                    "INSERT INTO datasets (name, recipe, owner, description, created_at) VALUES (?, ?, ?, ?, ?)",
                    (self.dataset, self.recipe, current_user(), self.description, now_iso()),
                )
            same = self._same_derived(db, content_hash)
            if same is not None:  # the folder under .tmp goes when the block ends (nothing was committed)
                self.reused = True
                return same
            version = db.conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM dataset_versions WHERE dataset = ?", (self.dataset,)
            ).fetchone()[0]
            final = state_path("datasets", self.dataset) / f"v{version}"
            if final.exists():  # left by a crash between rename and insert
                shutil.rmtree(final)
            dv = DatasetVersion(
                dataset=self.dataset,
                version=version,
                recipe=self.recipe,
                operation=self.operation,
                params=self.params,
                parent=self.parent.ref if self.parent else None,
                parent_hash=self.parent.content_hash if self.parent else None,
                content_hash=content_hash,
                rows=main.rows,
                columns=list(main.schema.names),
                tables=tables,
                summary=summary or {},
                path=str(final),
                owner=current_user(),
                created_at=now_iso(),
            )
            (self._tmp / "meta.json").write_text(json.dumps(dv.to_json(), indent=2, default=str))
            self._tmp.rename(final)
            try:
                db.conn.execute(
                    """INSERT INTO dataset_versions (dataset, version, recipe, operation, params, parent, parent_hash,
                       content_hash, rows, columns, tables, summary, path, owner, created_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (dv.dataset, dv.version, dv.recipe, dv.operation, json.dumps(dv.params, default=str), dv.parent,
                     dv.parent_hash, dv.content_hash, dv.rows, json.dumps(dv.columns), json.dumps(dv.tables),
                     json.dumps(dv.summary, default=str), dv.path, dv.owner, dv.created_at),
                )
            except BaseException:
                shutil.rmtree(final, ignore_errors=True)
                raise
        self._committed = dv
        return dv

    def _same_derived(self, db, content_hash: str) -> DatasetVersion | None:
        """A version derived from the same parent with the same content, if this dataset has one: deriving
        it again (a second "Create split" with the same settings) returns it instead of a duplicate.
        Imports (no parent) always make a new version: re-importing is how a source is refreshed. A derivation
        that changes nothing (splitting a split version again the same way) is its parent."""
        if self.parent is None:
            return None
        if self.parent.dataset == self.dataset and self.parent.content_hash == content_hash:
            return self.parent
        rows = list(db.query(
            "SELECT * FROM dataset_versions WHERE dataset = ? AND parent = ? AND parent_hash = ? AND content_hash = ? "
            "ORDER BY version LIMIT 1", [self.dataset, self.parent.ref, self.parent.content_hash, content_hash]))
        return _row_to_version(rows[0]) if rows else None


def _nullable(schema: pa.Schema) -> pa.Schema:
    fields = []
    for f in schema:
        typ = f.type
        if pa.types.is_null(typ):
            typ = pa.string()
        fields.append(pa.field(f.name, typ, nullable=True))
    return pa.schema(fields)


def _row_to_version(row: dict) -> DatasetVersion:
    return DatasetVersion(
        dataset=row["dataset"], version=row["version"], recipe=row["recipe"], operation=row["operation"],
        params=json.loads(row["params"]), parent=row["parent"], parent_hash=row["parent_hash"],
        content_hash=row["content_hash"], rows=row["rows"], columns=json.loads(row["columns"]),
        tables=json.loads(row["tables"]), summary=json.loads(row["summary"] or "{}"), path=row["path"],
        owner=row["owner"], created_at=row["created_at"],
    )


def resolve(ref: "str | DatasetVersion") -> DatasetVersion:
    """'name' (latest version) or 'name@N' -> the version."""
    if isinstance(ref, DatasetVersion):
        return ref
    name, _, ver = str(ref).partition("@")
    with connect() as db:
        if ver:
            if not ver.isdigit():
                raise LabError(f"bad dataset reference {ref!r}: expected NAME or NAME@VERSION")
            rows = list(db.query("SELECT * FROM dataset_versions WHERE dataset = ? AND version = ?", [name, int(ver)]))
        else:
            rows = list(db.query(
                "SELECT * FROM dataset_versions WHERE dataset = ? ORDER BY version DESC LIMIT 1", [name]))
    if not rows:
        known = ", ".join(d["name"] for d in list_datasets()) or "none yet"
        raise NotFound(f"no dataset {ref!r} (known: {known})")
    return _row_to_version(rows[0])


def load_frame(ref: "str | DatasetVersion", table: str = MAIN_TABLE, columns: list[str] | None = None) -> pd.DataFrame:
    dv = resolve(ref)
    path = dv.table_path(table)
    if not path.exists():
        raise NotFound(f"dataset {dv.ref} has no table {table!r} (tables: {', '.join(dv.tables)})")
    return pq.read_table(path, columns=columns).to_pandas()


def iter_batches(ref: "str | DatasetVersion", table: str = MAIN_TABLE, batch_size: int = 50_000) -> Iterable[pd.DataFrame]:
    dv = resolve(ref)
    for batch in pq.ParquetFile(dv.table_path(table)).iter_batches(batch_size=batch_size):
        yield batch.to_pandas()


def list_datasets() -> list[dict]:
    """Every dataset with its versions (newest last)."""
    with connect() as db:
        datasets = list(db.query("SELECT * FROM datasets ORDER BY name"))
        versions = [_row_to_version(r) for r in db.query("SELECT * FROM dataset_versions ORDER BY dataset, version")]
    by_name: dict[str, list[DatasetVersion]] = {}
    for v in versions:
        by_name.setdefault(v.dataset, []).append(v)
    out = []
    for d in datasets:
        vs = by_name.get(d["name"], [])
        out.append({**d, "versions": [v.to_json() for v in vs], "latest": vs[-1].version if vs else None,
                    "rows": vs[-1].rows if vs else 0})
    return out


def delete_dataset(name: str) -> int:
    """Remove a dataset and all its versions (its owner or an admin only); returns how many versions went."""
    resolve(name)
    with connect() as db:
        owner = next(iter(db.query("SELECT owner FROM datasets WHERE name = ?", [name])), {}).get("owner")
    require_owner(owner, f"dataset {name}", "delete")
    folder = state_path("datasets", name)
    trash = state_path("datasets", TRASH) / uuid.uuid4().hex
    # Under the write lock, as commit() renames a new version into place: an import racing this delete
    # either lands before it (and is deleted with the rest) or after it (in a fresh folder), never half.
    with connect() as db, transaction(db):
        n = db.conn.execute("DELETE FROM dataset_versions WHERE dataset = ?", (name,)).rowcount
        db.conn.execute("DELETE FROM datasets WHERE name = ?", (name,))
        folder.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
    return n
