"""Raw values from any file -> a recipe's columns: kinds coerced, required values checked, labels tallied.

Each column's kind is coerced by backend.formats.values (which accepts the spellings real files use
and rejects anything else with a message naming the file, row and field). Values outside a column's
choices are counted over the whole import; the user decides whether they stop it, are dropped or
are kept. An empty value in a required column with choices (a missing label) is counted the same
way, as "(missing)", and kept empty.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

import pandas as pd

from backend.errors import LabError
from backend.formats.values import COERCE, to_text
from backend.formats.where import Where
from backend.recipes.base import Column, Recipe

BAD_LABEL_POLICIES = ("error", "drop", "keep")
PANDAS_DTYPES = {"text": "str", "json": "str", "int": "Int64", "float": "Float64", "bool": "boolean"}
_LISTED_BAD_VALUES = 10
MISSING_VALUE = "(missing)"  # how an empty label is counted among the bad ones (the same words as splits use)


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
