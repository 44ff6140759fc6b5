"""The one plug-in point: what differs between workflows.

A recipe says which columns its rows have (and which are required, with what values), which
column is the label (for stratified splits and class balance), which columns hold the text
(for dedup, leakage checks and token lengths), and how a row becomes chat messages for SFT.
Everything else (storage, filters, splits, exports) is generic and never branches on the name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from backend.recipes.curating import CurateFilter, SplitPreset
from backend.recipes.demos import DemoSpec
from backend.recipes.importing import Importer
from backend.recipes.scoring import Scorer

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"  # text | int | float | bool | json
    required: bool = False
    choices: tuple[str, ...] | None = None
    help: str = ""


@dataclass(frozen=True)
class TraceTemplate:
    """A teacher prompt for one recipe. `user` and `gold_hint` are str.format templates over the
    fields `Recipe.template_fields` gives; `label_keys` are the parsed labels compared with the gold
    ones. With `per_values`, each row makes one request per value (seed 000: one per policy), the
    value in field `per_field` and its gold label, when known, read from the JSON column `per_column`."""

    name: str
    description: str
    system: str
    user: str
    label_keys: tuple[str, ...] = ()
    require: tuple[str, ...] = ()  # parsed keys that must be present for a trace to count
    gold_hint: str = ""
    per_field: str | None = None
    per_values: tuple[str, ...] = ()
    per_column: str | None = None
    max_tokens: int = 1024
    expected_output_tokens: int = 400


def _no_labels(text: str) -> dict:
    return {}


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    columns: tuple[Column, ...]
    label_column: str | None
    text_columns: tuple[str, ...]
    group_column: str | None = None
    to_messages: Callable[[dict], Messages] = field(default=lambda row: [])
    description: str = ""
    seed: str | None = None  # the seed workflow it serves ("000" ...); orders the registry, None last
    # Text SFT formats (tinyllama, mistral, llama3) render these messages; a recipe whose source
    # project spelled each format differently supplies its own, otherwise `to_messages` is used.
    format_messages: Callable[[dict, str], Messages] | None = None
    # Columns next to `text` in a CSV export, and how a row fills them (default: id and the label).
    export_columns: tuple[str, ...] = ("id", "label")
    export_record: Callable[[dict], dict] | None = None
    # Teacher traces and evaluation: prompts, the fields they fill, and the parser of free text into
    # labels (the same keys as `gold_labels` returns for a row).
    templates: tuple[TraceTemplate, ...] = ()
    template_fields: Callable[[dict], dict] = field(default=lambda row: dict(row))
    parse_output: Callable[[str], dict] = _no_labels
    gold_labels: Callable[[dict], dict] = field(default=lambda row: {})
    # Adds what prompts need from a version's other tables (raft: the gold documents' texts):
    # attach_context(rows, load_table) -> rows, where load_table(name, columns) gives one of the version's
    # tables as a DataFrame, None when it has none. Called by the examples stage (backend/data/examples.py).
    attach_context: Callable[[Any, Callable[[str, list[str]], Any]], Any] | None = None
    # Importing: what files it reads and how (recipes/<name>/importer.py), its options and upload layout.
    importer: Importer | None = None
    # Evaluation: its metrics and headline, predictions files (recipes/<name>/scoring.py). None: not scored.
    scorer: Scorer | None = None
    # The version's table of documents the questions are answered from, None when it has none: retrieval
    # indexes it, and the evaluation's distractor stress test mixes its documents into the context.
    documents_table: str | None = None
    # Demo data (recipes/<name>/demo.py), split presets (its published splits) and the Data page's curate
    # filter (recipes/<name>/filter.py, in place of the generic column filters); see recipes/curating.py.
    demo: DemoSpec | None = None
    split_presets: tuple[SplitPreset, ...] = ()
    curate_filter: CurateFilter | None = None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def template(self, name: str | None = None) -> TraceTemplate:
        from backend.errors import LabError

        if not self.templates:
            raise LabError(f"recipe {self.name!r} has no teacher templates (its targets need no teacher)")
        if name is None:
            return self.templates[0]
        for t in self.templates:
            if t.name == name:
                return t
        raise LabError(f"recipe {self.name!r} has no template {name!r}; choose {', '.join(t.name for t in self.templates)}")

    def messages_for_format(self, row: dict, fmt: str) -> Messages:
        return self.format_messages(row, fmt) if self.format_messages else self.to_messages(row)

    def export_values(self, row: dict) -> dict:
        if self.export_record:
            return self.export_record(row)
        return {"id": row.get("id"), "label": row.get(self.label_column) if self.label_column else None}

    def plain_row(self, row: dict) -> dict:
        """A stored row as the recipe's functions expect it: pandas gives NaN for missing values and floats for
        int columns with gaps; these come back as None and ints."""
        out = {}
        for key, value in row.items():
            if isinstance(value, float):
                if value != value:
                    value = None
                elif value.is_integer() and (column := self.column(key)) is not None and column.kind == "int":
                    value = int(value)
            out[key] = value
        return out

    def text_of(self, row: dict) -> str:
        """The text that identifies an example (dedup, leakage): its text columns joined."""
        return "\n".join(str(row.get(c) or "") for c in self.text_columns if row.get(c) is not None)


def loads_json(value: Any, default: Any) -> Any:
    """JSON columns are stored as text; tolerate values already parsed or missing."""
    if value is None or (isinstance(value, float) and value != value):
        return default
    if isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return default
