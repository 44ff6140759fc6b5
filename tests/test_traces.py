"""Trace generation against a real HTTP server speaking the OpenAI API, with the job system."""
import os
import re
from collections import Counter
import signal
import time

import pytest

from backend.data import store
from backend.jobs import manager
from backend.traces import records
from backend.traces.engine import TraceRequest, launch_traces
from backend.traces.estimate import estimate_cost
from backend.traces.teachers import Teacher
from tests.openai_server import FakeOpenAI
from tests.trace_support import KEY, env, guard_rows, make_dataset, make_guard_responder  # noqa: F401 (env: a fixture)



def teacher(server, **kw) -> Teacher:
    return Teacher(model="gpt-4o-mini", base_url=server.base_url, **{"concurrency": 8, "rpm": None, "tpm": None,
                                                                     "timeout_s": 2.0, **kw})


def run(server, dataset, **kw):
    job = launch_traces(TraceRequest(dataset=dataset, teacher=teacher(server, **kw.pop("teacher_kw", {})), **kw))
    return manager.wait(job.id, timeout=120)


def test_estimate_equals_server_usage_and_dataset_is_written(env):
    make_dataset("g", 30)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        [estimate] = estimate_cost("g", [teacher(server)])
        job = run(server, "g", out="g-traces")
        usage = server.usage_totals()
    assert job.status == "succeeded", job.error
    assert estimate.requests == 30 == usage["requests"]
    assert estimate.input_tokens == usage["prompt_tokens"]
    led = records.ledger(job.id)
    assert led["input_tokens"] == usage["prompt_tokens"] and led["output_tokens"] == usage["completion_tokens"]
    assert led["accepted"] == 30 and led["agreement_rate"] == 1.0
    out = store.load_frame("g-traces")
    assert len(out) == 30 and out["trace"].str.contains("Answers:").all()
    assert store.resolve("g-traces").parent == "g@1"


def test_faults_lose_and_duplicate_nothing(env):
    make_dataset("g", 40)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        server.inject("429", times=3, retry_after=0.2)
        server.inject("timeout", times=2, seconds=3)
        server.inject("malformed", times=2)
        server.inject("truncated", times=2)
        server.inject("500", times=2)
        server.inject("503", times=1)
        job = run(server, "g", teacher_kw={"max_retries": 8})
        paid = server.count_by_key()
        faults = [r for r in server.requests if r["fault"]]
    assert job.status == "succeeded", job.error
    assert len(faults) >= 12
    led = records.ledger(job.id)
    assert led["accepted"] == 40 and led["failed"] == 0
    # Every item paid once, except the two that timed out: the server billed those and their retry, and the
    # ledger counts the lost ones as possibly billed.
    timed_out = {r["key"] for r in server.requests if r["fault"] == "timeout"}
    assert len(paid) == 40 and len(timed_out) == 2
    assert {key for key, n in paid.items() if n > 1} == timed_out and max(paid.values()) == 2
    assert led["possibly_billed_requests"] == 2 and led["possibly_billed_usd"] > 0


def test_budget_cap_holds(env):
    make_dataset("g", 60)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        [input_only] = estimate_cost("g", [teacher(server)], output_tokens=0)
        budget = input_only.usd_online  # less than the whole job costs, more than a few requests
        job = run(server, "g", budget_usd=budget, max_tokens=300)
        usage = server.usage_totals()
    assert job.status == "succeeded"
    assert job.result["stopped"] == "budget"
    led = records.ledger(job.id)
    assert 0 < led["usd"] <= budget
    assert 0 < usage["requests"] < 60
    assert led["accepted"] == usage["requests"]


def test_kill_and_resume_never_pays_twice(env):
    make_dataset("g", 60)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY, latency_s=0.15) as server:
        job = launch_traces(TraceRequest(dataset="g", teacher=teacher(server, concurrency=4)))
        deadline = time.time() + 60
        while records.ledger(job.id)["done"] < 10 and time.time() < deadline:
            time.sleep(0.1)
        os.kill(manager.get(job.id).pid, signal.SIGKILL)
        time.sleep(0.5)
        manager.reconcile()
        assert manager.get(job.id).status == "lost"
        done_before = records.ledger(job.id)["done"]
        assert 10 <= done_before < 60
        recorded = {i["item_id"] for i in records.items_page(job.id, status="accepted", limit=100)}
        manager.resume(job.id)
        final = manager.wait(job.id, timeout=120)
        paid = server.paid_requests()
    assert final.status == "succeeded", final.error
    assert records.ledger(job.id)["accepted"] == 60
    per_item = Counter(re.search(r"q prompt number (\d+) ", r["body"]["messages"][-1]["content"]).group(1)
                       for r in paid)
    assert set(per_item) == {str(i) for i in range(60)}
    # Nothing recorded before the kill was asked again; only requests in flight at the kill can repeat.
    assert all(per_item[item_id[1:]] == 1 for item_id in recorded)
    assert sum(n - 1 for n in per_item.values()) <= 4
    assert final.attempts == 2


def test_disagreeing_traces_are_retried_hotter_and_rejects_kept(env):
    make_dataset("g", 12)
    responder = make_guard_responder(stubborn_words=("number 3 ",), cold_wrong_words=("number 6 ",))
    with FakeOpenAI(responder=responder, api_key=KEY) as server:
        job = run(server, "g", max_rejects=1)
    led = records.ledger(job.id)
    assert led["rejected"] == 1 and led["accepted"] == 11
    [rejected] = records.items_page(job.id, status="rejected")
    assert rejected["item_id"] == "q3"
    attempts = records.attempts_of(job.id, "q3")
    assert [a["agrees"] for a in attempts] == [0, 0] and attempts[1]["temperature"] > attempts[0]["temperature"]
    retried = records.attempts_of(job.id, "q6")
    assert [a["agrees"] for a in retried] == [0, 1]
    assert 0 < led["agreement_rate"] < 1


def test_rerun_uses_the_cache(env):
    make_dataset("g", 10)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        run(server, "g")
        second = run(server, "g")
        assert server.usage_totals()["requests"] == 10
    led = records.ledger(second.id)
    assert led["cache_hits"] == 10 and led["usd"] == 0 and led["accepted"] == 10


def test_batch_mode(env):
    make_dataset("g", 8)
    with FakeOpenAI(responder=make_guard_responder(cold_wrong_words=("number 2 ",)), api_key=KEY,
                    batch_delay_s=0.1) as server:
        job = run(server, "g", batch=True, batch_poll_s=0.2, max_rejects=1)
        batches = server.batch_requests
    assert job.status == "succeeded", job.error
    led = records.ledger(job.id)
    assert led["accepted"] == 8
    assert len(batches) == 9  # 8 in round 1, the one that disagreed again in round 2
    online = Teacher(model="gpt-4o-mini").price().cost(led["input_tokens"], led["output_tokens"])
    assert led["usd"] == pytest.approx(online / 2)


def test_api_key_never_written(env):
    make_dataset("g", 5)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        job = run(server, "g")
    assert job.status == "succeeded"
    for root, _, files in os.walk(env):
        for name in files:
            data = open(os.path.join(root, name), "rb").read()
            assert KEY.encode() not in data, os.path.join(root, name)


def test_per_policy_estimate_for_seed_000(env):
    make_dataset("wildguard-1554", 1554)
    [estimate] = estimate_cost("wildguard-1554", [Teacher(model="gpt-4")], template="policy", output_tokens=150)
    assert estimate.requests == 1554 * 6 == 9324
    assert estimate.usd_online == pytest.approx(
        (estimate.input_tokens * 30 + estimate.output_tokens * 60) / 1e6)
    assert estimate.output_tokens == 9324 * 150


def test_local_teacher_job(env, tmp_path):
    from backend.training.tiny import build_tiny_model

    make_dataset("g", 6)
    model = build_tiny_model(tmp_path / "tiny", [r["prompt"] for r in guard_rows(6).to_dict("records")] * 5)
    job = launch_traces(TraceRequest(dataset="g", teacher=Teacher(model=str(model), provider="local"),
                                     max_tokens=8, max_rejects=1))
    final = manager.wait(job.id, timeout=120)
    assert final.status == "succeeded", final.error
    led = records.ledger(job.id)
    # A random tiny model cannot produce the Answers block: every item is tried twice and kept as rejected.
    assert led["rejected"] == 6 and led["usd"] == 0
    assert all(len(records.attempts_of(job.id, f"q{i}")) == 2 for i in range(6))


def test_identical_prompts_are_paid_once_whatever_the_timing(state, monkeypatch):
    """Rows that send the same prompt share one paid request, even when they are in flight together."""
    import pandas as pd

    from backend.data import store
    from backend.jobs.manager import wait
    from backend.traces.engine import TraceRequest, launch_traces
    from backend.traces.estimate import estimate_cost
    from backend.traces.records import ledger
    from backend.traces.teachers import Teacher
    from tests.openai_server import FakeOpenAI

    rows = guard_rows(3)  # three distinct rows, four times each under other ids
    frame = pd.concat([rows.assign(id=rows["id"] + f"-{k}") for k in range(4)], ignore_index=True)
    with store.VersionWriter("dupes", "guard", "import") as writer:
        writer.write(frame)
        writer.commit()
    with FakeOpenAI(latency_s=0.3, responder=make_guard_responder()) as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        teacher = Teacher(model="gpt-4o-mini", base_url=server.base_url, concurrency=12)
        [estimate] = estimate_cost("dupes", [teacher])
        assert estimate.requests == 3 and estimate.repeated_prompts == 9
        job = wait(launch_traces(TraceRequest(dataset="dupes", teacher=teacher)).id, timeout=120)
        assert job.status == "succeeded", job.error
        assert len(server.requests) == 3
        led = ledger(job.id)
        assert led["done"] == 12 and led["cache_hits"] == 9 and led["paid_requests"] == 3
