"""A real HTTP server on 127.0.0.1 speaking the OpenAI API (chat completions, streamed or not, models, files,
batches), with fault injection, for testing and benchmarking the teacher-trace engine.

It answers like a real endpoint: it serves a set of model names (`models`; any other gets OpenAI's 404
`model_not_found`), every reply names the model requested, and it bills what it ran: a request the client
timed out on still counts in its usage ledger (`paid_requests`, `usage_totals`). Error replies can be
rendered as OpenAI does, as FastAPI does (`{"detail": ...}`) or as plain text (`error_style`).

The official `openai` client talks to it unchanged:

    with FakeOpenAI(latency_s=0.05) as server:
        client = OpenAI(base_url=server.base_url, api_key=server.api_key)
        server.inject("429", retry_after=2)
        ...
        assert max(server.count_by_key().values()) == 1  # no paid request was repeated

Standard library only, plus the offline token counters of backend.traces.tokens for `usage`.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter, deque
from email.message import Message
from email.parser import HeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import SHUT_RDWR, socket
from typing import Any, Callable

from backend.traces.tokens import count_chat_tokens, count_tokens

Responder = Callable[[dict], str]

FAULT_KINDS = ("429", "500", "503", "timeout", "malformed", "truncated", "slow")
# Faults after which the client got no usable completion and is not billed. A "timeout" is not among them:
# the server runs the request to the end and bills it, although the client gave up waiting.
UNPAID_FAULTS = frozenset({"429", "500", "503", "malformed", "truncated"})
# The model names served by default: OpenAI's priced models that the tests and benchmarks ask for.
DEFAULT_MODELS = frozenset({"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4", "o4-mini",
                            "gpt-5", "gpt-5-mini", "gpt-5-nano"})
ERROR_STYLES = ("openai", "fastapi", "text")
FILE_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
CHAT_ENDPOINT = "/v1/chat/completions"
SYSTEM_FINGERPRINT = "fp_fakeopenai"


class ApiError(Exception):
    """An OpenAI-style error reply."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}


def echo_responder(body: dict) -> str:
    """The default reply: 'Echo: ' and the first 80 characters of the last user message."""
    user_messages = [m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") == "user"]
    return "Echo: " + (message_text(user_messages[-1])[:80] if user_messages else "")


def message_text(message: dict) -> str:
    """The text of a message whose content is a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def request_key(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def truncate_to_tokens(text: str, max_tokens: int, encoding: str) -> str:
    """The longest word-boundary prefix of `text` that has at most `max_tokens` tokens."""
    pieces = re.findall(r"\s*\S+", text)
    low, high = 0, len(pieces)  # invariant: the first `low` pieces fit; more than `high` do not
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(["".join(pieces[:middle])], encoding)[0] <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return "".join(pieces[:low]).strip()


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Fields of a multipart/form-data body: name -> (filename or None, raw bytes)."""
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_boundary()
    if header.get_content_type() != "multipart/form-data" or not boundary:
        raise ApiError(400, "expected a multipart/form-data body with a boundary")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):  # the closing delimiter
            break
        part = part.removeprefix(b"\r\n").removesuffix(b"\r\n")
        raw_headers, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            raise ApiError(400, "malformed multipart part: no blank line after its headers")
        headers = HeaderParser().parsestr(raw_headers.decode("utf-8"))
        name = headers.get_param("name", header="content-disposition")
        if isinstance(name, str):
            fields[name] = (headers.get_filename(), content)
    return fields


class FakeOpenAI:
    """An OpenAI-compatible server in a daemon thread; a context manager that stops it on exit."""

    def __init__(self, responder: Responder | None = None, latency_s: float = 0.0,
                 encoding: str = "o200k_base", api_key: str | None = "sk-test-0123456789abcdefghij",
                 batch_delay_s: float = 0.2, models: Any = DEFAULT_MODELS, error_style: str = "openai"):
        """`models`: the model names served (others get 404 model_not_found); None serves any name.
        `error_style`: error replies as OpenAI's {"error": {...}}, FastAPI's {"detail": ...} or plain text."""
        count_tokens(["warm-up"], encoding)  # fails early on an unknown encoding, and loads it once
        if error_style not in ERROR_STYLES:
            raise ValueError(f"error_style must be one of {', '.join(ERROR_STYLES)}, got {error_style!r}")
        self.models = None if models is None else frozenset([models] if isinstance(models, str) else models)
        self.error_style = error_style
        self.in_flight = 0  # chat requests being answered now, and the most at once
        self.max_in_flight = 0
        self.responder = responder or echo_responder
        self.latency_s = latency_s
        self.encoding = encoding
        self.api_key = api_key
        self.batch_delay_s = batch_delay_s
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[dict] = []
        self._batch_requests: list[dict] = []
        self._faults: deque[tuple[str, dict]] = deque()
        self._random_fault: tuple[str, float, random.Random, dict] | None = None
        self._files: dict[str, tuple[dict, bytes]] = {}
        self._batches: dict[str, dict] = {}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> FakeOpenAI:
        self._stopping.clear()
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: interrupts sleeping replies, closes open connections and the listening socket."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # fault injection

    def inject(self, kind: str, times: int = 1, **opts: Any) -> None:
        """Queue `times` faults of `kind` for the next chat requests, in order.
        Options: retry_after (429, seconds, default 1); seconds (timeout default 5, slow default 1)."""
        _check_fault_kind(kind)
        with self._lock:
            self._faults.extend((kind, opts) for _ in range(times))

    def fail_rate(self, kind: str, p: float, seed: int = 0, **opts: Any) -> None:
        """Give each chat request not taken by a queued fault a fault of `kind` with probability `p`,
        drawn from a RNG seeded with `seed` (the same request order gives the same faults); p=0 turns it off."""
        _check_fault_kind(kind)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"fault probability must be within [0, 1], got {p}")
        with self._lock:
            self._random_fault = (kind, p, random.Random(seed), opts) if p > 0 else None

    def _next_fault(self) -> tuple[str, dict] | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if self._random_fault is not None:
                kind, p, rng, opts = self._random_fault
                if rng.random() < p:
                    return kind, opts
        return None

    # records

    @property
    def requests(self) -> list[dict]:
        """Every chat request: {body, key, status, fault, usage, timestamp}, in arrival order."""
        with self._lock:
            return [dict(record) for record in self._requests]

    @property
    def batch_requests(self) -> list[dict]:
        """Every batch line answered: {batch_id, custom_id, body, key, status, usage, timestamp}."""
        with self._lock:
            return [dict(record) for record in self._batch_requests]

    def paid_requests(self) -> list[dict]:
        """Chat requests the server billed: it ran them to a completion (status 200 and no fault that spoils it),
        including those the client timed out on before the reply came."""
        return [r for r in self.requests if r.get("billed")]

    def count_by_key(self) -> Counter:
        return Counter(r["key"] for r in self.paid_requests())

    def usage_totals(self) -> dict[str, int]:
        paid = self.paid_requests()
        return {
            "prompt_tokens": sum(r["usage"]["prompt_tokens"] for r in paid),
            "completion_tokens": sum(r["usage"]["completion_tokens"] for r in paid),
            "requests": len(paid),
        }

    def _record(self, records: list[dict], record: dict) -> dict:
        """Append `record` (stamped with its arrival time) and return it, for `_settle` to complete."""
        record = {**record, "timestamp": time.time()}
        with self._lock:
            records.append(record)
        return record

    def _settle(self, record: dict, **fields: Any) -> None:
        with self._lock:
            record.update(fields)

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # chat completions

    def completion(self, body: Any) -> dict:
        """The chat.completion object answering `body`; ApiError when the body is not a valid request."""
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise ApiError(400, "you must provide a model parameter", code="missing_required_parameter",
                           param="model")
        if self.models is not None and body["model"] not in self.models:
            raise model_not_found(body["model"])
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise ApiError(400, "'messages' must be a non-empty array of message objects", param="messages")
        if body.get("stream_options") is not None and not body.get("stream"):
            raise ApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                           param="stream_options")
        n = body.get("n") or 1
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        for param, value in (("n", n), ("max_tokens", limit)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ApiError(400, f"'{param}' must be an integer of at least 1, got {value!r}", param=param)

        content = self.responder(body)
        finish_reason = "stop"
        completion_tokens = count_tokens([content], self.encoding)[0]
        if limit is not None and completion_tokens > limit:
            content = truncate_to_tokens(content, limit, self.encoding)
            completion_tokens = count_tokens([content], self.encoding)[0]
            finish_reason = "length"
        prompt_tokens = count_chat_tokens(messages, self.encoding)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
                for index in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens * n,
                "total_tokens": prompt_tokens + completion_tokens * n,
            },
            "system_fingerprint": SYSTEM_FINGERPRINT,
        }

    def _answer_chat(self, body: Any) -> tuple[int, dict | bytes, dict[str, str]]:
        """(status, JSON object or raw bytes, extra headers) for one chat request, faults applied."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._answer_chat_now(body)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer_chat_now(self, body: Any) -> tuple[int, dict | bytes, dict[str, str]]:
        fault = self._next_fault()
        kind, opts = fault if fault else (None, {})
        record = self._record(self._requests, {"body": body, "key": request_key(body), "fault": kind,
                                               "status": None, "usage": None, "billed": False})
        self._sleep(self.latency_s)
        if kind in ("429", "500", "503"):
            status, error, headers = _fault_error(kind, opts)
            self._settle(record, status=status)
            return status, error.body, headers
        if kind == "slow":
            self._sleep(float(opts.get("seconds", 1)))
        try:
            completion = self.completion(body)
        except ApiError as exc:
            self._settle(record, status=exc.status)
            return exc.status, exc.body, {}
        except Exception as exc:  # a responder that raises: report it as the server's error
            self._settle(record, status=500)
            return 500, ApiError(500, f"responder failed: {exc!r}", "server_error").body, {}
        # Billed the moment the completion exists, as a provider does: a client that timed out still pays.
        self._settle(record, status=200, usage=completion["usage"], billed=kind not in UNPAID_FAULTS)
        if kind == "timeout":  # the reply comes too late for the client, which has given up by then
            self._sleep(float(opts.get("seconds", 5)))
        if body.get("stream"):
            events = stream_events(completion, bool((body.get("stream_options") or {}).get("include_usage")))
            if kind == "truncated":  # the connection ends after the first piece: no finish chunk, no [DONE]
                events = events[:2]
            data = sse_body(events)
            return 200, data[:40] if kind == "malformed" else data, {"Content-Type": "text/event-stream"}
        if kind == "malformed":
            return 200, json.dumps(completion).encode()[:40], {}
        if kind == "truncated":
            del completion["choices"]
        return 200, completion, {}

    # models

    def _model(self, model_id: str) -> dict:
        if self.models is not None and model_id not in self.models:
            raise model_not_found(model_id)
        return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "fake-openai"}

    def _list_models(self) -> dict:
        return {"object": "list", "data": [self._model(m) for m in sorted(self.models or ())]}

    # files

    def _create_file(self, data: bytes, filename: str, purpose: str) -> dict:
        meta = {
            "id": f"file-{uuid.uuid4().hex[:24]}",
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }
        with self._lock:
            self._files[meta["id"]] = (meta, data)
        return meta

    def _upload(self, body: bytes, content_type: str) -> dict:
        fields = parse_multipart(body, content_type)
        if "file" not in fields or fields["file"][0] is None:
            raise ApiError(400, "missing the 'file' field (a file upload)", param="file")
        purpose = fields.get("purpose", (None, b""))[1].decode("utf-8")
        if purpose not in FILE_PURPOSES:
            raise ApiError(400, f"'purpose' must be one of {', '.join(FILE_PURPOSES)}, got {purpose!r}",
                           param="purpose")
        filename, data = fields["file"]
        return self._create_file(data, filename or "upload", purpose)

    def _file(self, file_id: str) -> tuple[dict, bytes]:
        with self._lock:
            found = self._files.get(file_id)
        if found is None:
            raise ApiError(404, f"No such File object: {file_id}", code="not_found", param="id")
        return found

    def _delete_file(self, file_id: str) -> dict:
        self._file(file_id)
        with self._lock:
            self._files.pop(file_id, None)
        return {"id": file_id, "object": "file", "deleted": True}

    # batches

    def _create_batch(self, body: Any) -> dict:
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        if body.get("endpoint") != CHAT_ENDPOINT:
            raise ApiError(400, f"'endpoint' must be {CHAT_ENDPOINT!r}, got {body.get('endpoint')!r}",
                           param="endpoint")
        if body.get("completion_window") != "24h":
            raise ApiError(400, f"'completion_window' must be '24h', got {body.get('completion_window')!r}",
                           param="completion_window")
        meta, _ = self._file(str(body.get("input_file_id")))
        if meta["purpose"] != "batch":
            raise ApiError(400, f"file {meta['id']} has purpose {meta['purpose']!r}, not 'batch'",
                           param="input_file_id")
        now = int(time.time())
        batch = {
            "id": f"batch_{uuid.uuid4().hex[:24]}",
            "object": "batch",
            "endpoint": CHAT_ENDPOINT,
            "errors": None,
            "input_file_id": meta["id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 24 * 3600,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
            "usage": None,
        }
        with self._lock:
            self._batches[batch["id"]] = batch
        threading.Thread(target=self._run_batch, args=(batch["id"],), name=batch["id"], daemon=True).start()
        return dict(batch)

    def _batch(self, batch_id: str) -> dict:
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise ApiError(404, f"No batch found with id '{batch_id}'.", code="not_found", param="batch_id")
            return json.loads(json.dumps(batch))

    def _cancel_batch(self, batch_id: str) -> dict:
        self._batch(batch_id)
        with self._lock:
            batch = self._batches[batch_id]
            if batch["status"] not in ("validating", "in_progress"):
                raise ApiError(400, f"Cannot cancel a batch with status '{batch['status']}'.")
            now = int(time.time())
            batch.update(status="cancelled", cancelling_at=now, cancelled_at=now)
        return self._batch(batch_id)

    def _update_batch(self, batch_id: str, **changes: Any) -> bool:
        """Apply `changes` unless the batch was cancelled meanwhile; whether they were applied."""
        with self._lock:
            batch = self._batches[batch_id]
            if batch["status"] == "cancelled":
                return False
            batch.update(changes)
            return True

    def _run_batch(self, batch_id: str) -> None:
        self._sleep(self.batch_delay_s)
        if self._stopping.is_set():
            return
        input_file_id = self._batch(batch_id)["input_file_id"]
        try:
            lines, errors = _parse_batch_input(self._file(input_file_id)[1])
        except ApiError as exc:
            lines, errors = [], [{"code": "file_not_found", "message": str(exc), "param": "input_file_id",
                                  "line": None}]
        if errors:
            self._update_batch(batch_id, status="failed", failed_at=int(time.time()),
                               errors={"object": "list", "data": errors})
            return
        if not self._update_batch(batch_id, status="in_progress", in_progress_at=int(time.time()),
                                  request_counts={"total": len(lines), "completed": 0, "failed": 0}):
            return
        outputs: list[dict] = []
        failures: list[dict] = []
        usage = {"input_tokens": 0, "output_tokens": 0}
        for line in lines:
            result = self._answer_batch_line(batch_id, line)
            status = result["response"]["status_code"]
            (outputs if status == 200 else failures).append(result)
            if status == 200:
                usage["input_tokens"] += result["response"]["body"]["usage"]["prompt_tokens"]
                usage["output_tokens"] += result["response"]["body"]["usage"]["completion_tokens"]
            counts = {"total": len(lines), "completed": len(outputs), "failed": len(failures)}
            if not self._update_batch(batch_id, request_counts=counts):
                return
        if not self._update_batch(batch_id, status="finalizing", finalizing_at=int(time.time())):
            return
        output = self._create_file(_jsonl(outputs), f"{batch_id}_output.jsonl", "batch_output")
        error = self._create_file(_jsonl(failures), f"{batch_id}_error.jsonl", "batch_output") if failures else None
        self._update_batch(
            batch_id, status="completed", completed_at=int(time.time()), output_file_id=output["id"],
            error_file_id=error["id"] if error else None,
            usage={
                "input_tokens": usage["input_tokens"],
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": usage["output_tokens"],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage["input_tokens"] + usage["output_tokens"],
            },
        )

    def _answer_batch_line(self, batch_id: str, line: dict) -> dict:
        body = line["body"]
        try:
            status, reply = 200, self.completion(body)
        except ApiError as exc:
            status, reply = exc.status, exc.body
        except Exception as exc:
            status, reply = 500, ApiError(500, f"responder failed: {exc!r}", "server_error").body
        self._record(self._batch_requests, {
            "batch_id": batch_id, "custom_id": line["custom_id"], "body": body, "key": request_key(body),
            "status": status, "usage": reply["usage"] if status == 200 else None,
        })
        return {
            "id": f"batch_req_{uuid.uuid4().hex[:24]}",
            "custom_id": line["custom_id"],
            "response": {"status_code": status, "request_id": f"req_{uuid.uuid4().hex}", "body": reply},
            "error": None,
        }

    # routing

    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict | bytes, dict]:
        """(status, JSON object or raw bytes, extra headers) for one HTTP request."""
        path = path.split("?", 1)[0].rstrip("/")
        is_chat = method == "POST" and path == CHAT_ENDPOINT
        try:
            self._authorize(headers.get("Authorization"))
            if is_chat:
                return self._answer_chat(_json_body(body))
            return 200, self._route(method, path, headers, body), {}
        except ApiError as exc:
            if is_chat:
                parsed = _json_or_none(body)
                self._record(self._requests, {"body": parsed, "key": request_key(parsed), "fault": None,
                                              "usage": None, "status": exc.status, "billed": False})
            return exc.status, exc.body, {}

    def _authorize(self, authorization: str | None) -> None:
        if self.api_key is None:
            return
        if not authorization:
            raise ApiError(401, "You didn't provide an API key. Provide it in the Authorization header "
                                "(Authorization: Bearer YOUR_KEY).", code="missing_api_key")
        scheme, _, key = authorization.partition(" ")
        if scheme != "Bearer" or key.strip() != self.api_key:
            shown = key.strip()[:3] + "*" * 4 + key.strip()[-4:] if len(key.strip()) > 8 else "****"
            raise ApiError(401, f"Incorrect API key provided: {shown}.", code="invalid_api_key")

    def _route(self, method: str, path: str, headers: Any, body: bytes) -> dict | bytes:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise _not_found(method, path)
        resource = parts[1:]
        if method == "GET" and resource == ["models"]:
            return self._list_models()
        if method == "GET" and len(resource) == 2 and resource[0] == "models":
            return self._model(resource[1])
        if method == "POST" and resource == ["files"]:
            return self._upload(body, headers.get("Content-Type", ""))
        if method == "GET" and len(resource) == 2 and resource[0] == "files":
            return self._file(resource[1])[0]
        if method == "DELETE" and len(resource) == 2 and resource[0] == "files":
            return self._delete_file(resource[1])
        if method == "GET" and len(resource) == 3 and resource[0] == "files" and resource[2] == "content":
            return self._file(resource[1])[1]
        if method == "POST" and resource == ["batches"]:
            return self._create_batch(_json_body(body))
        if method == "GET" and len(resource) == 2 and resource[0] == "batches":
            return self._batch(resource[1])
        if method == "POST" and len(resource) == 3 and resource[0] == "batches" and resource[2] == "cancel":
            return self._cancel_batch(resource[1])
        raise _not_found(method, path)


def stream_events(completion: dict, include_usage: bool) -> list[dict | str]:
    """A chat.completion as the chat.completion.chunk objects a `stream: true` request gets: the role, then
    one chunk per word-ish piece of each choice's content, then its finish_reason; with include_usage every
    chunk has "usage": null and a last chunk with no choices carries the usage; then "[DONE]"."""
    common = {key: completion[key] for key in ("id", "created", "model", "system_fingerprint")}

    def chunk(index: int, delta: dict, finish_reason: str | None = None) -> dict:
        return {**common, "object": "chat.completion.chunk",
                "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
                **({"usage": None} if include_usage else {})}

    events: list[dict | str] = []
    for choice in completion["choices"]:
        index = choice["index"]
        events.append(chunk(index, {"role": "assistant", "content": "", "refusal": None}))
        pieces = re.findall(r"\s*\S+|\s+$", choice["message"]["content"])
        events += [chunk(index, {"content": piece}) for piece in pieces]
        events.append(chunk(index, {}, choice["finish_reason"]))
    if include_usage:
        events.append({**common, "object": "chat.completion.chunk", "choices": [], "usage": completion["usage"]})
    return events + ["[DONE]"]


def sse_body(events: list[dict | str]) -> bytes:
    return "".join(f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events).encode()


def _check_fault_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(FAULT_KINDS)}")


def _fault_error(kind: str, opts: dict) -> tuple[int, ApiError, dict[str, str]]:
    if kind == "429":
        retry_after = opts.get("retry_after", 1)
        error = ApiError(429, f"Rate limit reached. Please try again in {retry_after}s.", "rate_limit_error",
                         code="rate_limit_exceeded")
        return 429, error, {"Retry-After": str(retry_after)}
    if kind == "500":
        return 500, ApiError(500, "The server had an error while processing your request.", "server_error"), {}
    return 503, ApiError(503, "The server is overloaded or not ready yet.", "server_error", code="overloaded"), {}


def model_not_found(model: str) -> ApiError:
    """OpenAI's reply to a model it does not serve."""
    return ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found")


def styled_error(body: dict, style: str) -> dict | bytes:
    """An OpenAI error body as another server would send it: FastAPI's {"detail": message} or plain text."""
    message = body["error"]["message"]
    if style == "fastapi":
        return {"detail": message}
    if style == "text":
        return message.encode()
    return body


def _not_found(method: str, path: str) -> ApiError:
    return ApiError(404, f"Invalid URL ({method} {path})", code="unknown_url")


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise ApiError(400, f"We could not parse the JSON body of your request: {exc}") from exc


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def _parse_batch_input(data: bytes) -> tuple[list[dict], list[dict]]:
    """The request lines of a batch input file, and OpenAI-style errors (with 1-based line numbers)."""
    lines: list[dict] = []
    errors: list[dict] = []
    seen: set[str] = set()

    def error(number: int | None, code: str, message: str, param: str | None = None) -> None:
        errors.append({"code": code, "message": message, "param": param, "line": number})

    for number, text in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError:
            error(number, "invalid_json_line", f"line {number} is not valid JSON")
            continue
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            error(number, "missing_required_parameter", f"line {number} has no string 'custom_id'", "custom_id")
        elif line["custom_id"] in seen:
            error(number, "duplicate_custom_id", f"custom_id {line['custom_id']!r} is repeated", "custom_id")
        elif line.get("method") != "POST" or line.get("url") != CHAT_ENDPOINT:
            error(number, "invalid_url", f"line {number}: method/url must be POST {CHAT_ENDPOINT}", "url")
        elif not isinstance(line.get("body"), dict):
            error(number, "missing_required_parameter", f"line {number} has no object 'body'", "body")
        else:
            seen.add(line["custom_id"])
            lines.append(line)
    if not lines and not errors:
        error(None, "empty_file", "the batch input file has no requests")
    return lines, errors


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default listen backlog (5) refuses bursts of concurrent clients

    def __init__(self, address: tuple[str, int], handler: type, api: FakeOpenAI):
        self.api = api
        self.connections: set[socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        """Close kept-alive client connections, so their handler threads end with the server."""
        with self.connections_lock:
            for connection in list(self.connections):
                try:
                    connection.shutdown(SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quietly drop connections the client closed first (e.g. after its own timeout)."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid the 40 ms delayed-ACK stall
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Silent: tests assert on server.requests instead of reading a log."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                chunk = self.rfile.read(size + 2)[:size]  # each chunk ends with CRLF
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self, method: str) -> None:
        body = self._read_body()
        status, reply, extra_headers = self.server.api.handle(method, self.path, self.headers, body)
        if status >= 400 and isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            reply = styled_error(reply, self.server.api.error_style)
            if isinstance(reply, bytes):
                extra_headers = {**extra_headers, "Content-Type": "text/plain; charset=utf-8"}
        if isinstance(reply, bytes):
            data = reply
            content_type = "application/json" if self.path.startswith(CHAT_ENDPOINT) else "application/octet-stream"
        else:
            data = json.dumps(reply).encode()
            content_type = "application/json"
        content_type = extra_headers.pop("Content-Type", content_type)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
