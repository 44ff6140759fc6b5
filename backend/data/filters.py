"""Column filters for datasets of any recipe, with the CLI's `--where` syntax.

    label=harmful          eq        label!=x              ne (rows without a label pass)
    difficulty in a,b      in        difficulty not in a,b not_in (rows without a value pass)
    score>=0.5             min       score<=0.9            max
    prompt~bomb            contains, ignoring case
    prompt_len>=20         len_min   prompt_len<=2000      len_max (characters; empty counts 0)
    label is null          is_null   label not null        not_null

`text` names the example's text (the recipe's text columns that have a value, one per line)
unless the data has a real column of that name, so `text_len>=20` works for every recipe.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from backend.data import store
from backend.data.curate import derive_version
from backend.data.store import DatasetVersion
from backend.errors import LabError
from backend.recipes import RECIPES, get_recipe
from backend.recipes.curating import RowFilter

OPS = ("eq", "ne", "in", "not_in", "min", "max", "contains", "len_min", "len_max", "is_null", "not_null")
TEXT_COLUMN = "text"
WHERE_SYNTAX = ("NAME=VALUE, NAME!=VALUE, NAME in A,B, NAME not in A,B, NAME>=NUMBER, NAME<=NUMBER, "
                "NAME~TEXT (contains, any case), NAME_len>=N, NAME_len<=N (text length), NAME is null, NAME not null")
_NAME = r"(?P<column>[^\s=!<>~,]+)"
_IN_RE = re.compile(_NAME + r"\s+(?P<negated>not\s+)?in\s+(?P<values>.*)", re.IGNORECASE | re.DOTALL)
_NULL_RE = re.compile(_NAME + r"\s+(?P<test>is\s+null|is\s+not\s+null|not\s+null)", re.IGNORECASE)
_COMPARE_RE = re.compile(_NAME + r"\s*(?P<op>>=|<=|!=|==|=|~|>|<)\s*(?P<value>.*)", re.DOTALL)
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@dataclass
class ColumnFilter:
    column: str
    op: str
    value: Any = None

    def __post_init__(self) -> None:
        where = f"filter on {self.column!r} ({self.op})"
        if self.op not in OPS:
            raise LabError(f"{where}: unknown op; use one of {', '.join(OPS)}")
        if self.op in ("is_null", "not_null"):
            self.value = None
        elif self.op in ("in", "not_in"):
            values = self.value.split(",") if isinstance(self.value, str) else list(self.value or [])
            self.value = [v for v in (v.strip() if isinstance(v, str) else v for v in values) if v != ""]
            if not self.value:
                raise LabError(f"{where}: needs at least one value")
        elif self.op in ("min", "max"):
            self.value = _to_float(self.value, where)
        elif self.op in ("len_min", "len_max"):
            length = _to_float(self.value, where)
            if length < 0 or not length.is_integer():
                raise LabError(f"{where}: a length must be a whole number >= 0, got {self.value!r}")
            self.value = int(length)
        elif self.op == "contains" and not (isinstance(self.value, str) and self.value):
            raise LabError(f"{where}: needs some text to look for")
        elif self.value is None:
            raise LabError(f"{where}: needs a value (to find missing values use is_null)")

    def describe(self) -> str:
        """The filter in `--where` syntax (parse_where reads it back)."""
        c, v = self.column, self.value
        match self.op:
            case "eq" | "ne":
                return f"{c}{'=' if self.op == 'eq' else '!='}{v}"
            case "in" | "not_in":
                return f"{c} {'in' if self.op == 'in' else 'not in'} {','.join(map(str, v))}"
            case "min" | "max":
                return f"{c}{'>=' if self.op == 'min' else '<='}{_number_text(v)}"
            case "len_min" | "len_max":
                return f"{c}_len{'>=' if self.op == 'len_min' else '<='}{v}"
            case "contains":
                return f"{c}~{v}"
            case "is_null":
                return f"{c} is null"
        return f"{c} not null"


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _to_float(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LabError(f"{where} needs a number, got {value!r}") from None
    if number != number:
        raise LabError(f"{where} needs a number, got {value!r}")
    return number


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_where(expr: str) -> ColumnFilter:
    """One `--where` expression -> ColumnFilter (syntax in the module docstring)."""
    text = (expr or "").strip()
    if not text:
        raise LabError(f"empty filter; write one of: {WHERE_SYNTAX}")
    if m := _NULL_RE.fullmatch(text):
        test = " ".join(m["test"].lower().split())
        return ColumnFilter(m["column"], "is_null" if test == "is null" else "not_null")
    if m := _IN_RE.fullmatch(text):
        values = [_unquote(v) for v in m["values"].split(",")]
        return ColumnFilter(m["column"], "not_in" if m["negated"] else "in", [v for v in values if v])
    m = _COMPARE_RE.fullmatch(text)
    if not m:
        raise LabError(f"cannot read filter {expr!r}; write one of: {WHERE_SYNTAX}")
    column, op, raw = m["column"], m["op"], m["value"].strip()
    if op in (">", "<"):
        raise LabError(f"filter {expr!r}: strict '{op}' is not supported; use '{op}='")
    if not raw:
        raise LabError(f"filter {expr!r}: no value after '{op}' (to match empty text write {column}{op}\"\")")
    if op in (">=", "<="):
        if column.endswith("_len") and len(column) > 4:
            return ColumnFilter(column[:-4], "len_min" if op == ">=" else "len_max", _unquote(raw))
        return ColumnFilter(column, "min" if op == ">=" else "max", _unquote(raw))
    kind = {"=": "eq", "==": "eq", "!=": "ne", "~": "contains"}[op]
    return ColumnFilter(column, kind, _unquote(raw))


def _recipe_text(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The example's text: its text columns that have a value, one per line."""
    texts = ["\n".join(str(v) for v in values if not pd.isna(v))
             for values in zip(*(frame[c].tolist() for c in columns))]
    return pd.Series(texts, index=frame.index, dtype="str")


def _as_text(series: pd.Series) -> pd.Series:
    return series if pd.api.types.is_string_dtype(series.dtype) else series.astype("str")


def _coerce(series: pd.Series, value: Any, f: ColumnFilter) -> Any:
    """The filter value in the column's type: numbers compare as numbers, flags as flags, the rest as text."""
    if pd.api.types.is_bool_dtype(series.dtype):
        word = str(value).strip().lower()
        if word not in _TRUE | _FALSE:
            raise LabError(f"filter {f.describe()}: column {f.column!r} holds true/false, not {value!r}")
        return word in _TRUE
    if pd.api.types.is_numeric_dtype(series.dtype):
        return _to_float(value, f"filter {f.describe()}: column {f.column!r} holds numbers, so it")
    return str(value)


def column_mask(series: pd.Series, f: ColumnFilter) -> np.ndarray:
    """One boolean per value: does it pass the filter."""
    if f.op == "is_null":
        return series.isna().to_numpy()
    if f.op == "not_null":
        return series.notna().to_numpy()
    if f.op in ("min", "max"):
        if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
            raise LabError(f"filter {f.describe()}: column {f.column!r} does not hold numbers "
                           f"(for text length write {f.column}_len>=N)")
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return values >= f.value if f.op == "min" else values <= f.value
    if f.op in ("len_min", "len_max"):
        lengths = _as_text(series).str.len().fillna(0).to_numpy()
        return lengths >= f.value if f.op == "len_min" else lengths <= f.value
    if f.op == "contains":
        return _as_text(series).str.contains(f.value, case=False, regex=False, na=False).to_numpy(dtype=bool)
    if f.op in ("in", "not_in"):
        found = series.isin([_coerce(series, v, f) for v in f.value]).to_numpy(dtype=bool)
        return found if f.op == "in" else ~found
    equal = (series == _coerce(series, f.value, f)).to_numpy(dtype=bool, na_value=False)
    return equal if f.op == "eq" else ~equal


def filter_mask(frame: pd.DataFrame, filters: list[ColumnFilter], text_columns: list[str]) -> np.ndarray:
    """One boolean per row: does it pass every column filter (`text` means the recipe's text columns joined)."""
    keep = np.ones(len(frame), dtype=bool)
    for f in filters:
        virtual = f.column == TEXT_COLUMN and TEXT_COLUMN not in frame.columns
        if not virtual and f.column not in frame.columns:
            raise LabError(f"filter {f.describe()}: no column {f.column!r}; columns are {', '.join(frame.columns)}")
        keep &= column_mask(_recipe_text(frame, text_columns) if virtual else frame[f.column], f)
    return keep


def preview_mask(frame: pd.DataFrame, recipe_name: str, filters: list[ColumnFilter],
                 sliders: RowFilter | None = None) -> np.ndarray:
    """What the Curate tab shows while sliders move: the rows that would be kept, without storing anything."""
    text_columns = [c for c in get_recipe(recipe_name).text_columns if c in frame.columns]
    keep = filter_mask(frame, filters, text_columns)
    return keep & sliders.mask(frame) if sliders else keep


def _require_columns(available: list[str], needed: list[str], what: str) -> None:
    missing = [c for c in needed if c not in available]
    if missing:
        raise LabError(f"{what} needs column(s) {', '.join(missing)}, which the data lacks "
                       f"(it has: {', '.join(map(str, available))})")


def _order_columns(sliders: RowFilter, source: DatasetVersion) -> list[str]:
    """The columns a curate filter reads, plus the stored order it sorts by where the data has one."""
    return sliders.columns() + [c for c in ("seed_rank",) if c in source.columns]


def _slider_params(sliders: RowFilter | None) -> dict:
    """The settings of the curate filter used, under its key; every recipe filter's key is present (None when
    unused), so a filter version's params have the same shape whichever recipe made it."""
    keys = {r.curate_filter.params_key: None for r in RECIPES.values() if r.curate_filter}
    if sliders is not None:
        keys[sliders.params_key] = asdict(sliders)
    return keys


def filter_rows(ref: str, filters: list[ColumnFilter], out: str, sliders: RowFilter | None = None) -> DatasetVersion:
    """Store the rows of `ref` that pass every filter as a new version of dataset `out` (same recipe; other
    tables copied unchanged). With `sliders` (a recipe's curate filter), those apply too and rows come in the
    order the filter gives."""
    if not filters and sliders is None:
        raise LabError(f"no filter given; write one of: {WHERE_SYNTAX}")
    source = store.resolve(ref)
    store.check_output(out, source.recipe)  # the output name, before any work
    recipe = get_recipe(source.recipe)
    virtual_text = TEXT_COLUMN not in source.columns
    text_columns = [c for c in recipe.text_columns if c in source.columns]
    needed: set[str] = set(_order_columns(sliders, source)) if sliders else set()
    for f in filters:
        if f.column == TEXT_COLUMN and virtual_text:
            if not text_columns:
                raise LabError(f"filter {f.describe()}: {source.ref} has none of the text columns "
                               f"{', '.join(recipe.text_columns)}")
            needed.update(text_columns)
        elif f.column not in source.columns:
            also = f" (and '{TEXT_COLUMN}', its text)" if virtual_text else ""
            raise LabError(f"filter {f.describe()}: {source.ref} has no column {f.column!r}; its columns are "
                           f"{', '.join(source.columns)}{also}")
        else:
            needed.add(f.column)
    if sliders:
        _require_columns(source.columns, sliders.columns(), f"the {sliders.title} filter on {source.ref}")
    frame = store.load_frame(source, columns=[c for c in source.columns if c in needed])
    keep = filter_mask(frame, filters, text_columns)
    rows = sliders.order(frame, keep & sliders.mask(frame)) if sliders else np.flatnonzero(keep)
    where = [f.describe() for f in filters]
    if not len(rows):
        what = "; ".join(where + ([f"the {sliders.title} sliders"] if sliders else []))
        raise LabError(f"no rows of {source.ref} pass {what}; nothing was stored")
    params = {"where": [asdict(f) for f in filters], **_slider_params(sliders)}
    return derive_version(source, out, "filter", params, rows,
                          {"kept": int(len(rows)), "of": source.rows, "where": where})


def filter_with(ref: str, sliders: RowFilter, out: str) -> DatasetVersion:
    """Store the rows of `ref` that pass a recipe's curate filter, in the filter's order, as a new version of
    dataset `out` (its params: the filter's settings alone)."""
    source = store.resolve(ref)
    store.check_output(out, source.recipe)  # the output name, before any work
    _require_columns(source.columns, sliders.columns(), f"the {sliders.title} filter on {source.ref}")
    frame = store.load_frame(source, columns=_order_columns(sliders, source))
    rows = sliders.order(frame, sliders.mask(frame))
    if not len(rows):
        shown = ", ".join(f"{k}={v}" for k, v in asdict(sliders).items() if v not in ({}, None))
        raise LabError(f"no rows of {source.ref} pass the {sliders.title} filter ({shown}); nothing was stored")
    return derive_version(source, out, "filter", asdict(sliders), rows, {"kept": int(len(rows)), "of": source.rows})
