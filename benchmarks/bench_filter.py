"""Benchmark: the vectorised SAIGE filter against seed 001's converter on the same experiences.

    python benchmarks/bench_filter.py [--rows 1000000] [--repeat 3] [--no-sqlite]

Synthesises N experiences twice: (a) the SAIGE-normalised frame our filter reads, (b) the raw rows
the seed reads (id, actual_harm, buddhist_scores as JSON text, buddhist_alignment, timestamp).
Times, best of --repeat runs each, from data already in memory:

  seed, Python   the seed's SQL done in Python (WHERE, then ORDER BY actual_harm ASC, timestamp DESC
                 as two stable sorts), then its row loop: json.loads, weighting, skip below min_buddhist
  seed, SQLite   the seed's real query on an in-memory SQLite table, then the same row loop
                 (plain tuples, no scenarios join: both only flatter the seed)
  ours, select   saige_mask + saige_order: the kept experience ids in the seed's order (what the
                 seed's loop computes; the slider counts and a stored filter need no more)
  ours, frame    apply_saige_filter: the same plus copying the kept rows (all columns) into a new frame

Our frame is stored the way the importer stores a SAIGE database: in the seed's order with a
`seed_rank` column (one ORDER BY at import time, timed and printed separately). All sides must keep
the same experience ids in the same order.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.recipes.saige.filter import SaigeFilter, apply_saige_filter, saige_mask, saige_order  # noqa: E402
from backend.recipes.saige import ALIGNMENT_LEVELS, PRINCIPLE_WEIGHTS, PRINCIPLES  # noqa: E402

RawRow = tuple[int, float, "str | None", "str | None", "str | None"]


def synthesise(rows: int, seed: int) -> tuple[pd.DataFrame, list[RawRow]]:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, rows + 1)
    harm = np.round(rng.beta(2, 6, rows), 2)  # rated harm: few distinct values, so many ties to order by time
    quality = rng.normal(6.5, 1.3, rows)
    scores = np.clip(np.round(quality[:, None] + rng.normal(0, 0.8, (rows, len(PRINCIPLES))), 1), 0, 10)
    scores[rng.random((rows, len(PRINCIPLES))) < 0.02] = np.nan  # a principle not scored
    scores[rng.random(rows) < 0.05] = np.nan  # no scores at all (buddhist_scores NULL)
    weighted = np.zeros(rows)
    for column, principle in enumerate(PRINCIPLES):  # the seed's sum, term by term in its order
        weighted = weighted + np.nan_to_num(scores[:, column]) * PRINCIPLE_WEIGHTS[principle]
    level = np.select([weighted >= 8, weighted >= 6, weighted >= 4], [3, 2, 1], 0)
    noisy = rng.random(rows) < 0.15
    level[noisy] = rng.integers(0, 4, noisy.sum())
    alignment = np.array(ALIGNMENT_LEVELS, dtype=object)[level]
    alignment[rng.random(rows) < 0.03] = None
    seconds = rng.integers(0, 2 * 365 * 86400, rows).astype("timedelta64[s]")
    timestamps = np.char.replace(np.datetime_as_string(np.datetime64("2024-01-01T00:00:00") + seconds), "T", " ")
    timestamps = timestamps.astype(object)
    timestamps[rng.random(rows) < 0.01] = None

    frame = pd.DataFrame({
        "experience_id": ids, "actual_harm": harm,
        **{p: scores[:, i] for i, p in enumerate(PRINCIPLES)},
        "buddhist_weighted": weighted,
        "buddhist_alignment": pd.Series(alignment, dtype="str"),
        "timestamp": pd.Series(timestamps, dtype="str"),
    })
    started = time.perf_counter()
    frame = seed_ordered(frame)
    print(f"  (import-time sort into the seed's order: {time.perf_counter() - started:.2f} s, once per dataset)")
    score_lists = scores.tolist()
    raw_scores = [None if all(v != v for v in values)
                  else json.dumps({p: v for p, v in zip(PRINCIPLES, values) if v == v})
                  for values in score_lists]
    raw = list(zip(ids.tolist(), harm.tolist(), raw_scores, alignment.tolist(), timestamps.tolist()))
    return frame, raw


def seed_ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """What the importer's ORDER BY actual_harm ASC, timestamp DESC, id does, plus the rank column."""
    stamps = frame["timestamp"].to_numpy(dtype=object)
    present = np.array([t is not None and t == t for t in stamps])
    stamp_rank = np.full(len(frame), -1, dtype=np.int64)  # NULL timestamps sort last under DESC
    stamp_rank[present] = np.unique(stamps[present].astype(str), return_inverse=True)[1]  # equal stamps tie
    order = np.lexsort((frame["experience_id"].to_numpy(), -stamp_rank, frame["actual_harm"].to_numpy()))
    ordered = frame.iloc[order].reset_index(drop=True)
    ordered["seed_rank"] = np.arange(len(ordered))
    return ordered


def seed_allowed_levels(min_alignment: str) -> list[str]:
    return {"excellent": ["excellent"], "good": ["excellent", "good"],
            "moderate": ["excellent", "good", "moderate"], "low": []}[min_alignment]


def seed_row_loop(rows: list[RawRow], min_buddhist: float) -> list[int]:
    """The seed's loop over the query result: json.loads, the weighted sum, skip below the minimum."""
    kept = []
    for experience_id, _, raw_scores, _, _ in rows:
        scores = json.loads(raw_scores) if raw_scores else {}
        if scores:
            weighted = sum(scores.get(p, 0) * w for p, w in PRINCIPLE_WEIGHTS.items())
        else:
            weighted = 0
        if weighted < min_buddhist:
            continue
        kept.append(experience_id)
    return kept


def seed_in_python(raw: list[RawRow], f: SaigeFilter) -> list[int]:
    allowed = set(seed_allowed_levels(f.min_alignment))
    selected = [r for r in raw if r[1] <= f.max_harm and r[3] is not None and (not allowed or r[3] in allowed)]
    selected.sort(key=lambda r: (r[4] is not None, r[4] or ""), reverse=True)  # timestamp DESC, NULLs last
    selected.sort(key=lambda r: r[1])  # actual_harm ASC (stable)
    return seed_row_loop(selected, f.min_buddhist)


def build_sqlite(raw: list[RawRow]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE experiences (id INTEGER PRIMARY KEY, actual_harm REAL NOT NULL, buddhist_scores JSON, "
                 "buddhist_alignment TEXT, timestamp TIMESTAMP)")
    conn.executemany("INSERT INTO experiences VALUES (?, ?, ?, ?, ?)", raw)
    return conn


def seed_with_sqlite(conn: sqlite3.Connection, f: SaigeFilter) -> list[int]:
    query = ("SELECT id, actual_harm, buddhist_scores, buddhist_alignment, timestamp FROM experiences "
             "WHERE actual_harm <= ? AND buddhist_alignment IS NOT NULL")
    levels = seed_allowed_levels(f.min_alignment)
    if levels:
        query += f" AND buddhist_alignment IN ({','.join('?' for _ in levels)})"
    query += " ORDER BY actual_harm ASC, timestamp DESC"
    return seed_row_loop(conn.execute(query, [f.max_harm, *levels]).fetchall(), f.min_buddhist)


def best_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="experiences to synthesise (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the best counts (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the synthetic data")
    parser.add_argument("--max-harm", type=float, default=0.25)
    parser.add_argument("--min-buddhist", type=float, default=6.5)
    parser.add_argument("--min-alignment", default="good", choices=ALIGNMENT_LEVELS)
    parser.add_argument("--no-sqlite", action="store_true", help="skip the in-memory SQLite run of the seed")
    args = parser.parse_args(argv)
    f = SaigeFilter(max_harm=args.max_harm, min_buddhist=args.min_buddhist, min_alignment=args.min_alignment)

    started = time.perf_counter()
    frame, raw = synthesise(args.rows, args.seed)
    print(f"synthesised {args.rows:,} experiences in {time.perf_counter() - started:.1f} s; "
          f"filter max_harm={f.max_harm} min_buddhist={f.min_buddhist} min_alignment={f.min_alignment}")

    ids = frame["experience_id"].to_numpy()
    select_s, ours_rows = best_time(lambda: saige_order(frame, saige_mask(frame, f)), args.repeat)
    frame_s, kept_frame = best_time(lambda: apply_saige_filter(frame, f), args.repeat)
    ours = ids[ours_rows].tolist()
    assert kept_frame["experience_id"].tolist() == ours
    python_s, seed_python = best_time(lambda: seed_in_python(raw, f), args.repeat)
    results = {"seed, Python SQL + row loop": (python_s, seed_python)}
    if not args.no_sqlite:
        conn = build_sqlite(raw)
        sqlite_s, seed_sqlite = best_time(lambda: seed_with_sqlite(conn, f), args.repeat)
        results["seed, SQLite query + row loop"] = (sqlite_s, seed_sqlite)

    print(f"kept {len(ours):,} of {args.rows:,} rows (best of {args.repeat} runs per side)")
    print(f"  {'ours, select (ordered ids)':32s} {select_s * 1000:9.1f} ms")
    print(f"  {'ours, frame (apply_saige_filter)':32s} {frame_s * 1000:9.1f} ms")
    same = True
    for name, (seconds, kept_ids) in results.items():
        same &= kept_ids == ours
        print(f"  {name:32s} {seconds * 1000:9.1f} ms   ratio: select {seconds / select_s:6.1f}x, "
              f"frame {seconds / frame_s:5.1f}x; same ids in the same order: {'yes' if kept_ids == ours else 'NO'}")
    slowest_ratio = min(s / select_s for s, _ in results.values())
    print(f"targets: under 2 s for {args.rows:,} rows: {'met' if frame_s < 2 else 'NOT met'} ({frame_s:.3f} s); "
          f">=100x faster than the seed (selection): {'met' if slowest_ratio >= 100 else 'NOT met'} "
          f"({slowest_ratio:.0f}x)")
    if not same:
        print("MISMATCH: the filters keep different rows", file=sys.stderr)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
