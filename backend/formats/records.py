"""Streaming readers for the files users bring: JSONL, JSON lists, CSV/TSV and Parquet.

Each reader yields `Record`s one at a time together with where they came from (file, 1-based
record number, line), so an error can point at the spot and a large file never has to fit in
memory. The size limits are module constants; deployments and tests may change them.
"""
from __future__ import annotations

import codecs
import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from backend.errors import DataError
from backend.formats.files import file_format, require_exists
from backend.formats.where import Where, describe

MAX_FIELD_CHARS = 1_000_000
MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_JSON_DOCUMENT_BYTES = 512 * 1024 * 1024
READ_CHUNK_BYTES = 1 << 20
PARQUET_BATCH_ROWS = 5_000

_NON_WHITESPACE = re.compile(r"\S")
# raw_decode reports a value cut by the end of the buffer (e.g. `tr` of `true`) a few characters before the end.
_CUT_VALUE_MARGIN = 16


@dataclass(frozen=True)
class Record:
    where: Where
    data: dict


def _not_utf8(name: str, data: bytes, index: int, byte_offset: int, line: int) -> DataError:
    return Where(name, line=line).error(
        f"not valid UTF-8: byte 0x{data[index]:02x} at byte offset {byte_offset}; save the file as UTF-8")


def _check_record(where: Where, data: Any, size: int) -> Record:
    if not isinstance(data, dict):
        raise where.error(f"expected a JSON object (a record with named fields), got {describe(data)}")
    if size > MAX_RECORD_BYTES:
        raise where.error(f"the record is {size:,} bytes, over the limit of {MAX_RECORD_BYTES:,} bytes")
    for key, value in data.items():
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            raise where.error(f"the value is {len(value):,} characters, over the limit of {MAX_FIELD_CHARS:,}",
                              field=str(key))
    return Record(where, data)


# ---- line-based text: JSONL and CSV ----

def _lines(path: Path, name: str) -> Iterator[tuple[int, str, int]]:
    """(line number, text, byte length) per line, decoded as UTF-8; bad bytes are named by offset."""
    offset = 0
    with open(path, "rb") as f:
        number = 0
        while raw := f.readline(MAX_RECORD_BYTES + 1):
            number += 1
            if len(raw) > MAX_RECORD_BYTES:
                raise Where(name).error(f"line {number} is longer than the record limit of {MAX_RECORD_BYTES:,} bytes")
            start = 0
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                start = len(codecs.BOM_UTF8)
            try:
                text = raw[start:].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(name, raw, start + exc.start, offset + start + exc.start, number) from None
            offset += len(raw)
            yield number, text, len(raw)


def _jsonl(path: Path, name: str) -> Iterator[Record]:
    row = 0
    for number, text, size in _lines(path, name):
        if not text.strip():
            continue
        row += 1
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if _cut_off(exc, text.rstrip()):
                raise Where(name, row).error(f"the JSON record on line {number} is cut off (truncated file or a "
                                             "line break inside the record?)") from None
            raise Where(name, row).error(f"invalid JSON on line {number}, column {exc.colno}: {exc.msg}") from None
        yield _check_record(Where(name, row, number), data, size)


def _cut_off(exc: json.JSONDecodeError, text: str) -> bool:
    return exc.msg.startswith("Unterminated string") or exc.pos >= len(text)


def _csv(path: Path, name: str, delimiter: str) -> Iterator[Record]:
    if csv.field_size_limit() < MAX_FIELD_CHARS + 1:
        csv.field_size_limit(MAX_FIELD_CHARS + 1)
    reader = csv.reader((text for _, text, _ in _lines(path, name)), delimiter=delimiter, strict=True)
    row = 0
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        _check_header(header, name)
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            row += 1
            where = Where(name, row, reader.line_num)
            if len(fields) > len(header):
                raise where.error(f"the row has {len(fields)} fields but the header names {len(header)} columns")
            data = dict(zip(header, fields))
            yield _check_record(where, data, sum(len(f) for f in fields))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise Where(name, row + 1, reader.line_num).error(
                f"a value is over the limit of {MAX_FIELD_CHARS:,} characters") from None
        raise Where(name, row + 1, reader.line_num).error(f"malformed CSV: {exc}") from None


def _check_header(header: list[str], name: str) -> None:
    seen: set[str] = set()
    for position, column in enumerate(header, 1):
        if not column:
            raise Where(name, line=1).error(f"column {position} of the header has no name")
        if column in seen:
            raise Where(name, line=1).error(f"column name '{column}' appears twice in the header")
        seen.add(column)


# ---- Parquet ----

def _parquet_file(path: Path, name: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", file=name) from None


def _parquet(path: Path, name: str) -> Iterator[Record]:
    parquet = _parquet_file(path, name)
    row = 0
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for data in batch.to_pylist():
                row += 1
                size = sum(len(v) for v in data.values() if isinstance(v, (str, bytes)))
                yield _check_record(Where(name, row), data, size)
    except pa.ArrowException as exc:
        raise Where(name, row + 1).error(f"cannot read the Parquet data: {exc}") from None


# ---- JSON ----

def _decoded_chunks(f, name: str) -> Iterator[str]:
    """The file as UTF-8 text in chunks; a bad byte is reported with its byte offset and line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    offset = len(codecs.BOM_UTF8) if f.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8 else 0
    f.seek(offset)
    while True:
        raw = f.read(READ_CHUNK_BYTES)
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as exc:
            data = pending + raw
            line = newlines + data.count(b"\n", 0, exc.start) + 1
            raise _not_utf8(name, data, exc.start, offset - len(pending) + exc.start, line) from None
        offset += len(raw)
        newlines += raw.count(b"\n")
        if text:
            yield text
        if not raw:
            return


def json_top_level(path: Path) -> str | None:
    """The first non-blank character of a JSON file ('[' for a list, '{' for an object), None when blank."""
    with open(path, "rb") as f:
        for chunk in _decoded_chunks(f, path.name):
            match = _NON_WHITESPACE.search(chunk)
            if match:
                return match.group()
    return None


class _JsonListReader:
    """Decodes the records of a top-level JSON list one at a time, holding about one chunk in memory."""

    def __init__(self, f, name: str):
        self.chunks = _decoded_chunks(f, name)
        self.name = name
        self.decoder = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.eof = False
        # Line numbers are counted incrementally: `line` is the line at buf[mark], and mark only moves forward.
        self.line = 1
        self.mark = 0

    def _fill(self) -> bool:
        """Drop the consumed text and append the next chunk; False at the end of the file."""
        if self.eof:
            return False
        self._line_at(self.pos)
        self.buf, self.pos, self.mark = self.buf[self.pos:], 0, 0
        chunk = next(self.chunks, None)
        if chunk is None:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _next_char(self) -> str | None:
        while True:
            match = _NON_WHITESPACE.search(self.buf, self.pos)
            if match:
                self.pos = match.start()
                return match.group()
            self.pos = len(self.buf)
            if not self._fill():
                return None

    def _line_at(self, pos: int) -> int:
        """The line of buf[pos]; pos must not lie before an earlier call's."""
        self.line += self.buf.count("\n", self.mark, pos)
        self.mark = pos
        return self.line

    def _where(self, row: int | None, pos: int) -> Where:
        return Where(self.name, row, self._line_at(pos))

    def _truncated(self, row: int) -> DataError:
        return Where(self.name, row).error("the file ends in the middle of this record: the JSON is truncated")

    def _syntax_error(self, exc: json.JSONDecodeError, row: int) -> DataError:
        line = self._line_at(exc.pos)
        column = exc.pos - self.buf.rfind("\n", 0, exc.pos)
        return Where(self.name, row).error(f"invalid JSON on line {line}, column {column}: {exc.msg}")

    def records(self) -> Iterator[Record]:
        first = self._next_char()
        if first is None:
            return
        if first != "[":
            found = "a JSON object" if first == "{" else f"'{first}'"
            raise self._where(None, self.pos).error(
                f"expected a JSON list of records ('[{{...}}, ...]') but the file starts with {found}")
        self.pos += 1
        row = 0
        while True:
            char = self._next_char()
            if char is None:
                raise self._truncated(row + 1) if row else Where(self.name).error(
                    "the file ends before the list is closed: the JSON is truncated")
            if char == "]":
                self.pos += 1
                break
            if row:
                if char != ",":
                    raise self._where(row + 1, self.pos).error(f"invalid JSON: expected ',' or ']' after record {row}")
                self.pos += 1
                if self._next_char() is None:
                    raise self._truncated(row + 1)
            row += 1
            yield self._decode(row)
        if self._next_char() is not None:
            raise self._where(None, self.pos).error("unexpected text after the closing ']' of the list")

    def _decode(self, row: int) -> Record:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
                # A number at the very end of the buffer may continue in the next chunk.
                if end < len(self.buf) or self.eof:
                    where = self._where(row, self.pos)
                    size, self.pos = end - self.pos, end
                    return _check_record(where, value, size)
            except json.JSONDecodeError as exc:
                if self.eof:
                    if _cut_off(exc, self.buf.rstrip()):
                        raise self._truncated(row) from None
                    raise self._syntax_error(exc, row) from None
                # Otherwise an error at the end of the buffer may only mean the record continues in the next chunk.
                if not (exc.msg.startswith("Unterminated string") or exc.pos >= len(self.buf) - _CUT_VALUE_MARGIN):
                    raise self._syntax_error(exc, row) from None
            if len(self.buf) - self.pos > MAX_RECORD_BYTES:
                raise self._where(row, self.pos).error(
                    f"the record is over the limit of {MAX_RECORD_BYTES:,} bytes")
            self._fill()


def _json_list(path: Path, name: str) -> Iterator[Record]:
    with open(path, "rb") as f:
        yield from _JsonListReader(f, name).records()


def load_json_document(path: Path) -> Any:
    """A whole JSON file (for layouts that are one object, not a list of records); capped in size."""
    name = path.name
    size = path.stat().st_size
    if size > MAX_JSON_DOCUMENT_BYTES:
        raise DataError(f"the file is {size / 2**20:,.0f} MB; a single JSON document may be at most "
                        f"{MAX_JSON_DOCUMENT_BYTES / 2**20:,.0f} MB: convert it to JSONL (one record per line)",
                        file=name)
    with open(path, "rb") as f:
        text = "".join(_decoded_chunks(f, name))
    if not text.strip():
        raise DataError("the file is empty", file=name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if _cut_off(exc, text.rstrip()):
            raise DataError("the file ends in the middle of the JSON: it is truncated", file=name) from None
        raise DataError(f"invalid JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}", file=name) from None


def read_text(path: Path, name: str) -> str:
    """A whole text file as UTF-8 (documents); bad bytes are named by offset and line."""
    with open(path, "rb") as f:
        return "".join(_decoded_chunks(f, name))


# ---- entry points ----

def iter_records(path: Path, name: str | None = None) -> Iterator[Record]:
    """Every record of a data file, streamed; raises DataError for an empty file or one without records."""
    name = name or path.name
    require_exists(path)
    kind = file_format(path)
    if path.stat().st_size == 0:
        raise DataError("the file is empty", file=name)
    readers = {
        "jsonl": lambda: _jsonl(path, name),
        "json": lambda: _json_list(path, name),
        "csv": lambda: _csv(path, name, ","),
        "tsv": lambda: _csv(path, name, "\t"),
        "parquet": lambda: _parquet(path, name),
    }
    count = 0
    for record in readers[kind]():
        count += 1
        yield record
    if not count:
        raise DataError("the file has no records", file=name)


def column_names(path: Path) -> list[str]:
    """The columns a file offers: its header or schema, or for JSON/JSONL every key seen (a full pass)."""
    kind = file_format(path)
    if kind == "parquet":
        return list(_parquet_file(path, path.name).schema_arrow.names)
    if kind in ("csv", "tsv"):
        lines = (text for _, text, _ in _lines(path, path.name))
        header = next(csv.reader(lines, delimiter="," if kind == "csv" else "\t"), [])
        return [h.strip() for h in header]
    seen: dict[str, None] = {}
    for record in iter_records(path):
        seen.update(dict.fromkeys(record.data))
    return list(seen)
