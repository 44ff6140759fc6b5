"""The numbers a launch takes: one rule per field, declared next to it, checked in one place.

A dataclass field carries its rule in its metadata, `field(..., metadata={"help": ..., "valid": Range(1, 4096)})`;
`check_fields(obj, "teacher")` (called from the dataclass's `__post_init__`) refuses any value that is not a
finite number inside its range, naming the field and the option that sets it, before any job starts or any
request is paid. Functions that take numbers as arguments (the index build, the estimate, a chat) call
`check_value` with a `Range` of their own. The CLI, the pages and spec files all go through these, so `nan`
(which compares false with everything and would switch a budget cap off), `inf`, `1e309` and negative counts
are refused the same way everywhere.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Integral, Real
from typing import Any

from backend.errors import LabError


class InvalidValue(LabError):
    pass


@dataclass(frozen=True)
class Range:
    """A finite number in [low, high] (None: unbounded on that side); `above` makes low exclusive.
    `integer`: whole numbers only; `optional`: None is allowed (it means "unset"); `cli`: the option that sets it."""

    low: float | None = None
    high: float | None = None
    integer: bool = False
    optional: bool = False
    above: bool = False
    cli: str | None = None
    meaning: str = ""  # what the special values mean, e.g. "-1 = use epochs"

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            bounds = f"{'above' if self.above else 'from'} {_num(self.low)} {'up ' if self.above else ''}to {_num(self.high)}"
        elif self.low is not None:
            bounds = f"above {_num(self.low)}" if self.above else f"{_num(self.low)} or more"
        elif self.high is not None:
            bounds = f"at most {_num(self.high)}"
        else:
            bounds = "that is finite"
        extra = [self.meaning] if self.meaning else []
        if self.optional:
            extra.append("empty = unset")
        return f"{kind} {bounds}" + (f" ({'; '.join(extra)})" if extra else "")

    def check(self, name: str, value: Any) -> Any:
        label = f"{name} ({self.cli})" if self.cli else name
        if value is None:
            if self.optional:
                return None
            raise InvalidValue(f"{label} must be {self.describe()}, got nothing")
        if isinstance(value, bool) or not isinstance(value, Real):
            raise InvalidValue(f"{label} must be {self.describe()}, got {value!r}")
        if not math.isfinite(value):
            raise InvalidValue(f"{label} must be {self.describe()}, got {value!r} (not a finite number)")
        if self.integer and not (isinstance(value, Integral) or float(value).is_integer()):
            raise InvalidValue(f"{label} must be {self.describe()}, got {value!r}")
        low_bad = self.low is not None and (value <= self.low if self.above else value < self.low)
        if low_bad or (self.high is not None and value > self.high):
            raise InvalidValue(f"{label} must be {self.describe()}, got {value!r}")
        return value


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def check_value(name: str, value: Any, rule: Range) -> Any:
    """`value` unchanged when `rule` allows it, else InvalidValue naming `name`."""
    return rule.check(name, value)


def check_fields(obj: Any, what: str) -> None:
    """Check every field of the dataclass `obj` whose metadata declares a `valid` Range."""
    for f in fields(obj):
        rule = f.metadata.get("valid")
        if rule is not None:
            try:
                rule.check(f.name, getattr(obj, f.name))
            except InvalidValue as exc:
                raise InvalidValue(f"{what}: {exc}") from None


# Shared ranges: the same quantity is checked the same way wherever it appears.
COUNT_LIMIT = 10**9  # rows, steps, items: more than any run here will see
TOKENS = Range(1, 10_000_000, integer=True)
SEED = Range(0, 2**32 - 1, integer=True)
TEMPERATURE = Range(0, 2)
USD = Range(0, 10_000_000, optional=True)
ROW_LIMIT = Range(1, COUNT_LIMIT, integer=True, optional=True)
SECONDS = Range(0, 7 * 86_400, above=True)
