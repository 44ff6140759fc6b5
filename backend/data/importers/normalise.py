"""Raw values from any file -> a recipe's columns: kinds coerced, required values checked, labels tallied.

Text, int, float, bool and JSON columns each accept the spellings real files use (numbers as CSV
text, booleans as "True"/"1", JSON as text or as already-parsed objects) and reject anything else
with a message naming the file, row and field. Values outside a column's choices are counted over
the whole import; the user decides whether they stop it, are dropped or are kept. An empty value in
a required column with choices (a missing label) is counted the same way, as "(missing)", and kept empty.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date, datetime
from typing import Any, Callable, Iterable

import pandas as pd

from backend.data.importers.readers import Where, describe
from backend.errors import LabError
from backend.recipes.base import Column, Recipe

BAD_LABEL_POLICIES = ("error", "drop", "keep")
PANDAS_DTYPES = {"text": "str", "json": "str", "int": "Int64", "float": "Float64", "bool": "boolean"}
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_LISTED_BAD_VALUES = 10
MISSING_VALUE = "(missing)"  # how an empty label is counted among the bad ones (the same words as splits use)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def to_text(value: Any, where: Where, field: str, structured_ok: bool = False) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if structured_ok and isinstance(value, (dict, list)):
        return compact_json(value)
    raise where.error(f"expected text, got {describe(value)}", field=field)


def to_int(value: Any, where: Where, field: str) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = None
    if isinstance(number, float) and number.is_integer():
        return int(number)
    raise where.error(f"expected a whole number, got {describe(value)}", field=field)


def to_float(value: Any, where: Where, field: str) -> float | None:
    if _blank(value):
        return None
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
        if number is not None and math.isnan(number):
            return None
    if number is None or not math.isfinite(number):
        raise where.error(f"expected a number, got {describe(value)}", field=field)
    return number


def to_bool(value: Any, where: Where, field: str) -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise where.error(f"expected true or false, got {describe(value)}", field=field)


def parse_json_text(value: Any, where: Where, field: str) -> Any:
    """A value as given, or parsed when it is JSON text; invalid JSON names the field and position."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise where.error(f"is not valid JSON ({exc.msg} at character {exc.pos + 1})", field=field) from None


def to_json_text(value: Any, where: Where, field: str) -> str | None:
    """Compact JSON text; text input must already be valid JSON."""
    if _blank(value):
        return None
    if isinstance(value, str):
        value = parse_json_text(value, where, field)
    elif isinstance(value, (bytes, datetime, date)):
        raise where.error(f"expected JSON, got {describe(value)}", field=field)
    return compact_json(value)


COERCE: dict[str, Callable[[Any, Where, str], Any]] = {
    "text": to_text, "int": to_int, "float": to_float, "bool": to_bool, "json": to_json_text,
}


def to_frame(rows: list[dict], columns: list[tuple[str, str]]) -> pd.DataFrame:
    """Rows -> a DataFrame whose dtypes depend only on the column kinds, so every batch has the same schema."""
    return pd.DataFrame({name: pd.Series([row.get(name) for row in rows], dtype=PANDAS_DTYPES[kind])
                         for name, kind in columns})


class LabelTally:
    """Values outside a column's allowed choices, counted over every file of one import."""

    def __init__(self, recipe: Recipe, policy: str):
        self.recipe, self.policy = recipe, policy
        self.counts: dict[str, Counter] = {}
        self.first: dict[str, Where] = {}

    def accept(self, column: Column, value: str, where: Where) -> bool:
        """Record a bad value; False when its row must not be kept."""
        self.counts.setdefault(column.name, Counter())[value] += 1
        self.first.setdefault(column.name, where)
        return self.policy == "keep"

    @property
    def rows(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def summary(self) -> dict[str, dict[str, int]]:
        return {column: dict(counts.most_common()) for column, counts in self.counts.items()}

    def error(self) -> LabError | None:
        if self.policy != "error" or not self.counts:
            return None
        parts, firsts = [], []
        for name, counts in self.counts.items():
            column = self.recipe.column(name)
            total = sum(counts.values())
            listed = ", ".join(f"{value} ({n})" for value, n in counts.most_common(_LISTED_BAD_VALUES))
            if len(counts) > _LISTED_BAD_VALUES:
                listed += f" and {len(counts) - _LISTED_BAD_VALUES} more"
            what = "labels" if name == self.recipe.label_column else f"'{name}' values"
            verb = "row has" if total == 1 else "rows have"
            parts.append(f"{total} {verb} {what} outside {'/'.join(column.choices)}: {listed}")
            first = self.first[name]
            row = f" row {first.row}," if first.row else ","
            firsts.append(f"{first.file}{row} field '{name}'")
        return BadLabels("; ".join(parts), "; ".join(firsts))


class BadLabels(LabError):
    """Values outside a column's choices stopped an import. The message names no CLI flag or form field: the
    CLI and the Data page each say where to choose drop or keep (`with_hint`)."""

    HINT = "import again dropping or keeping those rows"

    def __init__(self, found: str, first: str):
        self.found, self.first = found, first
        super().__init__(self.with_hint(self.HINT))

    def with_hint(self, hint: str) -> str:
        return f"{self.found}; {hint} (first: {self.first})"

    def __reduce__(self):
        return type(self), (self.found, self.first)


class RowNormaliser:
    """Turns one source row (already keyed by recipe column) into a stored row, or None when it is dropped."""

    def __init__(self, recipe: Recipe, labels: LabelTally, extra_columns: Iterable[str] = ()):
        self.recipe, self.labels = recipe, labels
        self.extra_columns = list(extra_columns)
        self._ids: set[int] = set()

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(c.name, c.kind) for c in self.recipe.columns] + [(name, "text") for name in self.extra_columns]

    def normalise(self, values: dict, where: Where, default_id: str,
                  fields: dict[str, str] | None = None) -> dict | None:
        """`fields` names the source field behind a column (for messages) where it differs from the column."""
        fields = fields or {}
        row: dict[str, Any] = {}
        keep = True
        for column in self.recipe.columns:
            field = fields.get(column.name, column.name)
            value = COERCE[column.kind](values.get(column.name), where, field)
            if column.name == "id" and value is None:
                value = default_id
            if value is None:
                if column.required and column.choices:  # a missing label: the label policy decides, like a bad one
                    keep = self.labels.accept(column, MISSING_VALUE, where) and keep
                elif column.required:
                    raise where.error("a required value is missing or empty", field=field)
            elif column.choices:
                value = value.strip().lower()
                if value not in column.choices:
                    keep = self.labels.accept(column, value, where) and keep
            row[column.name] = value
        for name in self.extra_columns:
            row[name] = to_text(values.get(name), where, name, structured_ok=True)
        if not keep:
            return None
        key = hash(row["id"])
        if key in self._ids:
            raise where.error(f"the id {row['id']!r} is already used by an earlier row; ids must be unique",
                              field=fields.get("id", "id"))
        self._ids.add(key)
        return row


def check_mapping(recipe: Recipe, mapping: dict[str, str] | None) -> dict[str, str]:
    """A mapping {recipe column: source column}; every key must be one of the recipe's columns."""
    mapping = dict(mapping or {})
    for column, source in mapping.items():
        if recipe.column(column) is None:
            raise LabError(f"mapping: {column!r} is not a column of recipe {recipe.name!r} "
                           f"(columns: {', '.join(recipe.column_names)})")
        if not isinstance(source, str) or not source.strip():
            raise LabError(f"mapping: the source column for {column!r} must be a non-empty name")
    return mapping


def apply_mapping(data: dict, mapping: dict[str, str]) -> dict:
    """The record keyed by recipe column: mapped source fields renamed, everything else as it was."""
    if not mapping:
        return data
    sources = set(mapping.values())
    out = {key: value for key, value in data.items() if key not in sources}
    out.update({column: data.get(source) for column, source in mapping.items()})
    return out
