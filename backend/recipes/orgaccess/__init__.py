"""Seed 003: OrgAccess permission reasoning (full / partial / rejected)."""
from __future__ import annotations

import re

from backend.recipes.base import Column, Messages, Recipe, TraceTemplate
from backend.recipes.curating import SplitPreset
from backend.recipes.demos import DemoSpec
from backend.recipes.scoring import Scorer
from backend.recipes.importing import Importer

LABELS = ("full", "partial", "rejected")
DIFFICULTIES = ("easy", "medium", "hard")

SYSTEM_PROMPT = (
    "You are a knowledge repository in an organisational structure and you are accessed by all the "
    "employees in the organisation. Your job is to respond to employees without providing any information "
    "or approving any task which they do not have the permissions for. Analyse the permissions carefully "
    "before responding."
)


def user_prompt(row: dict) -> str:
    return (
        f"Given the following permissions - {row.get('permissions')} and the following user query - "
        f"{row.get('query')}, decide if the query should be full, rejected or partial. Note that the user "
        "request must be within the threshold of all the permissions to get a `full` permission. `partial` "
        "responses may only be provided if all the conditions are fully satisfied and collaborations or "
        "location permissions are partially violated. For all other conditions, respond with a `rejected`. "
        "Your response must include the response type (full, partial or rejected) and a rationale."
    )


def assistant_answer(row: dict) -> str:
    return f"Response type: {row.get('expected_response')}\n\nRationale: {row.get('rationale') or ''}"


def to_messages(row: dict) -> Messages:
    trace = (row.get("trace") or "").strip()
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_prompt(row)},
        {"role": "assistant", "content": trace or assistant_answer(row)},
    ]


_RESPONSE_TYPE = re.compile(r"Response type:\s*\**\s*`?(full|partial|rejected)\b", re.I)


def parse_output(text: str) -> dict:
    """The first `Response type:` line's label (full / partial / rejected), else None."""
    found = _RESPONSE_TYPE.search(text or "")
    return {"expected_response": found.group(1).lower() if found else None}


def gold_labels(row: dict) -> dict:
    return {"expected_response": row.get("expected_response")}


def template_fields(row: dict) -> dict:
    return {**row, "user_prompt": user_prompt(row)}


TEMPLATES = (
    TraceTemplate(
        name="rationale",
        description="Seed 003: the response type and a rationale grounded in the permissions",
        system=SYSTEM_PROMPT,
        user=("{user_prompt}\n\nAnswer in exactly this format:\nResponse type: full|partial|rejected\n\n"
              "Rationale: <check each permission (department, access level, allowed actions, location, "
              "collaboration, automation, deadline) against the query, step by step>"),
        label_keys=("expected_response",),
        gold_hint="\n\nThe correct response type is {expected_response}; explain why.",
        max_tokens=512,
        expected_output_tokens=220,
    ),
)


RECIPE = Recipe(
    name="orgaccess",
    seed="003",
    demo=DemoSpec("demo-orgaccess", "backend.recipes.orgaccess.demo"),
    split_presets=(SplitPreset(
        "orgaccess", "OrgAccess (seed 003): per difficulty, 70% of easy and of medium form the training pool, split "
        "80/20 into train/validation; the other 30% become easy_test / medium_test; all of hard is hard_test. "
        "Stratified by expected_response inside each difficulty.",
        group="difficulty", stratify="expected_response", module="backend.recipes.orgaccess.splits"),),
    title="OrgAccess permissions (full / partial / rejected)",
    columns=(
        Column("id", "text", True),
        Column("user_role", "text", True, help="the employee's role"),
        Column("permissions", "json", True, help="JSON object: department, access_level, allowed_actions, ..."),
        Column("query", "text", True, help="what the employee asks"),
        Column("expected_response", "text", True, choices=LABELS, help="gold label"),
        Column("rationale", "text", help="why that label"),
        Column("difficulty", "text", True, choices=DIFFICULTIES, help="from the file name or a column"),
        Column("query_timestamp", "text"),
        Column("source_id", "text", help="the file's own `id` column: not unique, often empty (rows are keyed by file "
                                         "and row number)"),
    ),
    label_column="expected_response",
    text_columns=("query", "user_role", "permissions"),
    group_column="difficulty",
    to_messages=to_messages,
    templates=TEMPLATES,
    template_fields=template_fields,
    parse_output=parse_output,
    gold_labels=gold_labels,
    scorer=Scorer(module="backend.recipes.orgaccess.scoring", headline="macro_f1", predictions_file=True,
                  confusion_label="expected_response"),
    description="Stratified difficulty splits, QLoRA, 3-class confusion matrices per difficulty.",
    importer=Importer(
        module="backend.recipes.orgaccess.importer",
        description=("OrgAccess easy-/medium-/hard-00000-of-00001.parquet (or CSV, JSONL, JSON with the same "
                     "columns): user_role, permissions (a JSON object), query, expected_response "
                     "(full/partial/rejected), rationale, optional id (kept as source_id; rows are keyed by file and "
                     "row number) and query_timestamp; difficulty from the file name or a 'difficulty' column."),
        accepts_mapping=True,
        upload_help="The released easy/medium/hard-00000-of-00001.parquet files together (or a .zip of them).",
        bad_label_note="seed 003's split uses every row",
    ),
)
