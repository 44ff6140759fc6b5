"""Teachers: any OpenAI-compatible chat endpoint, or a Transformers model on this machine.

A teacher's config names the environment variable that holds its key, never the key: specs, the
DB and logs only ever see the variable's name. The key is the acting user's own saved key (see
backend/user_secrets.py), else the environment, else `.streamlit/secrets.toml` (a top-level entry with
the same name); on a shared server (multi-user) only the user's own key or the one the admin allowlists for
the endpoint (backend/keys.py).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from backend.errors import LabError
from backend.traces.prices import FREE_WORDS, Price, free_price, price_for
from backend.keys import describe, find_key, secrets_path
from backend.users import multi_user
from backend.validation import SECONDS, Range, check_fields

ROOT = Path(__file__).resolve().parents[2]
OPENAI_URL = "https://api.openai.com/v1"
OPENAI_HOST = "api.openai.com"
# OpenAI's published usage tier 1 limits, the client-side default on OpenAI's own endpoint only: any other
# endpoint (a gateway, vLLM, Ollama, llama.cpp) gets no client-side limit unless one is set, and its 429s
# and Retry-After pace the job.
OPENAI_TIER_DEFAULTS = {"rpm": 500, "tpm": 200_000}


@dataclass
class Teacher:
    model: str = field(metadata={"help": "model name sent to the endpoint, or a local model folder for provider=local"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible base URL (vLLM, Ollama, llama.cpp); empty = OpenAI"})
    provider: str = field(default="openai", metadata={"help": "openai (any compatible endpoint) or local (Transformers here)"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "environment variable / secrets.toml entry holding the key"})
    price_model: str | None = field(default=None, metadata={
        "help": "price table entry to bill as (default: the model's own name; a model not in the table is free "
                "unless it runs on OpenAI's endpoint); 'none' bills nothing"})
    concurrency: int = field(default=16, metadata={"help": "requests in flight at once",
                                                   "valid": Range(1, 4096, integer=True, cli="--concurrency")})
    rpm: int | None = field(default=None, metadata={
        "help": "requests per minute limit; None = auto (OpenAI's tier default on api.openai.com, none elsewhere); "
                "0 = no limit", "valid": Range(0, 10**9, integer=True, optional=True, cli="--rpm", meaning="0 = no limit")})
    tpm: int | None = field(default=None, metadata={
        "help": "tokens per minute limit (input + max output); None = auto, 0 = no limit",
        "valid": Range(0, 10**12, integer=True, optional=True, cli="--tpm", meaning="0 = no limit")})
    timeout_s: float = field(default=120.0, metadata={"help": "seconds before a request counts as timed out",
                                                       "valid": replace(SECONDS, cli="--timeout")})
    max_retries: int = field(default=6, metadata={"help": "retries per request on 429 / 5xx / timeouts / malformed replies",
                                                   "valid": Range(0, 100, integer=True)})

    def __post_init__(self):
        check_fields(self, "teacher")  # every number finite and in range (backend/validation.py)
        if self.provider not in ("openai", "local"):
            raise LabError(f"teacher provider must be openai or local, not {self.provider!r}")
        if self.concurrency < 1:
            raise LabError("teacher concurrency must be at least 1")
        if not isinstance(self.model, str) or not self.model.strip():
            raise LabError("name the teacher's model")
        if self.provider == "local" and not Path(self.model).exists():
            raise LabError(f"local teacher: no model folder at {self.model}")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise LabError(f"teacher {name} must be 0 (no limit) or more, or empty for auto; got {value}")

    @property
    def endpoint(self) -> str:
        return f"local:{Path(self.model).resolve()}" if self.provider == "local" else (self.base_url or OPENAI_URL).rstrip("/")

    @property
    def on_openai(self) -> bool:
        """Whether requests go to OpenAI's own API (not a gateway, a proxy or a self-hosted server)."""
        return self.provider == "openai" and (urlparse(self.endpoint).hostname or "").lower() == OPENAI_HOST

    def rate_limits(self) -> tuple[int | None, int | None]:
        """(requests per minute, tokens per minute) for the client-side limiter; None = no limit. Unset (None)
        means auto: OpenAI's tier defaults on OpenAI's endpoint, no limit anywhere else; 0 means no limit."""
        resolved = []
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is None:
                value = OPENAI_TIER_DEFAULTS[name] if self.on_openai else None
            resolved.append(value or None)
        return resolved[0], resolved[1]

    @property
    def label(self) -> str:
        return f"{Path(self.model).name} (local)" if self.provider == "local" else (
            self.model if not self.base_url else f"{self.model} @ {self.base_url}")

    def price(self) -> Price:
        """What this teacher's tokens cost. The price follows the model's name, whatever the URL (gpt-4o-mini
        through a gateway is priced as gpt-4o-mini); `price_model` overrides it: a table entry, or 'none'.
        A model the table does not know is free (a local vLLM, Ollama or llama.cpp model), except on OpenAI's
        own endpoint, where it is an error: it surely costs something, so a budget cap needs its price."""
        if self.provider == "local":
            return free_price(self.model, "local", encoding=self.model)
        given = (self.price_model or "").strip()
        if given.lower() in FREE_WORDS:
            return free_price(self.model, "none")
        if given:
            return replace(price_for(given, source="given"), model=self.model)
        try:
            return price_for(self.model)
        except LabError as exc:
            if self.on_openai:
                raise LabError(f"{exc}; or give --price-model NAME (a table entry) or --price-model none") from None
            return free_price(self.model, "no price")

    def to_json(self) -> dict:
        return asdict(self)


def server_message(exc: BaseException) -> str:
    """What the endpoint said in an error reply: OpenAI's {"error": {"message": ...}}, FastAPI's {"detail": ...}
    (a string or a list of validation errors), or the plain text of the reply; else the exception's own text."""
    body = getattr(exc, "body", None)  # the openai client unwraps {"error": {...}} to the inner object
    response = getattr(exc, "response", None)
    if body is None and response is not None:
        try:
            body = response.text
        except Exception:  # noqa: BLE001 - a streamed body that cannot be read any more
            body = None
    text = body_message(body)
    if not text:
        text = str(getattr(exc, "message", None) or exc)
    text = " ".join(text.split())
    return text if len(text) <= 500 else text[:497] + "..."


def error_code(exc: BaseException) -> str | None:
    """The machine-readable part of an error reply: OpenAI's error `code` (model_not_found,
    insufficient_quota, ...) or else its `type`; None when the body has neither."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body, dict):
        for key in ("code", "type"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return None


def body_message(body) -> str | None:
    """The message in an error body: OpenAI's (and Ollama's, llama.cpp's) {"error": {"message": ...}}, vLLM's
    {"message": ...}, FastAPI's {"detail": "..." or [{"msg": ...}, ...]}, {"error": "..."}, or plain text."""
    if isinstance(body, dict):
        if isinstance(body.get("error"), (dict, str)):
            return body_message(body["error"])
        for key in ("message", "detail", "msg", "error_description"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value
            if isinstance(value, dict):
                found = body_message(value)
                if found:
                    return found
            if isinstance(value, list) and value:  # FastAPI's validation errors
                parts = [body_message(v) or str(v) for v in value]
                return "; ".join(p for p in parts if p)
        return None
    if isinstance(body, str) and body.strip():
        stripped = body.strip()
        if stripped.startswith(("{", "[")):
            try:
                return body_message(json.loads(stripped)) or stripped
            except ValueError:
                pass
        return stripped
    if isinstance(body, list):
        parts = [body_message(v) for v in body]
        return "; ".join(p for p in parts if p) or None
    return None


def teacher_from_json(data: dict) -> Teacher:
    return Teacher(**{k: v for k, v in data.items() if k in Teacher.__dataclass_fields__})


def resolve_api_key(teacher: Teacher) -> str | None:
    """The key a request to this teacher may use, acting as the current user; None when there is none.
    Single-user: your saved key, else the environment, else secrets.toml, under `api_key_env`. Multi-user:
    your saved key, else only the key the admin allowlisted for this endpoint (backend/keys.py)."""
    if teacher.provider == "local":
        return None
    return find_key(teacher.base_url, teacher.api_key_env)[0]


def describe_key(teacher: Teacher) -> str:
    """What the Traces page shows after "Key:": never a character of a key that is not the user's own."""
    return describe(teacher.base_url, teacher.api_key_env, mask_key)


def require_api_key(teacher: Teacher) -> str:
    key = resolve_api_key(teacher)
    if key:
        return key
    if teacher.base_url:  # self-hosted servers often need no key; the client still wants a string
        return "not-needed"
    if multi_user():
        raise LabError(f"no API key for {teacher.endpoint}: save your own {teacher.api_key_env} on the Traces page "
                       f"(the lab allowlists no key of its own for this endpoint)")
    raise LabError(f"no API key: save yours on the Traces page, set the environment variable {teacher.api_key_env} "
                   f"or add it to {secrets_path()}")


def mask_key(key: str | None) -> str:
    if not key:
        return "(none)"
    return f"{key[:3]}…{key[-4:]}" if len(key) > 10 else "…" * 3
