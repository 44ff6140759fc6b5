"""Seed 001's SAIGE filter, vectorised: harm and Buddhist-principle sliders over a normalised SAIGE frame.

The recipe's curate filter (`Recipe.curate_filter`): backend.data.filters stores what it keeps, the
Data page draws its sliders (`from_controls` turns their values into a `SaigeFilter`).

With the default fields the kept rows, in order, are exactly what seed 001's converter
(`get_high_quality_experiences`) returns from the same SAIGE database:

    SQL     actual_harm <= max_harm AND buddhist_alignment IS NOT NULL
            AND buddhist_alignment IN (min_alignment and the levels above it; no IN test for 'low')
            ORDER BY actual_harm ASC, timestamp DESC
    Python  drop rows whose weighted principle score is below min_buddhist (no scores weigh 0)

The weighted score is read from `buddhist_weighted`, which the importer computes with the seed's
weighting (backend.recipes.saige.weighted_score). The other fields narrow the result further.
The seed's function defaults are 0.3 / 6.0 / good; its pipeline's (and ours) 0.25 / 6.5 / good.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from backend.errors import LabError
from backend.recipes.saige import ALIGNMENT_LEVELS, HARM_DIMENSIONS, PRINCIPLES

BASE_COLUMNS = ("actual_harm", "buddhist_weighted", "buddhist_alignment", "timestamp")
HARM_EDGES = np.linspace(0.0, 1.0, 21)
SCORE_EDGES = np.linspace(0.0, 10.0, 21)


def _number(name: str, value: object, low: float, high: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise LabError(f"SAIGE filter: {name} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise LabError(f"SAIGE filter: {name} must be between {low:g} and {high:g}, got {value!r}")
    return number


def _difficulty(name: str, value: object) -> int | None:
    if value is None:
        return None
    number = _number(name, value, 1, 5)
    if number != int(number):
        raise LabError(f"SAIGE filter: {name} must be a whole number from 1 to 5, got {value!r}")
    return int(number)


@dataclass
class SaigeFilter:
    """The sliders' settings (a `RowFilter`, backend.recipes.curating): validated on creation."""

    title: ClassVar[str] = "SAIGE"
    params_key: ClassVar[str] = "saige"  # filter_rows stores the settings under params["saige"]

    max_harm: float = field(default=0.25, metadata={
        "help": "Keep rows whose actual_harm is at most this (0 harmless .. 1)."})
    min_buddhist: float = field(default=6.5, metadata={
        "help": "Keep rows whose weighted principle score (0.25 ahimsa + 0.20 sacca + 0.25 karuna + 0.20 panna "
                "+ 0.10 upekkha) is at least this (0-10); rows without scores weigh 0."})
    min_alignment: str = field(default="good", metadata={
        "help": "Lowest stored alignment level kept: excellent, good (good or excellent), moderate, "
                "or low (any stored level; rows without one are always dropped)."})
    principle_min: dict[str, float] = field(default_factory=dict, metadata={
        "help": 'Per-principle minimum (0-10), e.g. {"karuna": 7}; a missing principle counts 0.'})
    harm_max: dict[str, float] = field(default_factory=dict, metadata={
        "help": 'Per-dimension harm maximum (0-1), e.g. {"deception": 0.1}; rows without that dimension '
                "are dropped."})
    difficulty_min: int | None = field(default=None, metadata={
        "help": "Lowest difficulty_level kept (1 simple .. 5 complex); rows without one are dropped."})
    difficulty_max: int | None = field(default=None, metadata={
        "help": "Highest difficulty_level kept (1 .. 5); rows without one are dropped."})

    def __post_init__(self) -> None:
        self.max_harm = _number("max_harm", self.max_harm, 0, 1)
        self.min_buddhist = _number("min_buddhist", self.min_buddhist, 0, 10)
        if self.min_alignment not in ALIGNMENT_LEVELS:
            raise LabError(
                f"SAIGE filter: min_alignment must be one of {', '.join(ALIGNMENT_LEVELS)}, got {self.min_alignment!r}")
        for name, allowed in (("principle_min", PRINCIPLES), ("harm_max", HARM_DIMENSIONS)):
            unknown = [key for key in getattr(self, name) if key not in allowed]
            if unknown:
                raise LabError(
                    f"SAIGE filter: {name} has unknown key(s) {', '.join(map(repr, unknown))}; use {', '.join(allowed)}")
        self.principle_min = {p: _number(f"principle_min[{p!r}]", v, 0, 10) for p, v in self.principle_min.items()}
        self.harm_max = {d: _number(f"harm_max[{d!r}]", v, 0, 1) for d, v in self.harm_max.items()}
        self.difficulty_min = _difficulty("difficulty_min", self.difficulty_min)
        self.difficulty_max = _difficulty("difficulty_max", self.difficulty_max)
        if self.difficulty_min is not None and self.difficulty_max is not None and self.difficulty_min > self.difficulty_max:
            raise LabError(
                f"SAIGE filter: difficulty_min ({self.difficulty_min}) is above difficulty_max ({self.difficulty_max})")

    def columns(self) -> list[str]:
        """The frame columns this filter reads (and `seed_rank`, for the order, where the data has it)."""
        extra = [*self.principle_min, *(f"harm_{d}" for d in self.harm_max)]
        if self.difficulty_min is not None or self.difficulty_max is not None:
            extra.append("difficulty_level")
        return [*BASE_COLUMNS, *extra]

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        return saige_mask(frame, self)

    def order(self, frame: pd.DataFrame, keep: np.ndarray) -> np.ndarray:
        return saige_order(frame, keep)


def require_columns(available: "pd.Index | list[str]", needed: list[str], what: str) -> None:
    missing = [c for c in needed if c not in available]
    if missing:
        raise LabError(f"{what} needs column(s) {', '.join(missing)}, which the data lacks "
                       f"(it has: {', '.join(map(str, available))})")


def _floats(frame: pd.DataFrame, column: str) -> np.ndarray:
    try:
        return frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise LabError(f"column {column!r} must hold numbers for the SAIGE filter") from None


def _text(frame: pd.DataFrame, column: str) -> pa.Array:
    """The column as an Arrow string array (zero-copy for pandas' Arrow-backed strings)."""
    series = frame[column]
    if not pd.api.types.is_string_dtype(series.dtype):
        series = series.astype("str")
    values = pa.array(series, from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.large_string())


def saige_mask(frame: pd.DataFrame, f: SaigeFilter) -> np.ndarray:
    """One boolean per row: does the row pass the filter."""
    require_columns(frame.columns, f.columns(), "the SAIGE filter")
    keep = _floats(frame, "actual_harm") <= f.max_harm
    weighted = _floats(frame, "buddhist_weighted")
    passes = weighted >= f.min_buddhist
    if f.min_buddhist <= 0:  # a row without scores weighs 0, which a zero threshold lets through
        passes |= np.isnan(weighted)
    keep &= passes
    for principle, minimum in f.principle_min.items():
        keep &= np.nan_to_num(_floats(frame, principle), nan=0.0) >= minimum
    for dimension, maximum in f.harm_max.items():
        keep &= _floats(frame, f"harm_{dimension}") <= maximum
    if f.difficulty_min is not None:
        keep &= _floats(frame, "difficulty_level") >= f.difficulty_min
    if f.difficulty_max is not None:
        keep &= _floats(frame, "difficulty_level") <= f.difficulty_max
    # The alignment test compares text, the slowest step: run it only on rows the numbers let through.
    candidates = np.flatnonzero(keep)
    alignment = _text(frame, "buddhist_alignment").take(candidates)
    if f.min_alignment == "low":
        allowed = pc.is_valid(alignment)
    else:
        levels = ALIGNMENT_LEVELS[ALIGNMENT_LEVELS.index(f.min_alignment):]
        allowed = pc.is_in(alignment, value_set=pa.array(levels, pa.large_string()))
    keep[candidates] = allowed.to_numpy(zero_copy_only=False)
    return keep


def saige_order(frame: pd.DataFrame, keep: np.ndarray) -> np.ndarray:
    """Positions of the kept rows in the seed's SQL order: actual_harm ascending, then timestamp descending
    (rows without a timestamp last, as SQLite puts NULLs), ties in frame order. The importer records each
    row's place in that order (`seed_rank`); frames without it are sorted here."""
    rows = np.flatnonzero(keep)
    if "seed_rank" in frame.columns:  # imported in the seed's order: usually no sort at all
        ranks = frame["seed_rank"].to_numpy()[rows]
        return rows if np.all(ranks[1:] >= ranks[:-1]) else rows[np.argsort(ranks, kind="stable")]
    require_columns(frame.columns, ["actual_harm", "timestamp"], "the SAIGE order")
    keys = pa.table({"harm": _floats(frame, "actual_harm")[rows], "timestamp": _text(frame, "timestamp").take(rows)})
    order = pc.sort_indices(keys, sort_keys=[("harm", "ascending", "at_end"), ("timestamp", "descending", "at_end")])
    return rows[order.to_numpy()]


def apply_saige_filter(frame: pd.DataFrame, f: SaigeFilter) -> pd.DataFrame:
    """The rows that pass, in the seed's order (index labels kept from `frame`)."""
    return frame.take(saige_order(frame, saige_mask(frame, f)))


def _histogram(values: np.ndarray, edges: np.ndarray) -> dict:
    present = values[~np.isnan(values)]
    counts, _ = np.histogram(np.clip(present, edges[0], edges[-1]), bins=edges)
    return {"edges": edges.round(6).tolist(), "counts": counts.tolist(), "missing": int(len(values) - len(present))}


def _level_counts(series: pd.Series, levels: list[str]) -> dict[str, int]:
    counts = series.dropna().astype("str").value_counts()
    out = {level: int(counts.get(level, 0)) for level in levels}
    out["other"] = int(counts.sum()) - sum(out.values())
    out["missing"] = int(series.isna().sum())
    return out


def saige_distributions(frame: pd.DataFrame) -> dict:
    """Binned counts for the charts, on fixed edges so that before/after filtering compare bin by bin:
    actual_harm and harm dimensions on 0..1 (20 bins), weighted score and principles on 0..10 (20 bins),
    counts per stored alignment level and per difficulty level. Missing values are counted apart."""
    require_columns(frame.columns, ["actual_harm", "buddhist_weighted", "buddhist_alignment"], "the SAIGE charts")
    out: dict = {
        "rows": int(len(frame)),
        "actual_harm": _histogram(_floats(frame, "actual_harm"), HARM_EDGES),
        "buddhist_weighted": _histogram(_floats(frame, "buddhist_weighted"), SCORE_EDGES),
        "harm_dimensions": {d: _histogram(_floats(frame, f"harm_{d}"), HARM_EDGES)
                            for d in HARM_DIMENSIONS if f"harm_{d}" in frame.columns},
        "principles": {p: _histogram(_floats(frame, p), SCORE_EDGES) for p in PRINCIPLES if p in frame.columns},
        "alignment": _level_counts(frame["buddhist_alignment"], list(ALIGNMENT_LEVELS)),
    }
    if "difficulty_level" in frame.columns:
        levels = _floats(frame, "difficulty_level")
        present = levels[~np.isnan(levels)].astype(np.int64)
        values, counts = np.unique(present, return_counts=True)
        out["difficulty"] = {**{str(v): int(c) for v, c in zip(values, counts)},
                             "missing": int(len(levels) - len(present))}
    return out


FILTER = SaigeFilter


def from_controls(values: dict[str, Any]) -> SaigeFilter:
    """The filter the Data page's sliders describe (see the recipe's `curate_filter`): a principle at 0, a harm
    dimension at 1 and the difficulty range's ends (1 and 5) mean no limit."""
    low, high = values["difficulty"]
    return SaigeFilter(
        max_harm=values["max_harm"], min_buddhist=values["min_buddhist"], min_alignment=values["min_alignment"],
        principle_min={p: values[f"min_{p}"] for p in PRINCIPLES if values[f"min_{p}"] > 0},
        harm_max={d: values[f"max_{d}"] for d in HARM_DIMENSIONS if values[f"max_{d}"] < 1},
        difficulty_min=low if low > 1 else None, difficulty_max=high if high < 5 else None)
