"""The teacher is the model the user named, its refusals reach the user, and money and rate limits fit the
endpoint: real HTTP to the fake OpenAI server on 127.0.0.1 (tests/openai_server.py), the CLI in a
subprocess where the bug lived there, and real job processes."""
import json
import os
import subprocess
import sys

import pytest

from backend.cli import main as cli_main
from backend.errors import LabError
from backend.jobs import manager
from backend.playground.chat import stream_reply
from backend.playground.models import resolve_choice
from backend.traces import records
from backend.traces.engine import TraceRequest, launch_traces
from backend.traces.estimate import estimate_cost
from backend.traces.prices import price_for
from backend.traces.teachers import OPENAI_TIER_DEFAULTS, Teacher, body_message
from tests.browser_support import ROOT
from tests.openai_server import ApiError, FakeOpenAI
from tests.support import open_page
from tests.trace_support import KEY, env, make_dataset, make_guard_responder  # noqa: F401 (env: a fixture)



def cli(*args) -> tuple[int, dict]:
    """`python -m backend ... --json` in a subprocess (the job it launches is one more)."""
    out = subprocess.run([sys.executable, "-m", "backend", *args, "--json"], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, "FTLAB_GPUS": ""}, timeout=120)
    try:
        return out.returncode, json.loads(out.stdout)
    except ValueError:
        raise AssertionError(f"not JSON (exit {out.returncode}): {out.stdout}\n{out.stderr}") from None


def cli_here(capsys, *args) -> tuple[int, dict | str]:
    """The same CLI in this process (one Python start less; a job it launches still runs in its own)."""
    capsys.readouterr()
    rc = cli_main(list(args))
    printed = capsys.readouterr().out
    return rc, json.loads(printed) if "--json" in args else printed


def run_job(server, dataset: str, model: str = "gpt-4o-mini", timeout: float = 60, **kw):
    teacher_kw = {"concurrency": 8, "timeout_s": 5.0, **kw.pop("teacher_kw", {})}
    job = launch_traces(TraceRequest(dataset=dataset, teacher=Teacher(model=model, base_url=server.base_url,
                                                                      **teacher_kw), **kw))
    return manager.wait(job.id, timeout=timeout)


# -- the teacher is the model the user named ------------------------------------------------------

def test_cli_run_sends_the_named_model_without_client_side_throttling(env):
    """`traces run --teacher gpt-4o-mini` sent "g"; and OpenAI's default TPM throttled a local server
    (300 items at 20 ms latency took minutes). Now: the whole name, and no client-side limit off OpenAI."""
    make_dataset("g", 300)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY, latency_s=0.02) as server:
        rc, out = cli("traces", "run", "g", "--teacher", "gpt-4o-mini", "--base-url", server.base_url, "--wait")
        arrivals = [r["timestamp"] for r in server.requests]
        models = {r["body"]["model"] for r in server.requests}
        most_at_once = server.max_in_flight
    assert rc == 0 and out["status"] == "succeeded", out
    assert models == {"gpt-4o-mini"}
    assert out["done"] == 300 and out["failed"] == 0 and out["dataset"] == "g-traces@1"
    assert out["price"].startswith("gpt-4o-mini (") and out["usd"] > 0
    assert most_at_once > 1  # requests overlapped: the concurrency, not a rate limit, set the pace
    # OpenAI's default 200,000 TPM would space these ~1,300-token requests (input + max_tokens) 0.4 s apart
    spent = max(arrivals) - min(arrivals)
    assert spent < 20, f"300 requests took {spent:.1f} s at 20 ms latency: throttled on our side"


def test_unknown_model_fails_the_job_fast_with_the_servers_message(env, capsys):
    make_dataset("g", 60)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        rc, out = cli_here(capsys, "traces", "run", "g", "--teacher", "gpt-x-nope", "--base-url", server.base_url,
                           "--wait", "--json")
        sent = len(server.requests)
    assert rc != 0 and out["status"] == "failed", out
    assert "The model `gpt-x-nope` does not exist or you do not have access to it." in out["error"]
    assert "404 from the teacher" in out["error"] and "Error code" not in out["error"]
    assert sent < 60 and out["pending"] > 0  # stopped after the first few refusals, not after asking for all
    assert out["status_line"].startswith("failed: ") and "does not exist" in out["status_line"]


@pytest.mark.parametrize("status, code", [(401, None), (403, None), (422, None), (429, "insufficient_quota")])
def test_every_refusal_no_retry_fixes_stops_the_job_even_with_a_new_request_id_each_time(env, status, code):
    """Gateways put a fresh request id in every error: the refusals are still 'the same', and the job stops."""
    make_dataset("g", 40)
    sent = iter(range(10**6))

    def refuse(body: dict) -> str:
        raise ApiError(status, f"refused by the gateway (request id req_{next(sent):08x}a7)", code=code)

    with FakeOpenAI(responder=refuse, api_key=KEY) as server:
        job = run_job(server, "g", teacher_kw={"concurrency": 1})
        requests = len(server.requests)
    assert job.status == "failed" and f"{status} from the teacher" in job.error and "refused by the gateway" in job.error
    assert requests < 10  # stopped after the first few items, not after all 40 (and no retries of a 429 quota)


def test_partly_failed_job_says_so_in_its_status_line_and_on_the_page(env, capsys):
    make_dataset("g", 12)
    guard = make_guard_responder()

    def fussy(body: dict) -> str:  # a provider that rejects some prompts (every third one mentions weapons)
        if "weapons" in body["messages"][-1]["content"]:
            raise ApiError(400, "Invalid prompt: your prompt was flagged as potentially violating our usage policy.")
        return guard(body)

    with FakeOpenAI(responder=fussy, api_key=KEY) as server:
        job = run_job(server, "g", teacher_kw={"concurrency": 1})
    assert job.status == "succeeded", job.error
    led = records.ledger(job.id)
    assert led["failed"] == 4 and led["accepted"] == 8
    assert job.message.startswith("4 of 12 items failed: 400 from the teacher") and "flagged" in job.message
    assert job.status_line == f"succeeded ({job.message})"
    rc, listed = cli_here(capsys, "jobs", "list")
    [line] = [row for row in listed.splitlines() if job.id in row]
    assert "succeeded" in line and "4 of 12 items failed" in line
    rc, shown = cli_here(capsys, "jobs", "show", job.id, "--json")
    assert shown["message"] == job.message and shown["status_line"] == job.status_line
    at = open_page("views/traces.py")
    at.selectbox(key="traces_browse_job").set_value(job.id)
    at.run()
    assert not at.exception
    assert any("4 of 12 items failed" in w.value and "flagged" in w.value for w in at.warning)


def test_teacher_evaluation_with_an_unknown_model_fails_with_the_servers_message(env):
    from backend.evaluation.runner import EvalRequest, launch_evaluation

    make_dataset("g", 40)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        job = launch_evaluation(EvalRequest(dataset="g", teacher=Teacher(model="gpt-x-nope", base_url=server.base_url,
                                                                         concurrency=4)))
        final = manager.wait(job.id, timeout=60)
        sent = len(server.requests)
    assert final.status == "failed"
    assert "The model `gpt-x-nope` does not exist" in final.error
    assert sent < 40


@pytest.mark.parametrize("style", ["openai", "fastapi", "text"])
def test_teacher_chat_shows_the_servers_message(state, monkeypatch, style):
    with FakeOpenAI(models={"llama3"}, error_style=style) as server:
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        url = server.base_url
        with pytest.raises(LabError) as caught:
            list(stream_reply(resolve_choice(f"teacher:gpt-x-nope@{url}"), [{"role": "user", "content": "hello"}]))
    message = str(caught.value)
    assert f"the endpoint {url} answered with an error: 404 " in message
    assert message.endswith("The model `gpt-x-nope` does not exist or you do not have access to it.")


def test_error_bodies_of_other_servers_give_their_message():
    assert body_message({"message": "The model `x` does not exist.", "object": "error", "code": 404}) == \
        "The model `x` does not exist."  # vLLM
    assert body_message({"error": {"message": 'model "x" not found, try pulling it first'}}) == \
        'model "x" not found, try pulling it first'  # Ollama, llama.cpp, OpenAI
    assert body_message({"detail": [{"loc": ["body", "model"], "msg": "field required"}]}) == "field required"
    assert body_message({"error": "Unauthorized"}) == "Unauthorized"
    assert body_message("<html>502 Bad Gateway</html>") == "<html>502 Bad Gateway</html>"
    assert body_message('{"detail": "Not Found"}') == "Not Found" and body_message({}) is None


# -- money ----------------------------------------------------------------------------------------

def test_price_follows_the_model_name_not_the_url():
    for url in (None, "https://gateway.example.org/v1", "http://127.0.0.1:4000/v1"):
        for model in ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"):
            price = Teacher(model=model, base_url=url).price()
            assert (price.priced_as, price.input, price.output) == ("gpt-4o-mini", 0.15, 0.6), (model, url)
    local = Teacher(model="meta-llama/Llama-3.1-8B-Instruct", base_url="http://127.0.0.1:8000/v1").price()
    assert local.free and local.source == "no price" and local.cost(1000, 1000) == 0
    assert Teacher(model="llama3", base_url="http://x/v1", price_model="gpt-4o").price().priced_as == "gpt-4o"
    assert Teacher(model="gpt-4o", price_model="None").price().free  # any case
    with pytest.raises(LabError, match="no price for model 'gpt-9'"):
        Teacher(model="llama3", base_url="http://x/v1", price_model="gpt-9").price()


def test_gateway_url_is_priced_by_the_model_name_and_the_budget_cap_stops(env, capsys):
    make_dataset("g", 40)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as gateway:
        rc, estimate = cli_here(capsys, "traces", "estimate", "g", "--teacher", "gpt-4o-mini", "--base-url",
                                gateway.base_url, "--output-tokens", "0", "--json")
        assert rc == 0 and estimate["price_model"] == "gpt-4o-mini" and estimate["usd"] > 0
        assert estimate["price"].startswith("gpt-4o-mini (0.15 / 0.6 USD per 1M")
        budget = round(estimate["usd"] / 2, 6)  # the input alone of half the items: the cap must stop the job
        rc, out = cli_here(capsys, "traces", "run", "g", "--teacher", "gpt-4o-mini", "--base-url", gateway.base_url,
                           "--budget-usd", str(budget), "--max-tokens", "300", "--wait", "--json")
        billed = gateway.usage_totals()["requests"]
        url = gateway.base_url
    assert rc == 0 and out["status"] == "succeeded", out
    assert out["stopped"] == "budget" and 0 < out["usd"] <= budget
    assert 0 < billed < 40 and out["pending"] > 0
    assert "stopped: budget" in out["message"]
    rc, text = cli_here(capsys, "traces", "estimate", "g", "--teacher", "gpt-4o-mini", "--base-url", url)
    assert f"gpt-4o-mini @ {url}: price gpt-4o-mini (0.15 / 0.6 USD per 1M" in text
    assert "no client-side limit" in text


def test_local_model_is_free_unless_priced(env, capsys):
    make_dataset("g", 6)

    def estimate(*extra) -> dict:
        rc, out = cli_here(capsys, "traces", "estimate", "g", "--teacher", "llama3", "--base-url",
                           "http://127.0.0.1:9/v1", *extra, "--json")
        assert rc == 0, out
        return out["estimates"][0]

    free = estimate()
    assert free["usd"] == 0 and free["price_model"] is None and free["price_source"] == "no price"
    assert free["price"].startswith("no price: 'llama3' is not in the price table")
    as_gpt4o = estimate("--price-model", "gpt-4o")
    gpt4o = price_for("gpt-4o")
    assert as_gpt4o["price_model"] == "gpt-4o" and as_gpt4o["price_source"] == "given"
    assert as_gpt4o["usd"] == pytest.approx((as_gpt4o["input_tokens"] * gpt4o.input
                                             + as_gpt4o["output_tokens"] * gpt4o.output) / 1e6)
    for word in ("none", "free"):  # 'free' is the older spelling of none
        rc, out = cli_here(capsys, "traces", "estimate", "g", "--teacher", "gpt-4o-mini", "--price-model", word,
                           "--json")
        assert out["usd"] == 0 and out["price_model"] is None and out["price"].startswith("none: --price-model none")
    rc, out = cli_here(capsys, "traces", "estimate", "g", "--teacher", "my-new-model", "--json")
    assert rc == 2 and "no price for model 'my-new-model'" in out["error"]  # on OpenAI itself, an unknown model costs
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY, models={"llama3"}) as server:
        job = run_job(server, "g", model="llama3", budget_usd=0.0001)
        models = {r["body"]["model"] for r in server.requests}
    assert job.status == "succeeded" and not job.result.get("stopped")  # free: a budget cap never bites
    assert models == {"llama3"} and records.ledger(job.id)["usd"] == 0 and job.result["accepted"] == 6


# -- rate limits ----------------------------------------------------------------------------------

def test_rate_limits_resolve_per_endpoint():
    tier = (OPENAI_TIER_DEFAULTS["rpm"], OPENAI_TIER_DEFAULTS["tpm"])
    assert Teacher(model="gpt-4o-mini").rate_limits() == tier
    assert Teacher(model="gpt-4o-mini", base_url="https://api.openai.com/v1/").rate_limits() == tier
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:11434/v1", "https://gateway.example.org/openai/v1",
                "https://my-resource.openai.azure.com/openai", "https://api.openai.com.evil.example/v1"):
        assert Teacher(model="gpt-4o-mini", base_url=url).rate_limits() == (None, None), url
    assert Teacher(model="x", base_url="http://127.0.0.1:8000/v1", rpm=60).rate_limits() == (60, None)
    assert Teacher(model="gpt-4o", rpm=0, tpm=30_000).rate_limits() == (None, 30_000)  # 0 = no limit
    with pytest.raises(LabError, match=r"rpm \(--rpm\) must be a whole number from 0"):
        Teacher(model="gpt-4o", rpm=-1)


def test_a_servers_429_and_retry_after_are_honoured(env):
    make_dataset("g", 4)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        server.inject("429", retry_after=1)
        job = run_job(server, "g", teacher_kw={"concurrency": 1})
        first, retry = server.requests[:2]
    assert job.status == "succeeded" and job.result["accepted"] == 4 and job.result["failed"] == 0
    assert first["status"] == 429 and retry["key"] == first["key"] and retry["status"] == 200
    assert retry["timestamp"] - first["timestamp"] >= 0.95  # waited as the server asked


# -- requests that timed out on our side ----------------------------------------------------------

def test_timeouts_are_possibly_billed_and_count_against_the_budget(env, capsys):
    make_dataset("g", 10)
    teacher = Teacher(model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1")
    [first] = estimate_cost("g", [teacher], limit=1, output_tokens=1000)
    worst = first.usd_online  # the first item's worst case: its input and max_tokens of output
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        server.inject("timeout", times=2, seconds=1.5)
        job = run_job(server, "g", max_tokens=1000, budget_usd=2.5 * worst,
                      teacher_kw={"concurrency": 1, "timeout_s": 0.5})
        server_billed = server.usage_totals()["requests"]
        sent = len(server.requests)
    led = records.ledger(job.id)
    # Two timeouts are billed by the server; counted at their worst case they leave no room for a third try.
    assert server_billed == 2 == sent
    assert led["possibly_billed_requests"] == 2 and led["usd"] == 0
    assert led["possibly_billed_usd"] == pytest.approx(2 * worst, rel=0.2)
    assert job.result["stopped"] == "budget"
    assert job.result["possibly_billed_requests"] == 2 and job.result["usd_worst_case"] == led["possibly_billed_usd"]
    assert "2 timed-out requests possibly billed" in job.message
    rc, items = cli_here(capsys, "traces", "items", job.id, "--json")
    assert items["ledger"]["possibly_billed_requests"] == 2
    assert items["ledger"]["possibly_billed_usd"] == led["possibly_billed_usd"]


def test_batch_mode_with_an_unknown_model_fails_with_the_servers_message(env):
    make_dataset("g", 4)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY, batch_delay_s=0.05) as server:
        job = run_job(server, "g", model="gpt-x-nope", batch=True, batch_poll_s=0.1)
    assert job.status == "failed"
    assert "all 4 items failed: 404 from the teacher" in job.error
    assert "The model `gpt-x-nope` does not exist" in job.error
