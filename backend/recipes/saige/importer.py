"""SAIGE (seed 001) importer: experiences joined to their scenarios from a SAIGE SQLite database.

The database is opened read-only and streamed in batches. Like the seed, the join is an inner
join (experiences whose scenario is missing are counted, not imported). Older databases lack
`buddhist_scores` / `buddhist_alignment`; those become empty, and the weighted score 0.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from backend.errors import DataError, LabError
from backend.formats.files import require_exists
from backend.formats.values import to_float
from backend.formats.where import Where, describe
from backend.recipes.importing import ImportRun
from backend.recipes.saige import HARM_DIMENSIONS, PRINCIPLES, alignment_level, weighted_score

SQLITE_HEADER = b"SQLite format 3\x00"
FETCH_ROWS = 5_000
REQUIRED = {
    "scenarios": ("id", "context", "person_state"),
    "experiences": ("id", "scenario_id", "ai_response", "actual_harm", "harm_breakdown"),
}
OPTIONAL = {
    "scenarios": ("facts", "critical_info", "difficulty_level", "harm_type", "expected_response"),
    "experiences": ("predicted_harm", "learned_lesson", "buddhist_scores", "buddhist_alignment", "model_version",
                    "timestamp"),
}
_ALIAS = {"scenarios": "s", "experiences": "e"}
_RENAMED = {("experiences", "id"): "experience_id", ("scenarios", "id"): None}


def _check_file(path: Path, name: str) -> None:
    if path.is_dir():
        raise DataError("expected a SAIGE database file (saige.db), got a folder", file=str(path))
    with open(path, "rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if not header:
        raise DataError("the file is empty", file=name)
    if header != SQLITE_HEADER:
        raise DataError("not a SQLite database (expected a SAIGE saige.db)", file=name)


def _select(conn: sqlite3.Connection, name: str) -> str:
    """The join query; names the missing tables or columns, and reads absent optional columns as NULL."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in REQUIRED if t not in tables]
    if missing:
        raise DataError(f"not a SAIGE database: no table {' or '.join(missing)} (tables: "
                        f"{', '.join(sorted(tables)) or 'none'})", file=name)
    parts = []
    present_experiences = {row[1] for row in conn.execute("PRAGMA table_info(experiences)")}
    for table in ("experiences", "scenarios"):
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        lacking = [c for c in REQUIRED[table] if c not in present]
        if lacking:
            raise DataError(f"table '{table}' lacks column(s) {', '.join(lacking)}", file=name, field=lacking[0])
        for column in REQUIRED[table] + OPTIONAL[table]:
            alias = _RENAMED.get((table, column), column)
            if alias is None:
                continue
            source = f"{_ALIAS[table]}.{column}" if column in present else "NULL"
            parts.append(f"{source} AS {alias}")
    # Stored in seed 001's order (its converter's ORDER BY, ties by id), so filters keep it for free.
    return (f"SELECT {', '.join(parts)} FROM experiences e JOIN scenarios s ON s.id = e.scenario_id "
            f"ORDER BY e.actual_harm ASC, {'e.timestamp' if 'timestamp' in present_experiences else 'NULL'} DESC, e.id")


def _json(value: Any, where: Where, field: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise where.error(f"expected JSON text, got {describe(value)}", field=field)
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise where.error(f"not valid JSON ({exc.msg} at character {exc.pos + 1})", field=field) from None


def _scores(parsed: Any, where: Where, field: str, keys: tuple[str, ...]) -> dict[str, float | None] | None:
    if parsed is None:
        return None
    if not isinstance(parsed, dict):
        raise where.error(f"expected a JSON object, got {describe(parsed)}", field=field)
    return {key: to_float(parsed.get(key), where, f"{field}.{key}") for key in keys}


def _values(row: dict, where: Where) -> dict:
    harm = _scores(_json(row["harm_breakdown"], where, "harm_breakdown"), where, "harm_breakdown", HARM_DIMENSIONS)
    if harm is None:
        raise where.error("a required value is missing or empty", field="harm_breakdown")
    stored_scores = _json(row["buddhist_scores"], where, "buddhist_scores")
    principles = _scores(stored_scores, where, "buddhist_scores", PRINCIPLES) or {}
    weighted = weighted_score({k: v for k, v in principles.items() if v is not None})
    return {
        **row,
        "id": str(row["experience_id"]),
        **{f"harm_{d}": harm[d] for d in HARM_DIMENSIONS},
        **{p: principles.get(p) for p in PRINCIPLES},
        "buddhist_scores": stored_scores,
        "buddhist_weighted": weighted,
        "computed_alignment": alignment_level(weighted),
    }


def read(run: ImportRun, paths: list[Path], mapping: dict[str, str]) -> None:
    if len(paths) != 1:
        raise LabError(f"saige imports one database at a time; got {len(paths)} paths")
    path = require_exists(paths[0])
    _check_file(path, path.name)
    name = run.add_source(path)
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            cursor = conn.execute(_select(conn, name))
            names = [d[0] for d in cursor.description]
            rank = 0
            while batch := cursor.fetchmany(FETCH_ROWS):
                for record in batch:
                    row = dict(zip(names, record), seed_rank=rank)
                    rank += 1
                    where = Where(name, detail=f"experience {row['experience_id']} (scenario {row['scenario_id']})")
                    run.add(_values(row, where), where, default_id=str(row["experience_id"]))
            orphans = conn.execute("SELECT COUNT(*) FROM experiences e WHERE NOT EXISTS "
                                   "(SELECT 1 FROM scenarios s WHERE s.id = e.scenario_id)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read the database: {exc}", file=name) from None
    run.extra_summary["experiences_without_scenario"] = orphans
