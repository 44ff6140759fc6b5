"""`python -m backend raft ...`: build RAFT training examples from a raft dataset."""
from __future__ import annotations

import argparse

from backend.cli import add_json_flag, emit


def cmd_build(args):
    from backend.retrieval.raft_builder import EXAMPLES_SUMMARY_KEY, RaftBuildRequest, build_raft_dataset

    dv = build_raft_dataset(RaftBuildRequest(dataset=args.dataset, index=args.index, distractors=args.distractors,
                                             oracle_p=args.oracle_p, seed=args.seed, split=args.split, out=args.out))
    payload = {"dataset": dv.dataset, "version": dv.version, "ref": dv.ref, "rows": dv.rows,
               **dv.summary[EXAMPLES_SUMMARY_KEY]}
    emit(args, payload, lambda: "\n".join(f"{k}: {v}" for k, v in payload.items()))


def register(groups: argparse._SubParsersAction) -> None:
    raft = groups.add_parser("raft", help="RAFT examples: oracle + distractor documents per question",
                             description="Build RAFT training examples; then `traces run NEW --template cot`.")
    sub = raft.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("build", help="a new dataset version with each question's documents (oracle with probability P)")
    p.add_argument("dataset", help="a raft dataset (queries and documents)")
    p.add_argument("--index", help="retrieval index for hard-negative distractors (default: random documents)")
    p.add_argument("--distractors", type=int, default=4, help="distractors per example (paper: 4)")
    p.add_argument("--oracle-p", type=float, default=0.8, help="share of examples with the oracle (paper: 0.8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", help="only queries of this split / source_split")
    p.add_argument("--out", help="output dataset name (default DATASET-raft)")
    add_json_flag(p)
    p.set_defaults(func=cmd_build)
