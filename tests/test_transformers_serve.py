"""The lab against a server nobody here wrote: `transformers serve` with the tiny model, offline, on the CPU.

One server for the module, behind a recording proxy (tests/serve_support.py), so each test asserts what the server
received (the model named, the settings) and that the lab's counts are the ones the server reported in `usage`:
a trace job and a teacher evaluation launched from the CLI, a Playground chat from the CLI and on the page, and a
trace job naming a model the server does not serve (it answers 400; the job must fail with the server's message).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from backend.recipes.guard.demo import write_guard_source
from backend.data.importers import import_dataset
from backend.training.tiny import build_tiny_model
from tests.browser_support import ROOT
from tests.serve_support import RecordingProxy, TransformersServe
from tests.support import isolated_state, open_page

DATASET = "demo-guard"
CHAT_COMPLETIONS = "/v1/chat/completions"
WRONG_MODEL = "gpt-4o-mini"
TEXTS = ["Hello! How can I help you today?", "Is this request harmful or unharmful?",
         "The assistant refused politely and explained why.", "Request: harmful\nCompletion: refusal\nResponse: None",
         "Think step by step, then give the answers."] * 10


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A lab state holding the demo guard dataset (only that one: it is all these tests need)."""
    with isolated_state(tmp_path_factory, "serve") as state:
        import_dataset("guard", DATASET, [write_guard_source(state.parent / "sources", seed=0)],
                       description="demo data (seed 0)")
        yield state


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`transformers serve` pinned to a freshly built tiny model, and the recording proxy in front of it."""
    model_dir = build_tiny_model(tmp_path_factory.mktemp("served") / "tiny", TEXTS, vocab_size=512)
    with TransformersServe(model_dir) as server, RecordingProxy(server.url) as proxy:
        print(f"\ntransformers serve answered {server.startup_s:.1f}s after it was started", file=sys.stderr)
        yield server, proxy


def cli(state, *args, timeout: float = 240) -> tuple[int, dict]:
    """`python -m backend ARGS --json` in a subprocess: its exit code and the JSON it printed."""
    env = {**os.environ, "FTLAB_STATE": str(state), "FTLAB_USER": "tester", "FTLAB_GPUS": "", "HF_HUB_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)  # a self-hosted endpoint needs no key (the lab sends a placeholder)
    out = subprocess.run([sys.executable, "-m", "backend", *args, "--json"], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=timeout)
    try:
        return out.returncode, json.loads(out.stdout)
    except ValueError:
        raise AssertionError(f"exit {out.returncode}, no JSON on stdout: {out.stdout[-2000:]!r}\n{out.stderr[-4000:]}")


def assert_counts_match(state, job_id: str, received) -> dict:
    """The job's ledger counts exactly the tokens the server reported, once per request it answered."""
    rc, items = cli(state, "traces", "items", job_id)
    assert rc == 0, items
    ledger = items["ledger"]
    assert ledger["paid_requests"] == len(received) and ledger["cache_hits"] == 0
    assert ledger["input_tokens"] == sum(e.usage["prompt_tokens"] for e in received)
    assert ledger["output_tokens"] == sum(e.usage["completion_tokens"] for e in received)
    return items


def test_trace_job_from_the_cli(lab, served):
    server, proxy = served
    proxy.take()
    started = time.monotonic()
    rc, job = cli(lab, "traces", "run", DATASET, "--teacher", server.model, "--base-url", proxy.base_url,
                  "--limit", "3", "--max-tokens", "16", "--max-rejects", "0", "--wait")
    received = proxy.take()
    # What the server received: one request per row, each naming the served model in full (not its first letter).
    assert [(e.method, e.path, e.body["model"]) for e in received] == [("POST", CHAT_COMPLETIONS, server.model)] * 3, \
        [(e.path, e.status, (e.body or {}).get("model"), e.response[:200]) for e in received]
    assert all(e.status == 200 and not e.streamed and e.body["max_tokens"] == 16 and e.body["temperature"] == 0
               for e in received)
    assert all(0 < e.usage["completion_tokens"] <= 16 for e in received)
    assert rc == 0 and job["status"] == "succeeded", job
    assert job["done"] + job["failed"] == 3 and job["failed"] == 0
    # The counts the server reported, summed, are the job's: in its result and in its ledger.
    assert job["input_tokens"] == sum(e.usage["prompt_tokens"] for e in received)
    assert job["output_tokens"] == sum(e.usage["completion_tokens"] for e in received)
    assert job["usd"] == 0  # a self-hosted model with no listed price costs nothing
    items = assert_counts_match(lab, job["job_id"], received)
    # Each item keeps the text the server sent for it.
    assert sorted(i["text"] for i in items["items"]) == sorted(e.text for e in received)
    print(f"trace job: {time.monotonic() - started:.1f}s", file=sys.stderr)


def test_teacher_evaluation_from_the_cli(lab, served):
    server, proxy = served
    proxy.take()
    rc, job = cli(lab, "eval", "run", DATASET, "--teacher", server.model, "--base-url", proxy.base_url,
                  "--limit", "3", "--max-new-tokens", "16", "--wait")
    received = proxy.take()
    assert [(e.path, e.body["model"], e.status) for e in received] == [(CHAT_COMPLETIONS, server.model, 200)] * 3, \
        [(e.path, e.status, (e.body or {}).get("model"), e.response[:200]) for e in received]
    assert all(e.body["max_tokens"] == 16 and e.body["temperature"] == 0 for e in received)
    assert rc == 0 and job["status"] == "succeeded", job
    assert_counts_match(lab, job["job_id"], received)
    # The evaluation scored exactly the replies the server sent.
    rc, shown = cli(lab, "eval", "show", job["best"]["id"])
    assert rc == 0, shown
    predictions = shown["predictions"]
    assert len(predictions) == 3
    assert sorted(p["predict"] for p in predictions) == sorted(e.text for e in received), predictions[0]


def test_playground_chat_from_the_cli(lab, served):
    server, proxy = served
    proxy.take()
    rc, chat = cli(lab, "chat", f"teacher:{server.model}@{proxy.base_url}", "hello", "--max-new-tokens", "8",
                   "--temperature", "0")
    (exchange,) = proxy.take()
    assert exchange.path == CHAT_COMPLETIONS and exchange.status == 200 and exchange.streamed
    assert exchange.body["model"] == server.model and exchange.body["stream"] is True
    assert exchange.body["max_tokens"] == 8 and exchange.body["messages"] == [{"role": "user", "content": "hello"}]
    assert rc == 0, chat
    assert exchange.text and chat["reply"] == exchange.text  # every streamed piece, in order, nothing else
    assert chat["tokens"] == exchange.usage["completion_tokens"] and 0 < chat["tokens"] <= 8


def test_playground_page_chat(lab, served):
    server, proxy = served
    proxy.take()
    at = open_page("views/playground.py")
    # With no trained model the page shows its settings once a model reference is given.
    at.text_input(key="playground_custom").set_value(f"teacher:{server.model}@{proxy.base_url}").run()
    at.slider(key="playground_temperature").set_value(0.0)
    at.number_input(key="playground_max_new").set_value(8)
    at.chat_input(key="playground_input").set_value("hello").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    (exchange,) = proxy.take()
    assert exchange.body["model"] == server.model and exchange.body["stream"] is True and exchange.status == 200
    assert exchange.body["max_tokens"] == 8 and exchange.body["messages"][-1] == {"role": "user", "content": "hello"}
    assert exchange.text
    assert at.session_state["playground_history"][-2:] == [{"role": "user", "content": "hello"},
                                                            {"role": "assistant", "content": exchange.text}]


def test_a_model_the_server_does_not_serve_fails_the_job_with_its_message(lab, served):
    server, proxy = served
    proxy.take()
    rc, job = cli(lab, "traces", "run", DATASET, "--teacher", WRONG_MODEL, "--base-url", proxy.base_url,
                  "--limit", "3", "--max-tokens", "16", "--max-rejects", "0", "--wait")
    received = proxy.take()
    assert received, "the server got no request"
    assert {(e.path, e.body["model"], e.status) for e in received} == {(CHAT_COMPLETIONS, WRONG_MODEL, 400)}
    refusal = received[0].reply["detail"]
    assert refusal == f"Server is pinned to '{server.model}'; requested '{WRONG_MODEL}'."
    # The job fails at once and says why, in the server's words; the CLI exits non-zero.
    assert job["status"] == "failed" and rc != 0, job
    assert "Server is pinned to" in job["error"] and f"requested '{WRONG_MODEL}'" in job["error"], job["error"]
