"""The price table: shipped as dated data (prices.json), overridable by state/prices.json."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from backend.config import state_dir
from backend.errors import LabError

SHIPPED = Path(__file__).with_name("prices.json")


FREE_WORDS = ("none", "free")  # --price-model none (and the older 'free'): bill nothing


@dataclass(frozen=True)
class Price:
    model: str
    input: float
    cached_input: float | None
    output: float
    encoding: str
    priced_as: str | None = None  # the price table entry used; None when nothing is billed
    source: str = "table"  # table (by the model's name), given (--price-model NAME), none, no price, local

    @property
    def free(self) -> bool:
        return self.priced_as is None

    def describe(self) -> str:
        """Which price an estimate or a job uses, in words (the CLI, the JSON and the Traces page show it)."""
        rates = (f"{self.input:g} / {self.output:g} USD per 1M input / output tokens"
                 if not self.free else "free")
        if self.source == "table":
            return f"{self.priced_as} ({rates})"
        if self.source == "given":
            return f"{self.priced_as}, as --price-model says ({rates})"
        if self.source == "none":
            return "none: --price-model none, nothing is billed"
        if self.source == "local":
            return "none: a model on this machine, nothing is billed"
        return (f"no price: {self.model!r} is not in the price table, so it is counted as free "
                "(--price-model NAME prices it as a table entry)")

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0, batch_discount: float = 0.0) -> float:
        """Dollars for one request's tokens (prices are per 1M tokens)."""
        cached_rate = self.cached_input if self.cached_input is not None else self.input
        usd = ((input_tokens - cached_tokens) * self.input + cached_tokens * cached_rate
               + output_tokens * self.output) / 1e6
        return usd * (1 - batch_discount)


def _override_path() -> Path:
    return state_dir() / "prices.json"


def load_table() -> dict:
    path = _override_path()
    source = path if path.exists() else SHIPPED
    try:
        return json.loads(source.read_text())
    except ValueError as exc:
        raise LabError(f"{source}: not valid JSON ({exc})") from None


def save_table(table: dict) -> Path:
    """Validate and store an edited table (the UI's price editor); the shipped file stays as it was."""
    for name, entry in table.get("models", {}).items():
        for key in ("input", "output"):
            value = entry.get(key)
            if not isinstance(value, (int, float)) or value < 0:
                raise LabError(f"prices: model {name!r}, field {key!r} must be a non-negative number, got {value!r}")
        if entry.get("encoding") not in (None, "o200k_base", "cl100k_base") and not Path(str(entry["encoding"])).exists():
            raise LabError(f"prices: model {name!r}: unknown encoding {entry['encoding']!r}")
    if not table.get("as_of"):
        raise LabError("prices: 'as_of' (the date the prices were read) is required")
    path = _override_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=2))
    tmp.replace(path)
    return path


def table_entry(model: str, table: dict | None = None) -> str | None:
    """The price table entry a model name bills as: the name itself, its family for dated snapshots
    (gpt-4o-2024-08-06 -> gpt-4o), and the same after a gateway's provider prefix (openai/gpt-4o-mini)."""
    models = (table or load_table()).get("models", {})
    for name in dict.fromkeys([model, model.rsplit("/", 1)[-1]]):
        if name in models:
            return name
        family = max((m for m in models if name.startswith(m + "-")), key=len, default=None)
        if family:
            return family
    return None


def price_for(model: str, table: dict | None = None, source: str = "table") -> Price:
    table = table or load_table()
    models = table.get("models", {})
    name = table_entry(model, table)
    if name is None:
        raise LabError(f"no price for model {model!r}; add it to the price table (known: {', '.join(models)})")
    entry = models[name]
    return Price(model, float(entry["input"]), entry.get("cached_input"), float(entry["output"]),
                 entry.get("encoding") or "o200k_base", priced_as=name, source=source)


def free_price(model: str, source: str, encoding: str = "o200k_base") -> Price:
    return Price(model, 0.0, 0.0, 0.0, encoding, priced_as=None, source=source)


def batch_discount(table: dict | None = None) -> float:
    return float((table or load_table()).get("batch_discount", 0.5))
