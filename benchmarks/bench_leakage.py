"""Benchmark: the leakage check before issue 15 against the leakage job's path, same data, same run.

    python benchmarks/bench_leakage.py [--rows 1000] [--threshold 0.9] [--old-limit-s 0]

Data: --rows OrgAccess rows made by the demo generator (seeds 0, 1, ... imported with the orgaccess
recipe until there are enough), split with seed 003's preset; every split but train is compared with
train, so every row is embedded (the recipe's text: query, role and permissions, ~150 MiniLM tokens).
Sides, all with all-MiniLM-L6-v2 on this machine's CPU, the model loaded before any clock starts:
  before   the check as it was (each side through embed_texts in batches of 64, nothing cached, then a
           FAISS flat search); with --old-limit-s it stops after that many seconds and its time is
           extrapolated from the texts it embedded (the search after them takes well under a second);
  after    check_leakage (what the job runs): one length-bucketed pass over every distinct text through the
           content-hash embedding cache, empty at first; then the same check again (another threshold, a
           re-split version, a revisit: the same texts), which embeds nothing;
  pairs    finding the pairs alone on the same vectors: an all-pairs Python loop (what the issue feared)
           against the FAISS flat inner-product kNN (k=5) the check uses.
Both checks must report the same exact and near pairs. Runs in a throw-away FTLAB_STATE.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from itertools import count
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ALL_PAIRS_QUERIES = 300  # the all-pairs loop runs this many queries and is scaled to all of them


class TimeUp(Exception):
    pass


def orgaccess_like(rows: int) -> str:
    """A split OrgAccess dataset of `rows` rows; its ref."""
    import pandas as pd

    from backend.config import state_path
    from backend.recipes.orgaccess.demo import write_orgaccess_source
    from backend.data.importers import import_dataset
    from backend.data.splits import split_dataset
    from backend.data.store import VersionWriter, load_frame

    frames, have = [], 0
    for seed in count():
        paths = write_orgaccess_source(state_path("bench_sources") / f"seed{seed}", seed)
        frame = load_frame(import_dataset("orgaccess", f"orgaccess-seed{seed}", paths))
        frame["id"] = [f"s{seed}-{i}" for i in frame["id"].astype(str)]
        frames.append(frame)
        have += len(frame)
        if have >= rows:
            break
    frame = pd.concat(frames, ignore_index=True).head(rows)
    with VersionWriter("orgaccess-like", "orgaccess", "import") as writer:
        writer.write(frame)
        version = writer.commit()
    return split_dataset(version.ref, preset="orgaccess").ref


def old_check(ref: str, threshold: float, limit_s: float) -> tuple[set, float, str]:
    """backend/data/leakage.py before issue 15, its work unchanged: (pairs, seconds, how the time was got)."""
    import faiss

    from backend.data import store
    from backend.retrieval.leakage import NEIGHBOURS, _held_out, _ids, _side, _texts, normalise
    from backend.data.splits import SPLIT_COLUMN, split_names
    from backend.retrieval.embeddings import embed_texts

    started = time.perf_counter()
    dv = store.resolve(ref)
    b_names = _held_out(split_names(dv), "train")
    frame = store.load_frame(dv)
    frame["_row"] = np.arange(len(frame))
    side_a, side_b = _side(frame, ["train"]), _side(frame, b_names)
    texts_a, texts_b = _texts(side_a, dv.recipe, None), _texts(side_b, dv.recipe, None)
    ids_a, ids_b = _ids(side_a), _ids(side_b)
    rows_a: dict[str, list[int]] = {}
    for i, text in enumerate(texts_a):
        rows_a.setdefault(normalise(text), []).append(i)
    rows_a.pop("", None)
    pairs, queries = set(), []
    for j, text in enumerate(texts_b):
        key = normalise(text)
        if key in rows_a:
            pairs |= {("exact", ids_a[i], ids_b[j]) for i in rows_a[key][:NEIGHBOURS]}
        elif key:
            queries.append(j)
    representatives = [rows[0] for rows in rows_a.values()]
    total = len(representatives) + len(queries)
    embedded = [0]

    def watch(before: int, side_total: int):
        def progress(fraction: float, _message: str) -> None:
            embedded[0] = before + round(fraction * side_total)
            if limit_s and time.perf_counter() - started > limit_s:
                raise TimeUp
        return progress

    try:
        vectors_a = embed_texts([texts_a[i] for i in representatives], progress=watch(0, len(representatives)))
        vectors_b = embed_texts([texts_b[j] for j in queries], progress=watch(len(representatives), len(queries)))
    except TimeUp:
        elapsed = time.perf_counter() - started
        return set(), elapsed / embedded[0] * total, (f"stopped after {elapsed:.0f} s with {embedded[0]:,} of "
                                                      f"{total:,} texts embedded; extrapolated")
    index = faiss.IndexFlatIP(vectors_a.shape[1])
    index.add(vectors_a)
    scores, hits = index.search(vectors_b, min(NEIGHBOURS, len(representatives)))
    for q, (row_scores, row_hits) in enumerate(zip(scores, hits)):
        for score, i in zip(row_scores, row_hits):
            if i >= 0 and score >= threshold:
                pairs.add(("near", ids_a[representatives[i]], ids_b[queries[q]]))
    return pairs, time.perf_counter() - started, "measured"


def pair_search(vectors_a: np.ndarray, vectors_b: np.ndarray, threshold: float) -> tuple[float, float, int]:
    """Seconds for an all-pairs Python loop (scaled from ALL_PAIRS_QUERIES queries) and for FAISS kNN."""
    import faiss

    sample = vectors_b[:ALL_PAIRS_QUERIES]
    started = time.perf_counter()
    found = 0
    for query in sample:
        for row in vectors_a:
            if float(np.dot(row, query)) >= threshold:
                found += 1
    loop_s = (time.perf_counter() - started) * len(vectors_b) / max(1, len(sample))
    started = time.perf_counter()
    index = faiss.IndexFlatIP(vectors_a.shape[1])
    index.add(vectors_a)
    index.search(vectors_b, 5)
    return loop_s, time.perf_counter() - started, len(sample)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--old-limit-s", type=float, default=0, help="stop the old check after this many seconds "
                                                                      "and extrapolate (0: let it finish)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FTLAB_STATE"] = str(Path(tmp) / "state")
        os.environ.setdefault("FTLAB_USER", "bench")
        import torch

        from backend.data import store
        from backend.retrieval.leakage import _texts, check_leakage
        from backend.data.splits import SPLIT_COLUMN
        from backend.retrieval.cache import EmbeddingCache, embed_with_cache
        from backend.retrieval.embeddings import load_embedder

        ref = orgaccess_like(args.rows)
        load_embedder().encode(["warm-up"] * 8)
        print(f"{args.rows:,} OrgAccess-like rows ({ref}, seed 003's split, train against the rest), "
              f"all-MiniLM-L6-v2 on the CPU ({torch.get_num_threads()} threads), threshold {args.threshold}")
        cpu = time.process_time()
        old_pairs, old_s, how = old_check(ref, args.threshold, args.old_limit_s)
        old_cpu = time.process_time() - cpu
        print(f"  before: embed each side, no cache   {old_s:8.1f} s  {args.rows / old_s:7.1f} rows/s  "
              f"CPU {old_cpu:7.1f} s  ({how})")
        cache = EmbeddingCache(Path(tmp) / "embeddings.db")
        cpu = time.process_time()
        first = check_leakage(ref, threshold=args.threshold, max_pairs=10**9, cache=cache)
        first_cpu = time.process_time() - cpu
        print(f"  after, first run (empty cache)      {first.seconds:8.1f} s  {args.rows / first.seconds:7.1f} rows/s  "
              f"CPU {first_cpu:7.1f} s  (embedded {first.embedded:,})")
        cpu = time.process_time()
        again = check_leakage(ref, threshold=args.threshold, max_pairs=10**9, cache=cache)
        again_cpu = time.process_time() - cpu
        print(f"  after, same texts again (cached)    {again.seconds:8.1f} s  {args.rows / again.seconds:7.1f} rows/s  "
              f"CPU {again_cpu:7.1f} s  (embedded {again.embedded:,}, {again.cached:,} from the cache)")
        print(f"  ratio before/after: first run {old_s / first.seconds:.2f}x wall, {old_cpu / first_cpu:.2f}x CPU "
              f"(the model's work, the same on both sides; wall time follows whatever else this machine runs); "
              f"again {old_s / again.seconds:.0f}x")
        new_pairs = {(p.kind, p.a_id, p.b_id) for p in first.pairs}
        same = how != "measured" or old_pairs == new_pairs
        verdict = "not compared (extrapolated)" if how != "measured" else ("yes" if same else "NO")
        print(f"  {first.exact} exact and {first.near} near duplicates; same pairs as before: {verdict}")

        dv = store.resolve(ref)
        frame = store.load_frame(dv)
        vectors, _ = embed_with_cache(_texts(frame, dv.recipe, None), cache=cache)  # all cached by now
        train = (frame[SPLIT_COLUMN] == "train").to_numpy()
        loop_s, faiss_s, sampled = pair_search(vectors[train], vectors[~train], args.threshold)
        print(f"  pair search alone, {int(train.sum()):,} x {int((~train).sum()):,} vectors: all-pairs Python loop "
              f"{loop_s:8.2f} s (scaled from {sampled} queries), FAISS flat k=5 {faiss_s:.4f} s: "
              f"{loop_s / faiss_s:,.0f}x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
