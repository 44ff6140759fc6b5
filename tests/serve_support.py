"""A real `transformers serve` (a server nobody here wrote) on 127.0.0.1, and a recording proxy in front of it.

    with TransformersServe(model_dir) as server, RecordingProxy(server.url) as proxy:
        ...  # point the lab at proxy.base_url ("http://127.0.0.1:PORT/v1") with model=server.model
        assert [e.body["model"] for e in proxy.take()] == [server.model]

The server is the `transformers serve` CLI of the installed transformers (requirements-dev.txt installs its
`serving` extra), started as a subprocess (an argv list, never a shell) pinned to one model folder on the CPU,
offline. Pinned, it answers only requests naming that model exactly as it was given on the command line
(`server.model`, the folder path); any other name gets a 400 "Server is pinned to '...'; requested '...'".
Its `/v1/models` scans the Hugging Face cache and is no use offline: readiness is polled on `/health`.

The proxy relays every request and reply byte for byte (bodies are never changed; streamed replies are relayed
chunk by chunk as they arrive) and records each exchange: the request's method, path and JSON body, the reply's
status and body, and for a server-sent-event stream its `data:` events, the usage of its last chunk and the
streamed text. Standard library only.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "host"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(model_dir: str, port: int) -> list[str]:
    """`transformers serve MODEL_DIR --host 127.0.0.1 --port PORT --device cpu`, run by this interpreter (the
    `transformers` console script is `transformers.cli.transformers:main`, so this is the same program)."""
    return [sys.executable, "-m", "transformers.cli.transformers", "serve", model_dir,
            "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]


def serve_env() -> dict[str, str]:
    """Offline: nothing is fetched from the Hugging Face hub, not even the CLI's update check."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}


class TransformersServe:
    """`transformers serve` pinned to `model_dir`, started on a free port and stopped on exit.

    `model` is the name a client must send (the folder path exactly as passed to the server), `url` its root,
    `base_url` its OpenAI base URL, `startup_s` the seconds from spawn to the first healthy answer."""

    def __init__(self, model_dir: str | Path, startup_timeout: float = 240.0):
        self.model = str(model_dir)
        self.startup_timeout = startup_timeout
        self.port = 0
        self.startup_s: float | None = None
        self.process: subprocess.Popen | None = None
        self._log_dir = tempfile.TemporaryDirectory(prefix="transformers-serve-")
        self.log_path = Path(self._log_dir.name) / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> TransformersServe:
        from transformers.utils.import_utils import is_serve_available

        if not is_serve_available():  # a failure, not a skip: `make setup` installs the extra
            raise RuntimeError("`transformers serve` needs transformers[serving]: pip install -r requirements-dev.txt")
        for _ in range(3):  # another process may take the free port between our probe and the server's bind
            self.port = free_port()
            started = time.monotonic()
            with open(self.log_path, "wb") as log:
                self.process = subprocess.Popen(serve_command(self.model, self.port), env=serve_env(),
                                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_healthy():
                self.startup_s = time.monotonic() - started
                return self
            if "address already in use" not in self.log().lower():
                break
        self.stop()
        raise RuntimeError(f"transformers serve did not come up on port {self.port} within {self.startup_timeout:.0f}s;"
                           f" exit code {self.process.returncode if self.process else None}; log:\n{self.log()[-4000:]}")

    def _wait_healthy(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        """Terminate (uvicorn shuts down on SIGTERM), then kill if it is still there after 15 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log_dir.cleanup()


@dataclass
class Exchange:
    """One request through the proxy and the reply it got."""
    method: str
    path: str
    request: bytes
    status: int | None = None
    response: bytes = b""
    content_type: str = ""

    @property
    def body(self) -> Any:
        """The request's JSON body (None when it had none or it was not JSON)."""
        try:
            return json.loads(self.request) if self.request else None
        except ValueError:
            return None

    @property
    def streamed(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    @property
    def reply(self) -> Any:
        """The reply's JSON body (None for a stream or a body that is not JSON)."""
        if self.streamed:
            return None
        try:
            return json.loads(self.response)
        except ValueError:
            return None

    @property
    def events(self) -> list[dict]:
        """A stream's `data:` events as JSON (the `[DONE]` marker left out)."""
        out = []
        for line in self.response.decode("utf-8").split("\n"):  # not splitlines(): JSON leaves U+2028 unescaped
            line = line.rstrip("\r")
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                out.append(json.loads(line[5:]))
        return out

    @property
    def usage(self) -> dict | None:
        """The usage the server reported: the reply's, or the last one a stream's chunks carried."""
        if not self.streamed:
            return (self.reply or {}).get("usage") if isinstance(self.reply, dict) else None
        return next((e["usage"] for e in reversed(self.events) if e.get("usage")), None)

    @property
    def text(self) -> str:
        """The assistant text the server sent: the message content, or a stream's content deltas joined."""
        if not self.streamed:
            return "".join(c["message"].get("content") or "" for c in (self.reply or {}).get("choices", []))
        return "".join((c.get("delta") or {}).get("content") or "" for e in self.events for c in e.get("choices", []))


@dataclass
class RecordingProxy:
    """A reverse proxy on 127.0.0.1 relaying to `upstream` (http://host:port) and recording every exchange."""
    upstream: str
    exchanges: list[Exchange] = field(default_factory=list)

    def __post_init__(self):
        parts = urlsplit(self.upstream)
        self._upstream = (parts.hostname, parts.port)
        self._done = threading.Condition()
        self._in_flight = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def take(self, timeout: float = 10.0) -> list[Exchange]:
        """The exchanges recorded since the last take, once none is still being relayed (a client may have read
        a reply's last byte a moment before the proxy records it)."""
        with self._done:
            self._done.wait_for(lambda: self._in_flight == 0, timeout=timeout)
            taken, self.exchanges = self.exchanges, []
        return taken

    def _begin(self) -> None:
        with self._done:
            self._in_flight += 1

    def _record(self, exchange: Exchange) -> None:
        with self._done:
            self.exchanges.append(exchange)
            self._in_flight -= 1
            self._done.notify_all()

    def __enter__(self) -> RecordingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive clients (httpx) get a length or chunked framing below

            def log_message(self, *args):
                pass

            def relay(self):
                proxy._begin()
                exchange = Exchange(self.command, self.path, b"")
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=300)
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    exchange.request = self.rfile.read(length) if length else b""
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=exchange.request or None, headers=headers)
                    response = upstream.getresponse()
                    exchange.status = response.status
                    exchange.content_type = response.getheader("Content-Type", "")
                    self.send_response(response.status)
                    for key, value in response.getheaders():
                        if key.lower() not in HOP_BY_HOP | {"date", "server"}:
                            self.send_header(key, value)
                    if response.getheader("Content-Length") is not None:
                        exchange.response = response.read()
                        self.send_header("Content-Length", str(len(exchange.response)))
                        self.end_headers()
                        self.wfile.write(exchange.response)
                    else:  # a stream: each piece goes on as soon as it came, in chunked framing
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        while piece := response.read1(65536):
                            exchange.response += piece
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                            self.wfile.flush()
                        self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (OSError, http.client.HTTPException) as exc:
                    if exchange.status is None:
                        exchange.status = 502
                        self.send_error(502, f"proxy: upstream failed: {exc}")
                    self.close_connection = True
                finally:
                    upstream.close()
                    proxy._record(exchange)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="recording-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
