"""Generic data: any CSV/TSV/JSONL/JSON/Parquet with its columns mapped onto prompt / response / label / system / id.

Source columns that are not mapped are kept as text columns, so nothing the user brought is lost.
Their set is fixed before the first row is written (every batch must have the same columns), which
for JSON and JSONL costs one extra pass over the file.
"""
from __future__ import annotations

from pathlib import Path

from backend.errors import DataError
from backend.formats.files import expand_paths
from backend.formats.records import column_names, iter_records
from backend.formats.values import apply_mapping
from backend.recipes.importing import ImportRun


def _check_columns(name: str, columns: list[str], mapping: dict[str, str]) -> None:
    listed = ", ".join(columns[:20]) + (" ..." if len(columns) > 20 else "")
    for column, source in mapping.items():
        if source not in columns:
            raise DataError(f"the mapping takes '{column}' from column '{source}', which the file does not have "
                            f"(its columns: {listed})", file=name, field=source)
    for column in columns:
        if column in mapping and mapping[column] != column and column not in mapping.values():
            raise DataError(f"the file has a column '{column}' but the mapping takes '{column}' from "
                            f"'{mapping[column]}'; rename one of them or map '{column}' to itself",
                            file=name, field=column)
    if "prompt" not in mapping and "prompt" not in columns:
        raise DataError(f"no 'prompt' column: map one of the file's columns onto prompt (its columns: {listed})",
                        file=name, field="prompt")


def read(run: ImportRun, paths: list[Path], mapping: dict[str, str]) -> None:
    files = expand_paths(paths)
    recipe_columns = run.recipe.column_names
    extras: dict[str, None] = {}
    for path in files:
        columns = column_names(path)
        _check_columns(path.name, columns, mapping)
        extras.update(dict.fromkeys(c for c in columns if c not in recipe_columns and c not in mapping.values()))
    run.keep_extra_columns(list(extras))
    for path in files:
        name = run.add_source(path)
        for record in iter_records(path, name):
            run.add(apply_mapping(record.data, mapping), record.where,
                    default_id=f"{path.stem}-{record.where.row}", fields=mapping)
