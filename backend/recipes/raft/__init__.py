"""Seed 002: RAFT on MSRS Story-QA. Rows are queries; the `documents` table is the corpus."""
from __future__ import annotations

import json
import re

from backend.recipes.base import Column, Messages, Recipe, TraceTemplate, loads_json
from backend.recipes.demos import DemoSpec
from backend.recipes.scoring import Scorer
from backend.recipes.importing import CorpusUpload, Importer

DOCUMENTS_TABLE = "documents"
EXAMPLES_SUMMARY_KEY = "raft"  # where `raft build` keeps its statistics in the new version's summary
# MSRS's query files, queries_<split>.json; the importer reads them, an upload moves loose ones next to documents/.
QUERY_FILE = re.compile(r"^queries_(?P<split>[A-Za-z0-9]+)\.(json|jsonl|ndjson)$", re.I)


def instruction(documents: list[str], question: str) -> str:
    """RAFT's instruction: each document in <DOCUMENT> tags, then the question."""
    return "".join(f"<DOCUMENT>{d}</DOCUMENT>\n" for d in documents) + question


def context_documents(row: dict) -> list[str]:
    """The documents shown with the question: a built RAFT example's context, else the gold texts."""
    return loads_json(row.get("context_texts"), None) or loads_json(row.get("gold_texts"), [])


def to_messages(row: dict) -> Messages:
    """The question with its documents; the teacher's CoT answer when there is one, else the first reference."""
    answers = loads_json(row.get("answers"), [])
    docs = context_documents(row)
    answer = row.get("trace") or row.get("cot_answer") or (answers[0] if answers else "")
    return [
        {"role": "user", "content": instruction(docs, str(row.get("query") or ""))},
        {"role": "assistant", "content": str(answer)},
    ]


_QUOTE = re.compile(r"##begin_quote##(.*?)##end_quote##", re.S)


def parse_output(text: str) -> dict:
    """The final `<ANSWER>:` text (None when missing) and the quoted spans."""
    text = text or ""
    at = text.rfind("<ANSWER>:")
    answer = text[at + len("<ANSWER>:"):].strip() if at >= 0 else None
    return {"answer": answer, "quotes": [q.strip() for q in _QUOTE.findall(text)]}


def attach_gold_texts(frame, load_table):
    """Rows from an import carry gold document ids; prompts need their texts, from the documents table."""
    if "gold_texts" in frame.columns:
        return frame
    docs = load_table(DOCUMENTS_TABLE, ["doc_id", "text"])
    if docs is None:
        return frame
    text_of = dict(zip(docs["doc_id"], docs["text"]))
    frame = frame.copy()
    frame["gold_texts"] = [json.dumps([text_of.get(d, "") for d in loads_json(ids, [])], ensure_ascii=False)
                           for ids in frame["gold_documents"]]
    return frame


def template_fields(row: dict) -> dict:
    answers = loads_json(row.get("answers"), [])
    return {**row, "question": row.get("query") or "", "reference_answer": answers[0] if answers else "",
            "documents": "".join(f"<DOCUMENT>{d}</DOCUMENT>\n" for d in context_documents(row))}


TEMPLATES = (
    TraceTemplate(
        name="cot",
        description="RAFT's chain-of-thought answer quoting the documents, ending '<ANSWER>: ...'",
        system="You are a helpful question answerer who can provide an answer given a question and relevant context.",
        user=("{documents}Question: {question}\n\nAnswer this question using the information given in the "
              "context above. First provide step-by-step reasoning on how to answer the question. In the "
              "reasoning, if you need to copy paste some sentences from the context, include them in "
              "##begin_quote## and ##end_quote##. End your response with a final answer in the form "
              "<ANSWER>: $answer, the answer should be succinct."),
        label_keys=(),
        require=("answer",),
        gold_hint="\n\nA reference answer (use it to check yourself, do not copy it): {reference_answer}",
        max_tokens=1024,
        expected_output_tokens=350,
    ),
)


RECIPE = Recipe(
    name="raft",
    seed="002",
    demo=DemoSpec("demo-raft", "backend.recipes.raft.demo"),
    title="RAFT retrieval-augmented QA (MSRS Story-QA)",
    columns=(
        Column("id", "text", True, help="query id"),
        Column("query", "text", True, help="the question"),
        Column("squality_query", "text"),
        Column("gold_documents", "json", True, help="JSON list of document ids that answer it"),
        Column("answers", "json", help="JSON list of reference answers"),
        Column("source_split", "text", help="train / dev / test, from the queries file name"),
    ),
    label_column="source_split",
    text_columns=("query",),
    to_messages=to_messages,
    templates=TEMPLATES,
    template_fields=template_fields,
    parse_output=parse_output,
    attach_context=attach_gold_texts,
    scorer=Scorer(module="backend.recipes.raft.scoring", headline="token_f1", predictions_file=True),
    documents_table=DOCUMENTS_TABLE,
    description="Embed + FAISS retrieval, oracle/distractor examples with quoted CoT answers.",
    importer=Importer(
        module="backend.recipes.raft.importer",
        description=("An MSRS-style folder (or its parent, or on the Data page a .zip of it or its files uploaded "
                     "together): documents/*.txt, one chapter per file named by doc id (e.g. ACID_BATH_1.txt), and "
                     "queries_train/dev/test.json, each one JSON object keyed by query id with {query, squality_query, "
                     "gold_documents, answer} (a JSON list or JSONL of such records also works); queries_all.json is "
                     "used only when the split files are absent."),
        upload_help=("An MSRS corpus: one .zip of the story folder (documents/*.txt and queries_*.json), or the "
                     "documents' .txt files and the queries_*.json files selected together."),
        corpus=CorpusUpload(index_files=QUERY_FILE,
                            missing_hint="upload a .zip of the MSRS story folder, or the documents' .txt files "
                                         "together with queries_train/dev/test.json"),
    ),
)
