"""Whole-number allocation: split a count into parts proportional to exact shares, summing exactly."""
from __future__ import annotations

import math
from fractions import Fraction


def largest_remainder(n: int, shares: dict[str, Fraction]) -> dict[str, int]:
    """Split n into parts proportional to shares (exact fractions); ties go to the earlier part."""
    total = sum(shares.values())
    ideal = {k: n * s / total for k, s in shares.items()}
    counts = {k: math.floor(v) for k, v in ideal.items()}
    leftover = n - sum(counts.values())
    by_remainder = sorted(ideal, key=lambda k: ideal[k] - counts[k], reverse=True)  # stable: earlier part wins ties
    for k in by_remainder[:leftover]:
        counts[k] += 1
    return counts
