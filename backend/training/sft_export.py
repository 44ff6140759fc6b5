"""SFT export formats and token-length statistics of a dataset version.

Text formats (tinyllama, mistral, llama3) reproduce seed 001's converter byte for byte; they go into
a CSV (the seed's columns) or JSONL ({"text", "id"}) chosen by the output file's extension.
Chat formats keep the messages: TRL's conversational JSONL, the same as Parquet, and OpenAI's
fine-tuning JSONL. Rows are streamed in batches and the file appears only once it is complete.

Rows and their messages come from the examples stage (backend/data/examples.py), the same as the trainer's,
so an exported file holds exactly the chats a training run on that version learns from.
"""
from __future__ import annotations

import csv
import json
import os
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from backend.data import examples, store
from backend.errors import LabError
from backend.recipes import Recipe, get_recipe
from backend.recipes.base import Messages
from backend.retrieval.raft_builder import raft_record
from backend.traces.tokens import count_chats_tokens

FORMATS = {
    "tinyllama": "TinyLlama / Zephyr text: <|system|> <|user|> <|assistant|> blocks ending in </s> (.csv or .jsonl)",
    "mistral": "Mistral instruct text: <s>[INST] user [/INST] answer</s>; a system prompt goes before the user text (.csv or .jsonl)",
    "llama3": "Llama 3 text with <|start_header_id|>role<|end_header_id|> headers and <|eot_id|> (.csv or .jsonl)",
    "messages-jsonl": 'TRL conversational JSONL: {"messages": [{"role", "content"}, ...], "id"} per line (.jsonl)',
    "messages-parquet": "Parquet with columns id and messages (list of role/content), for Hugging Face datasets (.parquet)",
    "openai-jsonl": 'OpenAI fine-tuning JSONL: {"messages": [...]} per line with system/user/assistant roles only (.jsonl)',
    "raft-jsonl": "RAFT repo records: id, type, question, context, oracle_context, cot_answer, instruction "
                  "(raft datasets built with `raft build`; .jsonl)",
}
TEXT_FORMATS = ("tinyllama", "mistral", "llama3")
HISTOGRAM_BINS = 20

Batch = examples.Numbered  # (1-based row number in the version, row)


@dataclass
class ExportResult:
    path: str
    format: str
    rows: int
    bytes: int

    def to_json(self) -> dict:
        return asdict(self)


def _tinyllama(messages: Messages) -> str:
    return "\n".join(f"<|{m['role']}|>\n{m['content']}</s>" for m in messages)


def _llama3(messages: Messages) -> str:
    turns = "\n".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n{m['content']}<|eot_id|>" for m in messages)
    return "<|begin_of_text|>" + turns


def _mistral(messages: Messages) -> str:
    """Mistral has no system role: the system text opens the first user turn."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    text = "<s>"
    for m in messages:
        if m["role"] == "user":
            content = f"{system}\n\n{m['content']}" if system else m["content"]
            system = ""
            text += f"[INST] {content} [/INST]"
        elif m["role"] == "assistant":
            text += f" {m['content']}</s>"
    return text


RENDERERS = {"tinyllama": _tinyllama, "mistral": _mistral, "llama3": _llama3}


def render_text(row: dict, recipe_name: str, fmt: str) -> str:
    """One example in a text format (tinyllama, mistral or llama3)."""
    if fmt not in RENDERERS:
        raise LabError(f"{fmt!r} is not a text format; choose one of {', '.join(TEXT_FORMATS)}")
    recipe = get_recipe(recipe_name)
    return RENDERERS[fmt](examples.chat_messages(recipe, recipe.plain_row(row), fmt))


def _container(fmt: str, out: Path) -> str:
    """Which file layout the format and the output's extension ask for."""
    suffix = out.suffix.lower()
    if fmt in TEXT_FORMATS:
        if suffix not in (".csv", ".jsonl"):
            raise LabError(f"{out}: format {fmt!r} is written as .csv or .jsonl, not {suffix or 'no extension'!r}")
        return suffix[1:]
    expected = ".parquet" if fmt == "messages-parquet" else ".jsonl"
    if suffix != expected:
        raise LabError(f"{out}: format {fmt!r} is written as {expected}, not {suffix or 'no extension'!r}")
    return expected[1:]


@contextmanager
def _atomic_path(out: Path) -> Iterator[Path]:
    """A temporary path beside `out` that replaces it only when the block succeeds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _row_id(row: dict) -> str | None:
    value = row.get("id")
    return None if value is None else str(value)


def _write_json_line(f: IO[str], obj: dict) -> None:
    f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _write_text(dv: store.DatasetVersion, batches: Iterator[Batch], recipe: Recipe, fmt: str, container: str,
                tmp: Path) -> int:
    render = RENDERERS[fmt]
    rows = 0
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = None
        if container == "csv":
            writer = csv.DictWriter(f, fieldnames=["text", *recipe.export_columns])
            writer.writeheader()
        for batch in batches:
            for number, row in batch:
                text = render(examples.row_messages(dv, recipe, number, row, fmt))
                if writer is not None:
                    writer.writerow({"text": text, **recipe.export_values(row)})
                else:
                    _write_json_line(f, {"text": text, "id": _row_id(row)})
                rows += 1
    return rows


def _write_jsonl_messages(dv: store.DatasetVersion, batches: Iterator[Batch], recipe: Recipe, fmt: str,
                          tmp: Path) -> int:
    rows = 0
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        for batch in batches:
            for number, row in batch:
                record = {"messages": examples.row_messages(dv, recipe, number, row)}
                if fmt == "messages-jsonl":
                    record["id"] = _row_id(row)
                _write_json_line(f, record)
                rows += 1
    return rows


def _write_raft(dv: store.DatasetVersion, batches: Iterator[Batch], tmp: Path) -> int:
    if "instruction" not in dv.columns:
        raise LabError(f"{dv.ref} has no RAFT examples yet: build them first (`raft build {dv.dataset}`)")
    rows = 0
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        for batch in batches:
            for _, row in batch:
                _write_json_line(f, raft_record(row))
                rows += 1
    return rows


PARQUET_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
])


def _write_parquet_messages(dv: store.DatasetVersion, batches: Iterator[Batch], recipe: Recipe, tmp: Path) -> int:
    rows = 0
    with pq.ParquetWriter(tmp, PARQUET_SCHEMA) as writer:
        for batch in batches:
            if not batch:
                continue
            table = pa.Table.from_pydict(
                {"id": [_row_id(row) for _, row in batch],
                 "messages": [examples.row_messages(dv, recipe, number, row) for number, row in batch]},
                schema=PARQUET_SCHEMA,
            )
            writer.write_table(table)
            rows += len(batch)
    return rows


def export_dataset(ref: str, fmt: str, out: str | Path, *, split: str | None = None) -> ExportResult:
    """Write a dataset version (or one of its splits) as SFT training data."""
    if fmt not in FORMATS:
        raise LabError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    container = _container(fmt, out)
    dv = store.resolve(ref)
    recipe = get_recipe(dv.recipe)
    batches = examples.iter_rows(dv, split)  # checks the split now, before the output file is begun
    with _atomic_path(out) as tmp:
        if fmt in TEXT_FORMATS:
            rows = _write_text(dv, batches, recipe, fmt, container, tmp)
        elif fmt == "messages-parquet":
            rows = _write_parquet_messages(dv, batches, recipe, tmp)
        elif fmt == "raft-jsonl":
            rows = _write_raft(dv, batches, tmp)
        else:
            rows = _write_jsonl_messages(dv, batches, recipe, fmt, tmp)
    return ExportResult(path=str(out.resolve()), format=fmt, rows=rows, bytes=out.stat().st_size)


def token_length_stats(ref: str, *, encoding: str = "o200k_base", max_seq_length: int = 2048,
                       split: str | None = None) -> dict:
    """Token lengths of the rows' chats (OpenAI's chat convention, see count_chat_tokens) and how many
    would be truncated at `max_seq_length`."""
    if max_seq_length < 1:
        raise LabError(f"max_seq_length must be at least 1, not {max_seq_length}")
    dv = store.resolve(ref)
    recipe = get_recipe(dv.recipe)
    lengths: list[int] = []
    for batch in examples.iter_rows(dv, split):
        lengths.extend(count_chats_tokens([examples.row_messages(dv, recipe, number, row) for number, row in batch],
                                          encoding))
    stats = {"rows": len(lengths), "max_seq_length": max_seq_length, "encoding": encoding}
    if not lengths:
        return {**stats, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0, "over": 0, "over_pct": 0.0,
                "histogram": {"edges": [], "counts": []}}
    values = np.asarray(lengths)
    over = int((values > max_seq_length).sum())
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    return {
        **stats,
        "mean": float(values.mean()),
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "max": int(values.max()),
        "over": over,
        "over_pct": 100.0 * over / len(lengths),
        "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    }
