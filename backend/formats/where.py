"""Where a value came from in an input file, and how a value reads in an error message."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from backend.errors import DataError


@dataclass(frozen=True)
class Where:
    """A place in an input file, for error messages."""

    file: str
    row: int | None = None
    line: int | None = None
    detail: str | None = None

    def error(self, message: str, field: str | None = None) -> DataError:
        prefix = f"{self.detail}: " if self.detail else ""
        suffix = f" (line {self.line})" if self.line is not None and self.line != self.row else ""
        return DataError(prefix + message + suffix, file=self.file, row=self.row, field=field)


def describe(value: Any) -> str:
    """How a value reads in an error message: "text 'abc'", "a list", ..."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, (datetime, date)):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    return f"text {str(value)[:40]!r}"
