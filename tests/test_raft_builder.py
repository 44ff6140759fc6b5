"""RAFT examples: oracle share within binomial tolerance, no oracle among distractors, determinism, and the
whole chain to a CoT trace dataset and the RAFT repo's JSONL."""
import json
import math

import pytest

from backend.data import store
from backend.data.demo import create_demo_datasets
from backend.training.sft_export import export_dataset
from backend.recipes.base import loads_json
from backend.retrieval.raft_builder import RaftBuildRequest, build_raft_dataset
from backend.jobs import manager
from backend.traces.engine import TraceRequest, launch_traces
from backend.traces.teachers import Teacher
from tests.openai_server import FakeOpenAI, message_text

KEY = "sk-test-0123456789abcdefghij"


@pytest.fixture()
def demo(state, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    create_demo_datasets()
    return state


def test_oracle_share_distractors_and_determinism(demo):
    built = build_raft_dataset(RaftBuildRequest(dataset="demo-raft", distractors=4, oracle_p=0.8, seed=3))
    frame = store.load_frame(built)
    n = len(frame)
    share = frame["has_oracle"].mean()
    assert abs(share - 0.8) <= 3 * math.sqrt(0.8 * 0.2 / n)  # within 3 standard deviations of P
    for row in frame.to_dict(orient="records"):
        gold = set(loads_json(row["gold_documents"], []))
        context = loads_json(row["context_doc_ids"], [])
        distractors = [d for d in context if d not in gold]
        assert len(distractors) == 4  # no oracle among the distractors
        assert gold.issubset(context) == row["has_oracle"]
        assert row["instruction"].count("<DOCUMENT>") == len(context)
        assert row["instruction"].endswith(row["query"])
    again = store.load_frame(build_raft_dataset(RaftBuildRequest(dataset="demo-raft", seed=3, out="again")))
    assert again["context_doc_ids"].tolist() == frame["context_doc_ids"].tolist()
    other = store.load_frame(build_raft_dataset(RaftBuildRequest(dataset="demo-raft", seed=4, out="other")))
    assert other["context_doc_ids"].tolist() != frame["context_doc_ids"].tolist()
    assert built.summary["raft"]["distractors_per_example"] == 4.0


def quoting_teacher(body: dict) -> str:
    user = message_text(body["messages"][-1])
    first = user.split("<DOCUMENT>")[1].split("</DOCUMENT>")[0]
    sentence = first.split(".")[0].strip()
    return f"Step 1: the context says ##begin_quote##{sentence}.##end_quote##\n<ANSWER>: {sentence}"


def test_cot_traces_and_raft_jsonl(demo, tmp_path):
    built = build_raft_dataset(RaftBuildRequest(dataset="demo-raft", split="train", seed=1))
    with FakeOpenAI(responder=quoting_teacher, api_key=KEY) as server:
        job = launch_traces(TraceRequest(dataset=built.ref, template="cot", limit=10, out="raft-cot",
                                         teacher=Teacher(model="gpt-4o-mini", base_url=server.base_url, rpm=None,
                                                         tpm=None)))
        final = manager.wait(job.id, timeout=120)
        prompts = [message_text(r["body"]["messages"][-1]) for r in server.paid_requests()]
    assert final.status == "succeeded", final.error
    assert all("##begin_quote##" in p and "<DOCUMENT>" in p for p in prompts)
    out = tmp_path / "raft.jsonl"
    result = export_dataset("raft-cot", "raft-jsonl", out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.rows == len(records) == 10
    assert set(records[0]) == {"id", "type", "question", "context", "oracle_context", "cot_answer", "instruction"}
    assert all(r["cot_answer"].startswith("Step 1") and "<ANSWER>:" in r["cot_answer"] for r in records)
    from backend.retrieval.raft_builder import raft_stats

    stats = raft_stats(store.load_frame("raft-cot"))
    assert stats["quote_validity"] == 1.0 and stats["quotes"] == 10
