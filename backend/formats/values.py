"""Raw values from any file -> text, whole numbers, numbers, booleans or JSON text.

Each coercer accepts the spellings real files use (numbers as CSV text, booleans as "True"/"1",
JSON as text or as already-parsed objects), gives None for a blank value and rejects anything else
with a message naming the file, row and field.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Any, Callable

from backend.formats.where import Where, describe

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


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



def apply_mapping(data: dict, mapping: dict[str, str]) -> dict:
    """The record keyed by recipe column: mapped source fields renamed, everything else as it was."""
    if not mapping:
        return data
    sources = set(mapping.values())
    out = {key: value for key, value in data.items() if key not in sources}
    out.update({column: data.get(source) for column, source in mapping.items()})
    return out
