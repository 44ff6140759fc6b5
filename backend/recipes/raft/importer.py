"""RAFT (seed 002) importer: an MSRS-style corpus folder, as yale-nlp/MSRS publishes data/story/.

    <folder>/documents/<doc id>.txt   one chapter per file; doc id = file stem (HIS_MASTER'S_VOICE_..._·_..._1),
                                      title = the stem without the trailing chapter number
    <folder>/queries_<split>.json     MSRS's layout: ONE JSON object keyed by query id ("0" ... "634"), each value
                                      {query, squality_query, gold_documents: [doc ids], answer: [4 summaries]};
                                      also accepted: a JSON list or JSONL of such records (optional "id")
    <folder>/queries_all.json         the train, dev and test queries again

Rows are the queries, keyed by the query id (the object key; "<split>-0001" ... for lists without
ids); the corpus goes into the version's `documents` table. The path may be the folder itself or its
parent (e.g. data/).

Which query files: queries_all.json repeats queries_train/dev/test.json, so it is read only when no
other queries_<split> file is present (its rows then have source_split "all"); otherwise it is
skipped and the summary says so (`skipped`).

Document ids: doc ids hold apostrophes, commas, hyphens, `·` and other non-ASCII characters, and the
JSON and the file names need not spell them with the same Unicode normal form (a zip made on macOS
stores NFD names). Every stored doc id is NFC. A gold id resolves to a file by its exact name, else by
its NFC form, else by a looser form (NFKC, case-folded, typographic quotes and dashes made plain) when
exactly one file has it; loose matches are listed in the summary (`resolved_loosely`). Gold ids that
name no file fail the import with one message listing all of them (query, file, closest file name).
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from backend.errors import DataError, LabError
from backend.formats.files import require_exists
from backend.formats.records import (MAX_FIELD_CHARS, iter_records, json_top_level, load_json_document,
                                     read_text)
from backend.formats.values import to_text
from backend.formats.where import Where, describe
from backend.recipes.importing import ImportRun
from backend.recipes.raft import DOCUMENTS_TABLE, QUERY_FILE

SPLIT_ORDER = ("train", "dev", "test")
ALL_SPLIT = "all"
DOCUMENT_BATCH = 500
_CHAPTER = re.compile(r"_\d+$")
_LISTED_MISSING = 5
_LOOSE = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
                        "\u201c": '"', "\u201d": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
                        "\u2014": "-", "\u2212": "-", "\u00a0": " "})


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _loose(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_LOOSE).casefold().strip()


def find_corpus(path: Path) -> Path:
    """The folder holding documents/: the path itself or its only subfolder that has one."""
    require_exists(path)
    if not path.is_dir():
        raise DataError("expected a folder holding documents/ and queries_*.json (like MSRS data/story/)",
                        file=str(path))
    if (path / "documents").is_dir():
        return path
    found = sorted(p for p in path.iterdir() if (p / "documents").is_dir())
    if len(found) > 1:
        raise DataError(f"several corpora inside ({', '.join(p.name for p in found)}); give one of those folders",
                        file=str(path))
    if not found:
        raise DataError("no documents/ folder here or in a subfolder", file=str(path))
    return found[0]


def query_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(the query files to read in split order, the ones skipped: queries_all when split files are present)."""
    files = [p for p in folder.iterdir() if p.is_file() and QUERY_FILE.match(p.name)]

    def split(p: Path) -> str:
        return QUERY_FILE.match(p.name)["split"].lower()

    def order(p: Path) -> tuple[int, str]:
        return (SPLIT_ORDER.index(split(p)) if split(p) in SPLIT_ORDER else len(SPLIT_ORDER), p.name)

    if not files:
        raise DataError("no queries_train.json, queries_dev.json or queries_test.json (or .jsonl) here",
                        file=str(folder))
    splits = [p for p in files if split(p) != ALL_SPLIT]
    if splits:
        return sorted(splits, key=order), sorted(p for p in files if split(p) == ALL_SPLIT)
    return sorted(files, key=order), []


class DocumentIndex:
    """The corpus's doc ids (NFC) and how a gold id given in any spelling finds one of them."""

    def __init__(self, paths: list[Path]):
        self.ids: dict[Path, str] = {}
        self.exact: dict[str, str] = {}
        self.normal: dict[str, str] = {}
        loose: dict[str, set[str]] = {}
        for path in paths:
            doc_id = nfc(path.stem)
            if doc_id in self.normal:
                raise DataError(f"two documents have the same name once Unicode-normalised (NFC): "
                                f"{self.normal[doc_id]!r} and {path.stem!r}", file=f"documents/{path.name}")
            self.ids[path] = self.exact[path.stem] = self.normal[doc_id] = doc_id
            loose.setdefault(_loose(doc_id), set()).add(doc_id)
        self.loose = {key: next(iter(ids)) for key, ids in loose.items() if len(ids) == 1}
        self.loosely: dict[str, str] = {}

    def resolve(self, doc: str) -> str | None:
        found = self.exact.get(doc) or self.normal.get(nfc(doc))
        if found is None:
            found = self.loose.get(_loose(doc))
            if found is not None:
                self.loosely[doc] = found
        return found

    def closest(self, doc: str) -> str | None:
        match = difflib.get_close_matches(nfc(doc), list(self.normal), n=1, cutoff=0.6)
        return match[0] if match else None


class _Missing:
    """Gold ids without a document, gathered over every query file so one message names them all."""

    def __init__(self):
        self.items: list[tuple[str, str, Where]] = []

    def add(self, doc: str, query: str, where: Where) -> None:
        self.items.append((doc, query, where))

    def raise_if_any(self, index: DocumentIndex) -> None:
        if not self.items:
            return
        by_doc: dict[str, list[str]] = {}
        for doc, query, _ in self.items:
            by_doc.setdefault(doc, []).append(query)
        listed = "; ".join(f"{doc!r} (query {', '.join(queries[:3])}{' ...' if len(queries) > 3 else ''})"
                           for doc, queries in list(by_doc.items())[:_LISTED_MISSING])
        more = f" and {len(by_doc) - _LISTED_MISSING} more" if len(by_doc) > _LISTED_MISSING else ""
        doc, _, first = self.items[0]
        closest = index.closest(doc)
        hint = f"; the closest file to {doc!r} is documents/{closest}.txt" if closest else ""
        count = f"{len(by_doc)} gold document id{'s' if len(by_doc) > 1 else ''}"
        raise first.error(f"{count} not found in documents/ (no such .txt file): {listed}{more}{hint}",
                          field="gold_documents")


def _gold_documents(value: Any, where: Where, query: str, index: DocumentIndex, missing: _Missing) -> list[str]:
    if not isinstance(value, list) or not value:
        raise where.error(f"expected a non-empty list of document ids, got {describe(value)}", field="gold_documents")
    ids = []
    for item in value:
        doc = to_text(item, where, "gold_documents")
        if doc is None:
            raise where.error("a document id in the list is empty", field="gold_documents")
        found = index.resolve(doc)
        if found is None:
            missing.add(doc, query, where)
        ids.append(found or nfc(doc))
    return ids


def _answers(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _object_records(path: Path, name: str) -> Iterator[tuple[str, Where, dict]]:
    """MSRS's layout: {"<query id>": {query, ...}, ...} -> (query id, where, record) in file order."""
    document = load_json_document(path)
    if not document:
        raise DataError("the file has no queries (an empty JSON object)", file=name)
    for position, (key, value) in enumerate(document.items(), 1):
        where = Where(name, position, detail=f"query {key!r}")
        if not isinstance(value, dict):
            raise where.error(f"expected a query object {{query, squality_query, gold_documents, answer}}, got "
                              f"{describe(value)}")
        yield str(key), where, value


def _list_records(path: Path, name: str) -> Iterator[tuple[str | None, Where, dict]]:
    for record in iter_records(path, name):
        yield None, record.where, record.data


def _write_documents(run: ImportRun, index: DocumentIndex, paths: list[Path]) -> None:
    batch: list[dict] = []
    for path in paths:
        name = f"documents/{path.name}"
        text = read_text(path, name)
        if not text.strip():
            raise DataError("the document is empty", file=name)
        if len(text) > MAX_FIELD_CHARS:
            raise DataError(f"the document is {len(text):,} characters, over the limit of {MAX_FIELD_CHARS:,}; "
                            "split it into chapters", file=name)
        doc_id = index.ids[path]
        batch.append({"doc_id": doc_id, "title": _CHAPTER.sub("", doc_id), "text": text, "n_chars": len(text)})
        if len(batch) >= DOCUMENT_BATCH:
            run.write_table(DOCUMENTS_TABLE, _documents_frame(batch))
            batch = []
    if batch:
        run.write_table(DOCUMENTS_TABLE, _documents_frame(batch))


def _documents_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["doc_id", "title", "text", "n_chars"])
    return frame.astype({"doc_id": "str", "title": "str", "text": "str", "n_chars": "Int64"})


def read(run: ImportRun, paths: list[Path], mapping: dict[str, str]) -> None:
    if len(paths) != 1:
        raise LabError(f"raft imports one corpus folder at a time; got {len(paths)} paths")
    folder = find_corpus(paths[0])
    documents = sorted(p for p in (folder / "documents").iterdir()
                       if p.is_file() and p.suffix.lower() == ".txt" and not p.name.startswith("."))
    if not documents:
        raise DataError("documents/ holds no .txt files", file=str(folder / "documents"))
    index = DocumentIndex(documents)
    missing = _Missing()
    files, skipped = query_files(folder)
    queries: dict[str, int] = {}
    for path in files:
        name = run.add_source(path)
        split = QUERY_FILE.match(path.name)["split"].lower()
        keyed = path.suffix.lower() == ".json" and json_top_level(path) == "{"
        records = _object_records(path, name) if keyed else _list_records(path, name)
        for key, where, data in records:
            query_id = key if key is not None else data.get("id")
            shown = repr(str(query_id)) if query_id not in (None, "") else f"row {where.row}"
            values = {
                "id": query_id,
                "query": data.get("query"),
                "squality_query": data.get("squality_query"),
                "gold_documents": _gold_documents(data.get("gold_documents"), where, shown, index, missing),
                "answers": _answers(data.get("answer", data.get("answers"))),
                "source_split": split,
            }
            run.add(values, where, default_id=f"{split}-{where.row:04d}",
                    fields={"answers": "answer" if "answer" in data else "answers"})
            queries[split] = queries.get(split, 0) + 1
    missing.raise_if_any(index)
    run.add_source_group("documents/", documents)
    _write_documents(run, index, documents)
    run.extra_summary["documents"] = len(documents)
    run.extra_summary["queries"] = queries
    if skipped:
        run.extra_summary["skipped"] = {p.name: "repeats the queries of " + ", ".join(f.name for f in files)
                                        for p in skipped}
    if index.loosely:
        run.extra_summary["resolved_loosely"] = dict(index.loosely)
