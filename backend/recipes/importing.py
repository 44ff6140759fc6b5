"""What a recipe says about importing its files: `Recipe.importer`.

The reading code is the recipe folder's importer.py (`read(run, paths, mapping)`); the rest of the
backend, the CLI and the Data page ask the `Importer` here instead of the recipe's name: what files
it reads, whether a column mapping applies, which extra choices an import takes (`ImportOption`),
and how an upload is laid out. The module is imported on the first import, so loading the registry
stays light (no pandas, no pyarrow).
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from backend.errors import DataError
from backend.formats.where import Where

if TYPE_CHECKING:
    import pandas as pd

    from backend.recipes.base import Recipe


class ImportRun(Protocol):
    """The import in progress that an importer's `read` fills (backend.data.importers.pipeline.ImportRun)."""

    recipe: Recipe
    options: dict[str, str | None]  # the recipe's ImportOptions by name; None = not given
    extra_summary: dict

    def add_source(self, path: Path) -> str: ...
    def add_source_group(self, name: str, paths: list[Path]) -> None: ...
    def keep_extra_columns(self, names: list[str]) -> None: ...
    def count(self, what: str, key: str) -> None: ...
    def add(self, values: dict, where: Where, default_id: str, fields: dict[str, str] | None = None) -> None: ...
    def write_table(self, table: str, frame: pd.DataFrame) -> None: ...


@dataclass(frozen=True)
class ImportOption:
    """A choice an import takes besides its files (e.g. which task a benchmark file's labels belong to).

    The importer finds it in `run.options[name]`; None, the default, lets the importer infer it (and
    raise `OptionNeeded` when it cannot)."""

    name: str  # import_dataset's keyword, the CLI flag --<name>
    choices: tuple[str, ...]
    applies_to: str  # what it applies to, for the message when given for another recipe
    label: str  # the Data page's box
    help: str  # the Data page's help under the box
    cli_help: str
    unset: str = "inferred"  # how the Data page's box offers None


class OptionNeeded(DataError):
    """An import needs an `ImportOption` that neither the user nor the files gave. The message names no CLI flag
    or form field: the CLI and the Data page each say where to choose it (`with_hint`)."""

    def __init__(self, error: DataError, option: str, hint: str):
        self.error, self.option, self.hint = error, option, hint
        super().__init__(f"{error.reason} {hint}", file=error.file, row=error.row, field=error.field)

    def with_hint(self, hint: str) -> str:
        return str(self).replace(self.hint, hint)

    def __reduce__(self):
        return type(self), (self.error, self.option, self.hint)


@dataclass(frozen=True)
class CorpusUpload:
    """An upload that is one corpus folder rather than data files: the folder holding `documents`/ with
    `*<suffix>` files is imported; loose `*<suffix>` files go into `documents`/, and loose files whose
    names match `index_files` (e.g. the queries) move next to it."""

    index_files: re.Pattern
    missing_hint: str  # what to upload, when the upload holds no documents
    documents: str = "documents"
    suffix: str = ".txt"


@dataclass(frozen=True)
class Importer:
    """How a recipe's files become a dataset version."""

    module: str  # the module with read(run, paths, mapping): backend.recipes.<name>.importer
    description: str  # the files it reads (the Data page's caption under the recipe)
    accepts_mapping: bool = False  # reads free-form columns that a {recipe column: source column} mapping renames
    mapping_box: bool = False  # the Data page asks for a mapping (the CLI's --map works whenever it applies)
    options: tuple[ImportOption, ...] = ()
    upload_help: str = "Data files, or a .zip of them."
    corpus: CorpusUpload | None = None  # an upload is one corpus folder, not data files
    bad_label_note: str = ""  # added to the Data page's help on rows with labels outside a column's choices

    def read(self, run: ImportRun, paths: list[Path], mapping: dict[str, str]) -> None:
        importlib.import_module(self.module).read(run, paths, mapping)

    def option(self, name: str) -> ImportOption | None:
        return next((o for o in self.options if o.name == name), None)
