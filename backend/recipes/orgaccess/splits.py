"""Seed 003's split (the `orgaccess` split preset): per difficulty, 70% of easy and of medium form the
training pool, split 80/20 into train/validation; the other 30% become easy_test / medium_test; all of
hard is hard_test. backend.data.splits stratifies inside each difficulty and assigns the rows."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd

from backend.allocation import largest_remainder
from backend.errors import DataError, LabError

NAMES = ["train", "validation", "easy_test", "medium_test", "hard_test"]
POOL_DIFFICULTIES = ("easy", "medium")
TEST_SHARE = Fraction(3, 10)
VALIDATION_SHARE = Fraction(1, 5)


def targets(frame: pd.DataFrame, ref: str) -> tuple[np.ndarray, dict[int, list[int]], list[str]]:
    """Seed 003's split sizes: the held-out 30% is rounded up, the pool's 80/20 by largest remainder."""
    if "difficulty" not in frame.columns:
        raise LabError("the orgaccess preset needs a 'difficulty' column (easy / medium / hard)")
    codes, uniques = pd.factorize(frame["difficulty"], sort=True, use_na_sentinel=False)
    groups = codes.astype(np.int64)
    sizes = np.bincount(groups, minlength=len(uniques))
    by_group: dict[int, list[int]] = {}
    for code, difficulty in enumerate(uniques):
        n = int(sizes[code])
        row = dict.fromkeys(NAMES, 0)
        if difficulty in POOL_DIFFICULTIES:
            held_out = math.ceil(n * TEST_SHARE)
            pool = largest_remainder(n - held_out, {"train": 1 - VALIDATION_SHARE, "validation": VALIDATION_SHARE})
            row.update(pool)
            row[f"{difficulty}_test"] = held_out
        elif difficulty == "hard":
            row["hard_test"] = n
        else:
            shown = "missing" if pd.isna(difficulty) else repr(difficulty)
            raise DataError(
                f"the orgaccess preset expects easy, medium or hard; {n} rows have {shown} (filter or fix them first)",
                file=ref, field="difficulty")
        by_group[code] = [row[k] for k in NAMES]
    return groups, by_group, list(NAMES)
