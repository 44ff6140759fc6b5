"""Teachers: any OpenAI-compatible chat endpoint, or a Transformers model on this machine.

A teacher's config names the environment variable that holds its key, never the key: specs, the
DB and logs only ever see the variable's name. The key is the acting user's own saved key (see
backend/user_secrets.py), else the environment, else `.streamlit/secrets.toml` (a top-level entry with
the same name).
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from backend.errors import LabError
from backend.traces.prices import Price, price_for
from backend.user_secrets import get_secret

ROOT = Path(__file__).resolve().parents[2]
OPENAI_URL = "https://api.openai.com/v1"


@dataclass
class Teacher:
    model: str = field(metadata={"help": "model name sent to the endpoint, or a local model folder for provider=local"})
    base_url: str | None = field(default=None, metadata={"help": "OpenAI-compatible base URL (vLLM, Ollama, llama.cpp); empty = OpenAI"})
    provider: str = field(default="openai", metadata={"help": "openai (any compatible endpoint) or local (Transformers here)"})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "environment variable / secrets.toml entry holding the key"})
    price_model: str | None = field(default=None, metadata={"help": "price table entry (default: the model); 'free' for self-hosted"})
    concurrency: int = field(default=16, metadata={"help": "requests in flight at once"})
    rpm: int | None = field(default=500, metadata={"help": "requests per minute limit"})
    tpm: int | None = field(default=200_000, metadata={"help": "tokens per minute limit (input + max output)"})
    timeout_s: float = field(default=120.0, metadata={"help": "seconds before a request counts as timed out"})
    max_retries: int = field(default=6, metadata={"help": "retries per request on 429 / 5xx / timeouts / malformed replies"})

    def __post_init__(self):
        if self.provider not in ("openai", "local"):
            raise LabError(f"teacher provider must be openai or local, not {self.provider!r}")
        if self.concurrency < 1:
            raise LabError("teacher concurrency must be at least 1")
        if self.provider == "local" and not Path(self.model).exists():
            raise LabError(f"local teacher: no model folder at {self.model}")

    @property
    def endpoint(self) -> str:
        return f"local:{Path(self.model).resolve()}" if self.provider == "local" else (self.base_url or OPENAI_URL).rstrip("/")

    @property
    def label(self) -> str:
        return f"{Path(self.model).name} (local)" if self.provider == "local" else (
            self.model if not self.base_url else f"{self.model} @ {self.base_url}")

    def price(self) -> Price:
        if self.provider == "local" or self.price_model == "free":
            return Price(self.model, 0.0, 0.0, 0.0, self.model if self.provider == "local" else "o200k_base")
        try:
            return price_for(self.price_model or self.model)
        except LabError:
            if self.base_url and self.price_model is None:  # a self-hosted model with no listed price costs nothing
                return Price(self.model, 0.0, 0.0, 0.0, "o200k_base")
            raise

    def to_json(self) -> dict:
        return asdict(self)


def teacher_from_json(data: dict) -> Teacher:
    return Teacher(**{k: v for k, v in data.items() if k in Teacher.__dataclass_fields__})


def secrets_path() -> Path:
    return Path(os.environ.get("FTLAB_SECRETS", ROOT / ".streamlit" / "secrets.toml"))


def resolve_api_key(teacher: Teacher) -> str | None:
    """The acting user's own saved key, else the environment, else secrets.toml; None when none has it."""
    if teacher.provider == "local":
        return None
    value = get_secret(teacher.api_key_env) or os.environ.get(teacher.api_key_env)
    if value:
        return value
    path = secrets_path()
    if path.exists():
        try:
            secrets = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise LabError(f"{path}: cannot read secrets ({exc})") from None
        value = secrets.get(teacher.api_key_env)
        if isinstance(value, str) and value:
            return value
    return None


def require_api_key(teacher: Teacher) -> str:
    key = resolve_api_key(teacher)
    if key:
        return key
    if teacher.base_url:  # self-hosted servers often need no key; the client still wants a string
        return "not-needed"
    raise LabError(f"no API key: save yours on the Traces page, set the environment variable {teacher.api_key_env} "
                   f"or add it to {secrets_path()}")


def mask_key(key: str | None) -> str:
    if not key:
        return "(none)"
    return f"{key[:3]}…{key[-4:]}" if len(key) > 10 else "…" * 3
