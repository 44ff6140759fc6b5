"""Train / validation / test splits: stratified, seeded, grouped, and the recipes' split presets.

A split is a new version of the same dataset with a `split` column. Counts are exact and
deterministic for a seed: each group's split sizes come from largest-remainder rounding of its
size, and inside a group every stratum (label value) gets the floor of its ideal share per split
plus at most one extra row, handed out so the group's split sizes still add up exactly.
"""
from __future__ import annotations

import json
import math
import re
from fractions import Fraction

import numpy as np
import pandas as pd

from backend.allocation import largest_remainder
from backend.data import store
from backend.data.examples import SPLIT_COLUMN, missing_split  # noqa: F401 - SPLIT_COLUMN: callers import it from here
from backend.data.store import MAIN_TABLE, DatasetVersion
from backend.errors import LabError
from backend.recipes import RECIPES, get_recipe
from backend.recipes.curating import SplitPreset

DEFAULT_RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}
UNNAMED_PARTS = {2: ("train", "test"), 3: ("train", "validation", "test")}
# Every recipe's split presets by name (`Recipe.split_presets`), and what each does (the CLI and the Data page).
SPLIT_PRESETS: dict[str, SplitPreset] = {p.name: p for r in RECIPES.values() for p in r.split_presets}
PRESETS: dict[str, str] = {name: p.description for name, p in SPLIT_PRESETS.items()}
RATIO_TOLERANCE = 1e-6
NO_STRATIFY = ("", "none")
SPLIT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
WRITE_BATCH = 50_000
MISSING_LABEL = "(missing)"


def parse_ratios(text: str) -> dict[str, float]:
    """'0.8,0.1,0.1' -> train/validation/test, '0.8,0.2' -> train/test, or 'train=0.7,test=0.3'."""
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    if not parts:
        raise LabError("no split ratios given: use e.g. '0.8,0.1,0.1' or 'train=0.7,test=0.3'")
    named = ["=" in p for p in parts]
    if any(named) and not all(named):
        raise LabError(f"split ratios {text!r}: name every part (train=0.7,test=0.3) or none (0.7,0.3)")
    if all(named):
        pairs = [tuple(s.strip() for s in p.split("=", 1)) for p in parts]
    elif len(parts) in UNNAMED_PARTS:
        pairs = list(zip(UNNAMED_PARTS[len(parts)], parts))
    else:
        raise LabError(
            f"split ratios {text!r}: {len(parts)} unnamed parts; give 2 (train,test) or 3 (train,validation,test), "
            "or name them like 'train=0.6,dev=0.2,test=0.2'"
        )
    ratios: dict[str, float] = {}
    for name, value in pairs:
        if name in ratios:
            raise LabError(f"split ratios {text!r}: split {name!r} is given twice")
        try:
            ratios[name] = float(value)
        except ValueError:
            raise LabError(f"split ratios {text!r}: {value!r} for split {name!r} is not a number") from None
    return _checked_ratios(ratios)


def _checked_ratios(ratios: dict[str, float]) -> dict[str, float]:
    if not ratios:
        raise LabError("no split ratios given")
    for name, value in ratios.items():
        if not SPLIT_NAME_RE.fullmatch(str(name)):
            raise LabError(f"split name {name!r} is not allowed: use letters, digits, '_' and '-'")
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise LabError(f"split {name!r} has ratio {value!r}: every ratio must be a number above 0")
    total = sum(ratios.values())
    if abs(total - 1) > RATIO_TOLERANCE:
        shown = ", ".join(f"{k}={v:g}" for k, v in ratios.items())
        raise LabError(f"split ratios must sum to 1, but {shown} sum to {total:g}")
    return {str(k): float(v) for k, v in ratios.items()}


def _exact_shares(ratios: dict[str, float]) -> dict[str, Fraction]:
    return {k: Fraction(repr(v)) for k, v in ratios.items()}


def _stratum_counts(sizes: np.ndarray, targets: list[int], rng: np.random.Generator) -> np.ndarray:
    """Counts per (stratum, split) whose rows sum to the stratum sizes and columns to the split targets.

    Each cell gets floor(size * target / n) plus, as a rule, at most one extra row. The extras are
    dealt stratum by stratum (in a seeded order) to the splits that still need the most rows, which
    always completes when a 0/1 completion exists (Gale-Ryser); should it not, a split that still
    needs rows takes a second extra, so the split sizes stay exact either way.
    """
    n = int(sizes.sum())
    target = np.asarray(targets, dtype=np.int64)
    products = sizes[:, None].astype(np.int64) * target[None, :]
    counts = products // max(n, 1)
    remainders = products % max(n, 1)
    missing = target - counts.sum(axis=0)
    for s in rng.permutation(len(sizes)):
        given = np.zeros(len(target), dtype=bool)
        for _ in range(int(sizes[s] - counts[s].sum())):
            candidates = np.flatnonzero((missing > 0) & ~given)
            if not len(candidates):
                candidates = np.flatnonzero(missing > 0)
            k = max(candidates, key=lambda c: (missing[c], remainders[s, c], -c))
            counts[s, k] += 1
            missing[k] -= 1
            given[k] = True
    return counts


def _assign(
    groups: np.ndarray, strata: np.ndarray, targets_by_group: dict[int, list[int]], n_splits: int, seed: int
) -> np.ndarray:
    """The split index of every row; rows are shuffled within (group, stratum) by the seed."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(groups)), strata, groups))
    sorted_groups = groups[order]
    group_codes, starts = np.unique(sorted_groups, return_index=True)
    ends = np.append(starts[1:], len(order))
    result = np.empty(len(groups), dtype=np.int64)
    for g, start, end in zip(group_codes, starts, ends):
        rows = order[start:end]  # sorted by stratum, then by the random key
        _, sizes = np.unique(strata[rows], return_counts=True)
        counts = _stratum_counts(sizes, targets_by_group[int(g)], rng)
        result[rows] = np.repeat(np.tile(np.arange(n_splits), len(sizes)), counts.ravel())
    return result


def _codes(values: pd.Series) -> tuple[np.ndarray, list]:
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64), list(uniques)


def _require_column(dv: DatasetVersion, frame: pd.DataFrame, column: str, role: str) -> None:
    if column not in frame.columns:
        raise LabError(
            f"{role} column {column!r} is not in dataset {dv.ref} (columns: {', '.join(map(str, frame.columns))})")


def _resolve_stratify(dv: DatasetVersion, frame: pd.DataFrame, stratify: str | None) -> str | None:
    if stratify is not None and stratify.strip().lower() in NO_STRATIFY:
        return None
    if stratify is not None:
        _require_column(dv, frame, stratify, "stratify")
        return stratify
    label = get_recipe(dv.recipe).label_column
    if label and label in frame.columns and frame[label].notna().any():
        return label
    return None


def _label_key(value) -> str:
    return MISSING_LABEL if pd.isna(value) else str(value)


def _counts_by(frame: pd.DataFrame, column: str, names: list[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name in names:
        values = frame.loc[frame[SPLIT_COLUMN] == name, column]
        counts = values.map(_label_key).value_counts(sort=False)
        out[name] = {str(k): int(v) for k, v in sorted(counts.items())}
    return out


def split_dataset(
    ref: str,
    *,
    ratios: dict[str, float] | None = None,
    stratify: str | None = None,
    group: str | None = None,
    seed: int = 0,
    preset: str | None = None,
) -> DatasetVersion:
    """A new version of the same dataset with a `split` column (an existing one is replaced).

    stratify: a column name; None uses the recipe's label column when it has values; "" or
    "none" disables stratification. group: split each value of this column separately, in the
    same ratios. preset: a name from PRESETS, a recipe's published split (fixes ratios and group, and
    the default stratification).
    """
    from backend.validation import SEED, check_value

    check_value("seed", seed, SEED)
    source = store.resolve(ref)
    frame = store.load_frame(source).drop(columns=[SPLIT_COLUMN], errors="ignore")
    if frame.empty:
        raise LabError(f"dataset {source.ref} has no rows to split")
    if preset is not None:
        if preset not in SPLIT_PRESETS:
            raise LabError(f"unknown split preset {preset!r}; choose one of {', '.join(SPLIT_PRESETS)}")
        if ratios is not None or group is not None:
            raise LabError(f"the {preset!r} preset sets its own ratios and groups; leave ratios and group empty")
        chosen = SPLIT_PRESETS[preset]
        group = chosen.group
        stratify = chosen.stratify if stratify is None else stratify
        group_codes, targets, names = chosen.targets(frame, source.ref)
    else:
        ratios = _checked_ratios(dict(ratios) if ratios is not None else dict(DEFAULT_RATIOS))
        names = list(ratios)
        if group is not None:
            _require_column(source, frame, group, "group")
            group_codes, _ = _codes(frame[group])
        else:
            group_codes = np.zeros(len(frame), dtype=np.int64)
        shares = _exact_shares(ratios)
        sizes = np.bincount(group_codes)
        targets = {g: list(largest_remainder(int(n), shares).values()) for g, n in enumerate(sizes)}
    stratify = _resolve_stratify(source, frame, stratify)
    strata = _codes(frame[stratify])[0] if stratify else np.zeros(len(frame), dtype=np.int64)

    assignment = _assign(group_codes, strata, targets, len(names), seed)
    frame[SPLIT_COLUMN] = np.asarray(names, dtype=object)[assignment]

    summary: dict = {
        "splits": {name: int((assignment == i).sum()) for i, name in enumerate(names)},
        "balance": _counts_by(frame, stratify, names) if stratify else {},
        "stratify": stratify,
        "group": group,
    }
    if group:
        summary["groups"] = _counts_by(frame, group, names)
    params = {"ratios": ratios, "stratify": stratify, "group": group, "seed": seed, "preset": preset}
    with store.VersionWriter(source.dataset, source.recipe, "split", params, parent=source) as writer:
        for start in range(0, len(frame), WRITE_BATCH):
            writer.write(frame.iloc[start:start + WRITE_BATCH])
        for table in source.tables:
            if table != MAIN_TABLE:
                for batch in store.iter_batches(source, table):
                    writer.write(batch, table=table)
        return writer.commit(summary=summary)


def split_names(ref: "str | DatasetVersion") -> list[str]:
    """The split names of a version, in the order they were made (LabError if it has none)."""
    dv = store.resolve(ref)
    if SPLIT_COLUMN not in dv.columns:
        raise LabError(f"dataset {dv.ref} has no splits yet: split it first (it has no {SPLIT_COLUMN!r} column)")
    values = store.load_frame(dv, columns=[SPLIT_COLUMN])[SPLIT_COLUMN]
    planned = list(dv.summary.get("splits", {})) if dv.operation == "split" else []
    present = [str(v) for v in values.dropna().unique()]
    return planned + sorted(v for v in present if v not in planned)


def load_split(ref: str, split: str) -> pd.DataFrame:
    """The rows of one split."""
    dv = store.resolve(ref)
    available = split_names(dv)
    if split not in available:
        raise missing_split(dv, split, available)
    frame = store.load_frame(dv)
    return frame[frame[SPLIT_COLUMN] == split].reset_index(drop=True)


def _label_column(dv: DatasetVersion) -> str | None:
    if dv.operation == "split" and dv.params.get("stratify") in dv.columns:
        return dv.params["stratify"]
    label = get_recipe(dv.recipe).label_column
    return label if label in dv.columns else None


def split_preview(ref: str, sample: int = 5) -> dict:
    """Rows, label balance and a few sample rows per split, for the curate page."""
    dv = store.resolve(ref)
    names = split_names(dv)
    label = _label_column(dv)
    frame = store.load_frame(dv)
    samples = {}
    for name in names:
        rows = frame[frame[SPLIT_COLUMN] == name]
        picked = rows.sample(n=min(sample, len(rows)), random_state=0) if sample > 0 else rows.iloc[:0]
        samples[name] = json.loads(picked.to_json(orient="records", date_format="iso"))
    return {
        "splits": {name: int((frame[SPLIT_COLUMN] == name).sum()) for name in names},
        "balance": _counts_by(frame, label, names) if label else {},
        "label_column": label,
        "samples": samples,
    }
