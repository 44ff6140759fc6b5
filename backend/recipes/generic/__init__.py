"""Any CSV/JSONL/Parquet with a column mapping onto prompt / response / label / system."""
from __future__ import annotations

from backend.recipes.base import Column, Messages, Recipe
from backend.recipes.importing import Importer
from backend.recipes.scoring import Scorer


def to_messages(row: dict) -> Messages:
    messages = []
    if row.get("system"):
        messages.append({"role": "system", "content": str(row["system"])})
    messages.append({"role": "user", "content": str(row.get("prompt") or "")})
    messages.append({"role": "assistant", "content": str(row.get("response") or row.get("label") or "")})
    return messages


RECIPE = Recipe(
    name="generic",
    title="Generic prompt / response data",
    columns=(
        Column("id", "text", True),
        Column("prompt", "text", True, help="user turn"),
        Column("response", "text", help="assistant turn (target)"),
        Column("label", "text", help="class label, if any"),
        Column("system", "text", help="system prompt, if any"),
    ),
    label_column="label",
    text_columns=("prompt",),
    to_messages=to_messages,
    scorer=Scorer(module="backend.recipes.generic.scoring", headline="accuracy", predictions_file=True),
    description="Bring your own data: map its columns onto prompt / response / label / system.",
    importer=Importer(
        module="backend.recipes.generic.importer",
        description=("CSV, TSV, JSONL, a JSON list or Parquet. Columns named prompt (required), response, label, "
                     "system and id are used as they are; map other names onto them (e.g. prompt <- question). "
                     "All other columns are kept as text."),
        accepts_mapping=True,
        mapping_box=True,
    ),
)
