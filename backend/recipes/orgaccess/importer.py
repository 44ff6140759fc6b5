"""OrgAccess (seed 003) importer: the released easy/medium/hard files, or CSV/JSONL/JSON with the same columns.

Difficulty comes from a `difficulty` column when a row has one, otherwise from the file name
(easy-00000-of-00001.parquet, medium_test.csv, ...). The released files carry labels outside
full/partial/rejected (37 distinct values in easy: "reject", "approve", "r", ...); they go through the
import's bad-label policy, never guessed.

The files' `id` column is data, not a row key: in the released easy file it is null on about 97% of
rows and its other values repeat (up to 12 rows each); in medium it is always null. It is kept as
`source_id`, and every row is keyed by its file and position: <file stem>-<row number>
(easy-00000-of-00001-1, ...), so the three released files import in one go. Seed 003's split
(`data split --preset orgaccess`: 25,304 / 6,326 / 11,484 / 2,073 / 10,613) uses every row, so
import them with --on-bad-label keep to reproduce it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from backend.formats.files import expand_paths
from backend.formats.records import iter_records
from backend.formats.values import apply_mapping
from backend.formats.where import Where, describe
from backend.recipes.importing import ImportRun
from backend.recipes.orgaccess import DIFFICULTIES

COLUMNS = ("user_role", "query", "expected_response", "rationale", "difficulty", "query_timestamp")


def difficulty_from_name(path: Path) -> str | None:
    stem = path.stem.lower()
    for difficulty in DIFFICULTIES:
        if stem.startswith(difficulty):
            return difficulty
    named = [d for d in DIFFICULTIES if d in re.split(r"[^a-z]+", stem)]
    return named[0] if len(named) == 1 else None


def permissions_object(value: Any, where: Where) -> dict | None:
    """The permissions as an object: JSON text is parsed (and must be an object), a dict is taken as is."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise where.error(f"permissions is not JSON ({exc.msg} at character {exc.pos + 1}); expected an "
                              'object like {"department": ..., "access_level": ...}', field="permissions") from None
    if not isinstance(parsed, dict):
        raise where.error(f"expected a JSON object, got {describe(parsed)}", field="permissions")
    return parsed


def read(run: ImportRun, paths: list[Path], mapping: dict[str, str]) -> None:
    for path in expand_paths(paths):
        name = run.add_source(path)
        file_difficulty = difficulty_from_name(path)
        for record in iter_records(path, name):
            data = apply_mapping(record.data, mapping)
            values = {column: data.get(column) for column in COLUMNS}
            values["source_id"] = data.get("source_id") if "source_id" in mapping else data.get("id")
            values["permissions"] = permissions_object(data.get("permissions"), record.where)
            if values["difficulty"] is None or values["difficulty"] == "":
                if file_difficulty is None:
                    raise record.where.error("no difficulty: name the file easy-..., medium-... or hard-... "
                                             "or give the rows a 'difficulty' column", field="difficulty")
                values["difficulty"] = file_difficulty
            run.add(values, record.where, default_id=f"{path.stem}-{record.where.row}",
                    fields={**mapping, "source_id": mapping.get("source_id") or mapping.get("id", "id")})
