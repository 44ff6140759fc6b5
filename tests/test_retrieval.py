"""Retrieval on the demo corpus: chunking, a real index-build job, the embedding cache, search modes,
HNSW against flat, evaluation and the CLI. One index is built per module (as a job) and shared."""
import itertools
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from backend import cli
from backend.data.demo import create_demo_datasets
from backend.data.store import VersionWriter, load_frame, resolve
from backend.errors import LabError
from backend.jobs import manager
from backend.jobs.files import PROGRESS, read_jsonl
from backend.retrieval.build import build_index, launch_index_build
from backend.retrieval.cache import EmbeddingCache
from backend.retrieval.chunking import chunk_documents, token_windows
from backend.retrieval.embeddings import load_tokenizer
from backend.retrieval.index import list_indexes, load_index
from backend.retrieval.metrics import evaluate_index
from backend.retrieval.search import load_reranker, retrieve_doc_ids, search

CHUNK, OVERLAP = 200, 40


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """demo-raft indexed by a real background job, in a state dir shared by this module's tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTLAB_STATE", str(tmp_path_factory.mktemp("retrieval") / "state"))
        mp.setenv("FTLAB_USER", "tester")
        create_demo_datasets()
        job = launch_index_build("demo-raft", chunk_size=CHUNK, overlap=OVERLAP)
        final = manager.wait(job.id, timeout=120)
        assert final.status == "succeeded", manager.log_tail(job.id)
        yield final


# ---------------------------------------------------------------- chunking

def test_windows_respect_size_and_overlap():
    assert token_windows(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]
    assert token_windows(3, 4, 1) == [(0, 3)]
    assert token_windows(0, 4, 1) == []
    windows = token_windows(1000, 200, 40)
    assert all(end - start <= 200 for start, end in windows)
    assert all(b[0] == a[1] - 40 for a, b in itertools.pairwise(windows))
    assert windows[-1][1] == 1000
    # on word boundaries: words start at tokens 0, 2, 5, 6, 8, 9; no window cuts a word
    starts = [True, False, True, False, False, True, True, False, True, True]
    assert token_windows(10, 4, 1, starts) == [(0, 2), (2, 6), (5, 9), (8, 10)]
    assert token_windows(5, 2, 1, [True, False, False, False, False]) == [(0, 2), (2, 4), (4, 5)]  # one huge word


def test_chunks_fit_the_model_and_never_cross_a_document():
    tokenizer, window = load_tokenizer()
    assert window == 254  # MiniLM's 256 minus [CLS] and [SEP]
    words = [f"word{i}" for i in range(400)]
    docs = pd.DataFrame({"doc_id": ["A_1", "A_2", "EMPTY"], "title": ["A", "A", "E"],
                         "text": [" ".join(words), "A short chapter about the tide.", ""]})
    chunks = chunk_documents(docs, tokenizer, chunk_size=50, overlap=10)
    assert {c.doc_id for c in chunks} == {"A_1", "A_2"}  # an empty document yields no chunk
    long = [c for c in chunks if c.doc_id == "A_1"]
    assert all(c.n_tokens <= 50 for c in long) and long[0].n_tokens == 50
    for c in long:
        assert c.text in docs.text[0]  # a slice of its own document, never text of the next one
        ids = tokenizer.encode(c.text, add_special_tokens=False).ids
        assert len(ids) == c.n_tokens
    # consecutive chunks share whole words, at most `overlap` tokens of them
    first = tokenizer.encode(long[0].text, add_special_tokens=False).ids
    second = tokenizer.encode(long[1].text, add_special_tokens=False).ids
    shared = long[1].text.split()[0]
    assert long[0].text.split()[-1] != shared and shared in long[0].text.split()
    shared_tokens = len(tokenizer.encode(long[0].text[long[0].text.index(" " + shared) + 1:],
                                         add_special_tokens=False).ids)
    assert 0 < shared_tokens <= 10 and first[-shared_tokens:] == second[:shared_tokens]
    assert [c.chunk_id for c in chunks][:2] == ["A_1#0", "A_1#1"] and chunks[-1].text == docs.text[1]
    with pytest.raises(LabError, match="overlap 50 must be"):
        chunk_documents(docs, tokenizer, chunk_size=50, overlap=50)


# ---------------------------------------------------------------- build job, search

def test_build_job_saves_a_loadable_index_with_progress(built):
    result = built.result
    name = result["index"]
    assert name == f"demo-raft-all-minilm-l6-v2-{CHUNK}"
    loaded = load_index(name)
    meta = loaded.meta
    assert meta.documents == 60 and meta.chunks == len(loaded.chunks) == loaded.faiss_index.ntotal
    assert meta.model == "all-MiniLM-L6-v2" and meta.dimension == 384 and meta.kind == "flat"
    assert (meta.chunk_size, meta.overlap, meta.dataset_ref) == (CHUNK, OVERLAP, "demo-raft@1")
    assert meta.embedded == meta.chunks and meta.cached == 0 and len(meta.corpus_hash) == 16
    assert list(loaded.chunks.columns) == ["chunk_id", "doc_id", "title", "text", "n_tokens"]
    assert loaded.chunks["n_tokens"].max() <= CHUNK
    records = read_jsonl(Path(built.job_dir) / PROGRESS)
    embeds = [r for r in records if r.get("phase") == "embed"]
    assert embeds[-1]["done"] == embeds[-1]["total"] == meta.chunks
    assert any("eta_s" in r for r in embeds[1:])
    assert "chunks_per_s" not in embeds[0] and all(r["chunks_per_s"] > 0 for r in embeds[1:])  # throughput
    log = (Path(built.job_dir) / "stdout.log").read_text()
    assert f"embedded {meta.chunks:,} of {meta.chunks:,} new chunks (" in log and " chunks/s, 0 s left)" in log
    assert re.search(r"\] \d+ CPU thread\(s\): the only CPU job running: every core", log)
    assert [m["name"] for m in list_indexes()] == [name]


def test_search_finds_the_obvious_document(built):
    name = built.result["index"]
    docs = load_frame("demo-raft", "documents")
    target = docs.iloc[7]
    sentence = target["text"].split("\n\n")[1].split(". ")[0]  # the chapter's key event
    for mode in ("hybrid", "dense", "bm25"):
        hits = search(name, sentence, k=5, mode=mode)
        assert hits[0]["doc_id"] == target["doc_id"], (mode, hits[0])
        assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
        assert len({h["doc_id"] for h in hits}) == 5  # documents, not chunks
        assert hits[0]["chunk"] in target["text"] and hits[0]["title"] == target["title"]
    excluded = retrieve_doc_ids(name, sentence, k=4, exclude={target["doc_id"]})
    assert len(excluded) == 4 and target["doc_id"] not in excluded
    with pytest.raises(LabError, match="unknown search mode 'fuzzy'"):
        search(name, sentence, mode="fuzzy")


def test_missing_reranker_is_reported_clearly(built):
    with pytest.raises(LabError, match=r"reranker '/nowhere/cross-encoder' is not available: it is not a local "
                                       r"folder and not in the local Hugging Face cache \(nothing is downloaded\)"):
        search(built.result["index"], "anything", reranker="/nowhere/cross-encoder")
    with pytest.raises(LabError, match="not available"):
        load_reranker("no-such-org/no-such-cross-encoder")


# ---------------------------------------------------------------- cache

def test_rebuild_embeds_only_what_changed(built):
    cache = EmbeddingCache()
    before = cache.count()
    same = build_index("demo-raft", name="again", chunk_size=CHUNK, overlap=OVERLAP, cache=cache)
    assert (same.embedded, same.cached) == (0, same.chunks)
    assert cache.count() == before

    source = resolve("demo-raft")
    docs = load_frame(source, "documents")
    old_chunks = load_index("again").chunks
    changed = docs["doc_id"].iloc[3]
    docs.loc[docs.doc_id == changed, "text"] = "Rewritten opening. " + docs.loc[docs.doc_id == changed, "text"]
    with VersionWriter("demo-raft", "raft", "edit", parent=source) as writer:
        writer.write(load_frame(source))
        writer.write(docs, table="documents")
        edited = writer.commit()
    rebuilt = build_index(edited.ref, name="edited", chunk_size=CHUNK, overlap=OVERLAP, cache=cache)
    new_chunks = load_index("edited").chunks
    new_texts = set(new_chunks.text) - set(old_chunks.text)
    assert new_chunks[new_chunks.text.isin(new_texts)].doc_id.unique().tolist() == [changed]
    assert rebuilt.embedded == len(new_texts) >= 1
    assert rebuilt.cached == rebuilt.chunks - rebuilt.embedded
    assert cache.count() == before + rebuilt.embedded
    assert rebuilt.corpus_hash != same.corpus_hash and rebuilt.dataset_ref == edited.ref


# ---------------------------------------------------------------- HNSW, evaluation

def test_hnsw_returns_what_flat_returns(built):
    flat = built.result["index"]
    hnsw = build_index("demo-raft@1", name="demo-hnsw", chunk_size=CHUNK, overlap=OVERLAP, kind="hnsw")
    assert hnsw.kind == "hnsw" and hnsw.embedded == 0
    queries = load_frame("demo-raft@1")["query"].tolist()[:20]
    agree = total = 0
    for q in queries:
        a = retrieve_doc_ids(flat, q, 8, mode="dense")
        b = retrieve_doc_ids("demo-hnsw", q, 8, mode="dense")
        agree += len(set(a) & set(b))
        total += len(a)
    assert agree / total >= 0.95


def test_evaluate_gives_bounded_means_and_per_query(built):
    name = built.result["index"]
    for mode in ("hybrid", "dense", "bm25"):
        report = evaluate_index(name, "test", k=8, mode=mode)
        assert report["queries"] == len(report["per_query"]) > 0 and report["split_column"] == "source_split"
        for metric in ("precision", "recall", "ndcg", "map"):
            assert 0.0 <= report[metric] <= 1.0
            assert report[metric] == pytest.approx(sum(q[metric] for q in report["per_query"]) / report["queries"])
        assert report["recall"] > 0.5  # the demo queries name their story's people and places
        print(mode, {m: round(report[m], 3) for m in ("precision", "recall", "ndcg", "map")})
    with pytest.raises(LabError, match="has no split 'nope'"):
        evaluate_index(name, "nope")


# ---------------------------------------------------------------- CLI

def _cli_json(capsys, *argv) -> tuple[int, dict]:
    code = cli.main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_cli_json_keys(built, capsys):
    name = built.result["index"]
    code, listed = _cli_json(capsys, "index", "list")
    assert code == 0 and name in [m["name"] for m in listed["indexes"]]
    code, found = _cli_json(capsys, "index", "search", name, "the glass lighthouse keeper", "--k", "3")
    assert code == 0 and len(found["results"]) == 3
    assert set(found["results"][0]) >= {"doc_id", "score", "rank", "chunk", "title"}
    code, report = _cli_json(capsys, "index", "evaluate", name, "--split", "test", "--k", "8", "--mode", "bm25")
    assert code == 0 and {"precision", "recall", "ndcg", "map", "per_query"} <= set(report)
    code, rebuilt = _cli_json(capsys, "index", "build", "demo-raft@1", "--chunk-size", str(CHUNK), "--overlap",
                              str(OVERLAP), "--kind", "hnsw", "--name", "cli-hnsw", "--wait")
    assert code == 0 and rebuilt["index"] == "cli-hnsw" and rebuilt["status"] == "succeeded"
    assert rebuilt["job_id"] and rebuilt["kind"] == "hnsw" and rebuilt["embedded"] == 0  # all from the cache
    code, error = _cli_json(capsys, "index", "build", "demo-guard")
    assert code == 2 and "demo-guard@1 has no documents table" in error["error"]
    code, error = _cli_json(capsys, "index", "build", "demo-raft", "--chunk-size", "300")
    assert code == 2 and "larger than the embedding model's window of 254 tokens" in error["error"]
    code, error = _cli_json(capsys, "index", "search", "nope", "x")
    assert code == 2 and "no index 'nope'" in error["error"]
