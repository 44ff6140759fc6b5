import json
import threading
import time
import urllib.error
import urllib.request

import openai
import pytest
from openai import OpenAI

from backend.traces.tokens import count_chat_tokens, count_tokens
from tests.openai_server import FakeOpenAI

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are a careful safety classifier."},
    {"role": "user", "content": "Is this prompt harmful? 'How do I bake bread at home?'"},
]


def client_for(server: FakeOpenAI, timeout: float = 5.0, api_key: str | None = None) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=api_key or server.api_key, max_retries=0, timeout=timeout)


def ask(client: OpenAI, text: str = "hello", **params):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}], **params)


def raw_request(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_completion_round_trip_reports_exact_usage():
    with FakeOpenAI() as server:
        completion = client_for(server).chat.completions.create(
            model=MODEL, messages=MESSAGES, temperature=0, seed=7, max_tokens=200)

    content = completion.choices[0].message.content
    assert content == "Echo: " + MESSAGES[1]["content"][:80]
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.role == "assistant"
    assert completion.system_fingerprint
    assert completion.usage.prompt_tokens == count_chat_tokens(MESSAGES, "o200k_base")
    assert completion.usage.completion_tokens == count_tokens([content])[0]
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens

    [record] = server.paid_requests()
    assert record["body"]["seed"] == 7 and record["status"] == 200
    assert server.usage_totals() == {
        "prompt_tokens": completion.usage.prompt_tokens,
        "completion_tokens": completion.usage.completion_tokens,
        "requests": 1,
    }


def test_custom_responder_and_cl100k_encoding():
    messages = [{"role": "user", "content": "Ist diese Anfrage schädlich? Wie backe ich Brot?"}]
    with FakeOpenAI(responder=lambda body: f"label for {body['model']}", encoding="cl100k_base") as server:
        completion = client_for(server).chat.completions.create(model="gpt-4", messages=messages)
    assert completion.choices[0].message.content == "label for gpt-4"
    assert completion.usage.prompt_tokens == count_chat_tokens(messages, "cl100k_base")
    assert completion.usage.prompt_tokens != count_chat_tokens(messages, "o200k_base")


def test_bad_key_is_rejected_with_401():
    with FakeOpenAI() as server:
        with pytest.raises(openai.AuthenticationError) as caught:
            ask(client_for(server, api_key="sk-wrong-key-000000000000"))
        status, body = raw_request(server.base_url + "/files/file-x")
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert status == 401 and set(body["error"]) >= {"message", "type", "code"}
    assert [r["status"] for r in server.requests] == [401]
    assert server.paid_requests() == []


def test_no_key_configured_accepts_any_client():
    with FakeOpenAI(api_key=None) as server:
        completion = ask(client_for(server, api_key="anything"))
    assert completion.choices[0].message.content == "Echo: hello"


def test_unknown_model_gets_openai_404_and_replies_echo_the_model_asked_for():
    with FakeOpenAI(models={"gpt-4o-mini", "llama3"}) as server:
        client = client_for(server)
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="g", messages=MESSAGES)
        local = client.chat.completions.create(model="llama3", messages=MESSAGES)
        streamed = list(client.chat.completions.create(model="llama3", messages=MESSAGES, stream=True))
        listed = [m.id for m in client.models.list()]
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-4")
    assert caught.value.body == {"message": "The model `g` does not exist or you do not have access to it.",
                                 "type": "invalid_request_error", "param": None, "code": "model_not_found"}
    assert local.model == "llama3" and all(chunk.model == "llama3" for chunk in streamed)
    assert listed == ["gpt-4o-mini", "llama3"]
    assert [r["status"] for r in server.requests] == [404, 200, 200]
    assert [r["body"]["model"] for r in server.paid_requests()] == ["llama3", "llama3"]


def test_default_models_serve_the_names_tests_use_and_none_serves_any():
    with FakeOpenAI() as server:
        assert ask(client_for(server)).model == MODEL
        with pytest.raises(openai.NotFoundError):
            client_for(server).chat.completions.create(model="llama3", messages=MESSAGES)
    with FakeOpenAI(models=None) as server:
        assert client_for(server).chat.completions.create(model="anything", messages=MESSAGES).model == "anything"


@pytest.mark.parametrize("style", ["fastapi", "text"])
def test_error_replies_in_other_servers_styles(style):
    with FakeOpenAI(models={"llama3"}, error_style=style) as server:
        request = urllib.request.Request(server.base_url + "/chat/completions", method="POST",
                                         data=json.dumps({"model": "g", "messages": MESSAGES}).encode(),
                                         headers={"Authorization": f"Bearer {server.api_key}",
                                                  "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
    text = caught.value.read().decode()
    message = "The model `g` does not exist or you do not have access to it."
    assert caught.value.code == 404
    assert (json.loads(text) == {"detail": message}) if style == "fastapi" else (text == message)


def test_a_timed_out_request_is_billed():
    with FakeOpenAI(latency_s=0.1) as server:
        server.inject("timeout", seconds=2)
        with pytest.raises(openai.APITimeoutError):
            ask(client_for(server, timeout=0.5), "given up on")
        [billed] = server.paid_requests()  # billed at once, not when the late reply is written
        ask(client_for(server), "answered")
    assert billed["fault"] == "timeout" and billed["usage"]["completion_tokens"] > 0
    assert server.usage_totals()["requests"] == 2


def test_unknown_path_gives_openai_style_404():
    with FakeOpenAI() as server:
        status, body = raw_request(server.base_url + "/engines", headers={"Authorization": f"Bearer {server.api_key}"})
    assert status == 404
    assert body["error"]["code"] == "unknown_url" and "/v1/engines" in body["error"]["message"]


def test_each_fault_kind_reaches_the_client_as_its_error():
    with FakeOpenAI() as server:
        client = client_for(server)
        server.inject("429", retry_after=7)
        with pytest.raises(openai.RateLimitError) as rate_limited:
            ask(client)
        server.inject("500")
        with pytest.raises(openai.InternalServerError) as internal:
            ask(client)
        server.inject("503")
        with pytest.raises(openai.InternalServerError) as overloaded:
            ask(client)
        server.inject("timeout", seconds=3)
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            ask(client_for(server, timeout=0.3))
        assert time.monotonic() - started < 2
        server.inject("malformed")
        with pytest.raises(json.JSONDecodeError):
            ask(client)
        server.inject("truncated")
        assert ask(client).choices is None
        server.inject("slow", seconds=0.3)
        started = time.monotonic()
        slow = ask(client, "after all faults")
        assert time.monotonic() - started >= 0.3

    assert rate_limited.value.response.headers["retry-after"] == "7"
    assert rate_limited.value.body["type"] == "rate_limit_error"
    assert internal.value.status_code == 500
    assert overloaded.value.status_code == 503
    assert slow.choices[0].message.content == "Echo: after all faults"
    assert [(r["fault"], r["status"]) for r in server.requests] == [
        ("429", 429), ("500", 500), ("503", 503), ("timeout", 200), ("malformed", 200), ("truncated", 200),
        ("slow", 200)]
    # The timed-out request ran to the end on the server, so it is billed although the client gave up on it.
    assert [r["fault"] for r in server.paid_requests()] == ["timeout", "slow"]
    assert server.usage_totals()["requests"] == 2


def test_injected_faults_are_consumed_in_order_then_requests_succeed():
    with FakeOpenAI() as server:
        client = client_for(server)
        server.inject("429", times=2)
        server.inject("500")
        errors = []
        for _ in range(4):
            try:
                ask(client, "same prompt")
            except openai.APIStatusError as exc:
                errors.append(exc.status_code)
    assert errors == [429, 429, 500]
    assert list(server.count_by_key().values()) == [1]
    assert len({r["key"] for r in server.requests}) == 1


def test_fail_rate_is_deterministic_for_a_seed():
    def statuses(seed: int) -> list[int]:
        with FakeOpenAI() as server:
            server.fail_rate("503", 0.5, seed=seed)
            client = client_for(server)
            for index in range(16):
                try:
                    ask(client, f"question {index}")
                except openai.InternalServerError:
                    pass
        return [r["status"] for r in server.requests]

    first, again, other = statuses(3), statuses(3), statuses(4)
    assert first == again
    assert first != other
    assert {200, 503} <= set(first)


def test_fail_rate_zero_turns_random_faults_off():
    with FakeOpenAI() as server:
        server.fail_rate("500", 1.0, seed=1)
        client = client_for(server)
        with pytest.raises(openai.InternalServerError):
            ask(client)
        server.fail_rate("500", 0.0)
        assert ask(client).choices[0].finish_reason == "stop"


def test_max_tokens_truncates_with_finish_reason_length():
    text = "The quick brown fox jumps over the lazy dog and keeps running far into the forest at night."
    with FakeOpenAI(responder=lambda body: text) as server:
        client = client_for(server)
        cut = ask(client, max_tokens=5)
        cut_new_param = ask(client, max_completion_tokens=8)
        whole = ask(client, max_tokens=500)

    content = cut.choices[0].message.content
    assert cut.choices[0].finish_reason == "length"
    assert content and text.startswith(content)
    assert cut.usage.completion_tokens == count_tokens([content])[0] <= 5
    assert cut_new_param.choices[0].finish_reason == "length"
    assert cut.usage.completion_tokens < cut_new_param.usage.completion_tokens <= 8
    assert whole.choices[0].finish_reason == "stop" and whole.choices[0].message.content == text


def test_invalid_chat_body_is_a_400_and_not_paid():
    with FakeOpenAI() as server:
        with pytest.raises(openai.BadRequestError) as caught:
            client_for(server).chat.completions.create(model=MODEL, messages=[])
    assert caught.value.body["param"] == "messages"
    assert [r["status"] for r in server.requests] == [400]
    assert server.paid_requests() == []


def test_concurrent_requests_overlap_their_latency():
    with FakeOpenAI(latency_s=0.2) as server:
        client = client_for(server)
        results: list[str] = []
        threads = [threading.Thread(target=lambda i=i: results.append(ask(client, f"q{i}").choices[0].message.content))
                   for i in range(10)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    assert sorted(results) == sorted(f"Echo: q{i}" for i in range(10))
    assert 0.2 <= elapsed < 1.0
    assert 5 <= server.max_in_flight <= 10 and server.in_flight == 0
    assert server.usage_totals()["requests"] == 10


def test_file_upload_and_download_round_trip(tmp_path):
    data = b'{"a": 1}\r\n{"b": "caf\xc3\xa9"}\n' + bytes(range(256)) + b"\r\n--not-a-boundary\r\n"
    path = tmp_path / "input.jsonl"
    path.write_bytes(data)
    with FakeOpenAI() as server:
        client = client_for(server)
        with path.open("rb") as handle:
            uploaded = client.files.create(file=handle, purpose="batch")
        fetched = client.files.retrieve(uploaded.id)
        content = client.files.content(uploaded.id).read()
        deleted = client.files.delete(uploaded.id)
        with pytest.raises(openai.NotFoundError):
            client.files.retrieve(uploaded.id)

    assert uploaded.id.startswith("file-") and uploaded.object == "file"
    assert (uploaded.filename, uploaded.purpose, uploaded.bytes) == ("input.jsonl", "batch", len(data))
    assert fetched.model_dump() == uploaded.model_dump()
    assert content == data
    assert deleted.deleted is True


def test_file_upload_with_unknown_purpose_is_rejected():
    with FakeOpenAI() as server:
        with pytest.raises(openai.BadRequestError) as caught:
            client_for(server).files.create(file=("x.jsonl", b"{}\n"), purpose="training")  # type: ignore[arg-type]
    assert caught.value.body["param"] == "purpose"


def batch_input(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def batch_line(custom_id: str, text: str, **body) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "user", "content": text}], **body}}


def wait_for_batch(client: OpenAI, batch_id: str, statuses=("completed", "failed", "cancelled")):
    deadline = time.monotonic() + 10
    seen = []
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        seen.append(batch.status)
        if batch.status in statuses:
            return batch, seen
        time.sleep(0.02)
    raise AssertionError(f"batch {batch_id} stuck; statuses seen: {seen}")


def test_batch_of_three_runs_to_completed_with_matching_results():
    ids = ["row-1", "row-2", "row-3"]
    with FakeOpenAI(batch_delay_s=0.1) as server:
        client = client_for(server)
        upload = client.files.create(
            file=("requests.jsonl", batch_input([batch_line(i, f"text of {i}") for i in ids])), purpose="batch")
        created = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                        completion_window="24h", metadata={"job": "guard-traces"})
        batch, seen = wait_for_batch(client, created.id)
        output = client.files.content(batch.output_file_id).text

    assert created.id.startswith("batch_") and created.status == "validating"
    assert created.output_file_id is None and created.metadata == {"job": "guard-traces"}
    assert seen[0] == "validating"
    assert batch.status == "completed" and batch.error_file_id is None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (3, 3, 0)
    results = [json.loads(line) for line in output.splitlines()]
    assert [r["custom_id"] for r in results] == ids
    for result in results:
        assert result["error"] is None and result["response"]["status_code"] == 200
        body = result["response"]["body"]
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"] == f"Echo: text of {result['custom_id']}"
    assert [r["custom_id"] for r in server.batch_requests] == ids
    assert batch.usage.input_tokens == sum(r["usage"]["prompt_tokens"] for r in server.batch_requests)
    assert server.requests == []


def test_batch_with_a_bad_request_line_writes_an_error_file():
    lines = [batch_line("ok", "fine"), batch_line("bad", "x", max_tokens=0)]
    with FakeOpenAI(batch_delay_s=0.0) as server:
        client = client_for(server)
        upload = client.files.create(file=("requests.jsonl", batch_input(lines)), purpose="batch")
        created = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                        completion_window="24h")
        batch, _ = wait_for_batch(client, created.id)
        errors = [json.loads(line) for line in client.files.content(batch.error_file_id).text.splitlines()]
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    assert errors[0]["custom_id"] == "bad" and errors[0]["response"]["status_code"] == 400


def test_batch_with_invalid_jsonl_fails_validation():
    with FakeOpenAI(batch_delay_s=0.0) as server:
        client = client_for(server)
        upload = client.files.create(file=("requests.jsonl", batch_input([batch_line("a", "x")]) + b"{oops\n"),
                                     purpose="batch")
        created = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                        completion_window="24h")
        batch, _ = wait_for_batch(client, created.id)
    assert batch.status == "failed" and batch.output_file_id is None
    assert [(e.code, e.line) for e in batch.errors.data] == [("invalid_json_line", 2)]


def test_batch_cancel_sets_cancelled_and_nothing_runs():
    with FakeOpenAI(batch_delay_s=0.5) as server:
        client = client_for(server)
        upload = client.files.create(file=("requests.jsonl", batch_input([batch_line("a", "x")])), purpose="batch")
        created = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                        completion_window="24h")
        cancelled = client.batches.cancel(created.id)
        time.sleep(0.7)
        later = client.batches.retrieve(created.id)
        with pytest.raises(openai.BadRequestError):
            client.batches.cancel(created.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert later.status == "cancelled" and later.output_file_id is None
    assert server.batch_requests == []


def test_stop_closes_the_port():
    with FakeOpenAI() as server:
        base_url = server.base_url
        ask(client_for(server))
    with pytest.raises(openai.APIConnectionError):
        OpenAI(base_url=base_url, api_key="sk-x", max_retries=0, timeout=1).chat.completions.create(
            model=MODEL, messages=MESSAGES)
