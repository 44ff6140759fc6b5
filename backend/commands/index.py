"""`python -m backend index ...`: build, search, evaluate and list retrieval indexes."""
from __future__ import annotations

import argparse

from backend.cli import add_executor_options, add_json_flag, emit, slurm_options_from
from backend.jobs.status import JobStatus
from backend.retrieval.options import DEFAULT_CHUNK_SIZE, DEFAULT_OVERLAP, KINDS, MODES

def cmd_build(args):
    from backend.jobs.manager import spec, wait
    from backend.retrieval.build import launch_index_build

    job = launch_index_build(args.dataset, model=args.model, chunk_size=args.chunk_size, overlap=args.overlap,
                             kind=args.kind, name=args.name, slurm_options=slurm_options_from(args))
    name = spec(job.id)["name"]
    if not args.wait:
        emit(args, {"index": name, "job_id": job.id, "status": job.status},
             f"queued job {job.id} building index {name} (follow it with `python -m backend jobs show {job.id}`)")
        return 0
    job = wait(job.id)
    result = job.result or {}
    payload = {"index": name, "job_id": job.id, "status": job.status, "error": job.error,
               **{k: v for k, v in result.items() if k != "index"}}
    emit(args, payload, lambda: (
        f"index {name}: {result.get('chunks')} chunks of {result.get('documents')} documents "
        f"({result.get('embedded')} embedded, {result.get('cached')} cached) in {result.get('build_seconds')} s"
        if job.status == JobStatus.SUCCEEDED else f"job {job.id} {job.status}: {job.error or 'see its log'}"))
    return 0 if job.status == JobStatus.SUCCEEDED else 1

def cmd_search(args):
    from backend.retrieval.search import search

    hits = search(args.index, args.query, k=args.k, mode=args.mode, reranker=args.rerank)
    emit(args, {"index": args.index, "query": args.query, "mode": args.mode, "k": args.k, "results": hits},
         lambda: "\n".join(f"{h['rank']:>2}. {h['doc_id']} ({h['score']:.4f})  {h['chunk'][:100]!r}"
                           for h in hits) or "no documents found")

def cmd_evaluate(args):
    from backend.retrieval.metrics import evaluate_index

    report = evaluate_index(args.index, args.split, k=args.k, mode=args.mode)
    emit(args, report, lambda: (
        f"{report['queries']} queries ({report['split'] or 'all'}), {report['mode']}, k={report['k']}: "
        f"P@k {report['precision']:.3f}  R@k {report['recall']:.3f}  nDCG@k {report['ndcg']:.3f}  "
        f"MAP@k {report['map']:.3f}"))

def cmd_list(args):
    from backend.retrieval.index import list_indexes

    indexes = list_indexes()
    emit(args, {"indexes": indexes}, lambda: "\n".join(
        [f"{'NAME':40} {'DATASET':20} {'KIND':5} {'CHUNKS':>7} {'DOCS':>6}  MODEL"]
        + [f"{m['name']:40} {m['dataset_ref']:20} {m['kind']:5} {m['chunks']:>7} {m['documents']:>6}  {m['model']}"
           for m in indexes]) if indexes else "no indexes yet: `python -m backend index build DATASET`")

def register(groups: argparse._SubParsersAction) -> None:

    index = groups.add_parser("index", help="retrieval indexes: build, search, evaluate, list",
                              description="Retrieval indexes over a raft dataset's documents (dense, BM25, hybrid).")
    sub = index.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        add_json_flag(p)
        p.set_defaults(func=func)
        return p

    p = command("build", cmd_build, "chunk, embed and index a raft dataset's documents as a background job")
    p.add_argument("dataset", help="a dataset imported with the raft recipe (NAME or NAME@VERSION)")
    p.add_argument("--model", help="sentence-transformers model: local folder or cached id (default: the bundled "
                                   "all-MiniLM-L6-v2)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="tokens per chunk (model tokenizer)")
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="tokens shared by consecutive chunks")
    p.add_argument("--kind", choices=KINDS, default="flat", help="flat: exact inner product; hnsw: approximate, "
                                                                   "for corpora past ~1M chunks")
    p.add_argument("--name", help="index name (default: <dataset>-<model>-<chunk size>)")
    p.add_argument("--wait", action="store_true", help="wait for the job and print the index it built")
    add_executor_options(p)

    def search_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--k", type=int, default=8, help="documents to return (default 8)")
        p.add_argument("--mode", choices=MODES, default="hybrid", help="hybrid (RRF of dense and BM25, default), "
                                                                       "dense or bm25")

    p = command("search", cmd_search, "the top documents for a query, each with its best chunk")
    p.add_argument("index")
    p.add_argument("query")
    search_options(p)
    p.add_argument("--rerank", metavar="MODEL", help="reorder with a cross-encoder (local folder or cached id)")

    p = command("evaluate", cmd_evaluate, "P@k, R@k, nDCG@k and MAP@k against the dataset's gold documents")
    p.add_argument("index")
    p.add_argument("--split", help="only queries of this split (split or source_split column); default all")
    search_options(p)

    command("list", cmd_list, "indexes with their dataset, model and size")
