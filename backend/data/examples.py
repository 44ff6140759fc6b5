"""The examples stage: a dataset version's rows as a recipe uses them, and each row as chat messages or a prompt.

Every workflow that reads examples comes through here (training data, SFT export, evaluation, teacher
prompts, the Playground), so they agree on which rows a split holds and how a missing split is reported,
on the context a recipe adds from the version's other tables (raft: the gold documents' texts), and on
the messages a row becomes. Row numbers are 1-based positions in the version before any split is taken,
as users count them; the frames returned here carry them as their index.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache

import pandas as pd

from backend.data import store
from backend.data.store import DatasetVersion
from backend.errors import DataError, LabError
from backend.recipes import Recipe, get_recipe
from backend.recipes.base import Messages

SPLIT_COLUMN = "split"
ROLES = ("system", "user", "assistant")
BATCH_ROWS = 50_000

Numbered = list[tuple[int, dict]]  # (1-based row number in the version, plain row)


# -- which rows: splits -----------------------------------------------------------------------------------
def splits_present(version: DatasetVersion) -> list[str]:
    """The version's splits, sorted; none when it has no split column (backend.data.splits.split_names: in the
    order they were made, and an error when there are none)."""
    if SPLIT_COLUMN not in version.columns:
        return []
    column = store.load_frame(version, columns=[SPLIT_COLUMN])[SPLIT_COLUMN]
    return sorted(str(s) for s in column.dropna().unique())


def missing_split(version: DatasetVersion, split: str, present: Sequence[str], *, purpose: str = "",
                  fix: str = "") -> LabError:
    """The one wording of "this version has no split X": which splits it has instead, what the split was
    wanted for (e.g. "to train on") and how to fix it, when the caller says."""
    wanted = f"{split!r} {purpose}" if purpose else repr(split)
    return LabError(f"dataset {version.ref} has no split {wanted} (splits: {', '.join(present) or 'none'})"
                    + (f"; {fix}" if fix else ""))


def check_split(version: DatasetVersion, split: "str | Sequence[str] | None", *, purpose: str = "",
                fix: str = "") -> list[str] | None:
    """The split names asked for (None: every row; a list: several scored together), each checked against
    the version's splits."""
    if split is None:
        return None
    wanted = [split] if isinstance(split, str) else list(split)
    if SPLIT_COLUMN not in version.columns:
        raise LabError(f"dataset {version.ref} has no splits; split it first or leave the split out")
    present = splits_present(version)
    for name in wanted:
        if name not in present:
            raise missing_split(version, name, present, purpose=purpose, fix=fix)
    return wanted


def _numbered(frame: pd.DataFrame, start: int = 1) -> pd.DataFrame:
    frame = frame.reset_index(drop=True)
    frame.index = frame.index + start
    return frame


def _keep(frame: pd.DataFrame, wanted: list[str] | None) -> pd.DataFrame:
    return frame if wanted is None else frame[frame[SPLIT_COLUMN].isin(wanted)]


# -- what rows carry: the recipe's context ------------------------------------------------------------------
def table_loader(version: DatasetVersion) -> Callable[[str, list[str]], pd.DataFrame | None]:
    """`load_table(name, columns)` for a recipe's attach_context: one of the version's other tables (read once),
    None when the version has no such table."""

    @cache
    def load(name: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
        if name not in version.tables:
            return None
        return store.load_frame(version, name, columns=list(columns))

    return lambda name, columns: load(name, tuple(columns))


def with_context(frame: pd.DataFrame, version: DatasetVersion, recipe: Recipe | None = None,
                 load_table: Callable[[str, list[str]], pd.DataFrame | None] | None = None) -> pd.DataFrame:
    """The rows with what the recipe's prompts need from the version's other tables (`Recipe.attach_context`)."""
    recipe = recipe or get_recipe(version.recipe)
    if recipe.attach_context is None:
        return frame
    return recipe.attach_context(frame, load_table or table_loader(version))


# -- the rows -------------------------------------------------------------------------------------------------
def load_rows(version: "str | DatasetVersion", split: "str | Sequence[str] | None" = None, *,
              limit: int | None = None, purpose: str = "", fix: str = "") -> pd.DataFrame:
    """A version's rows as its recipe uses them: those of `split` (every row when None), the first `limit` of
    them, with the recipe's context attached; indexed by row number."""
    version = store.resolve(version)
    wanted = check_split(version, split, purpose=purpose, fix=fix)
    frame = _keep(_numbered(store.load_frame(version)), wanted)
    if limit:
        frame = frame.head(limit)
    return with_context(frame, version)


def iter_rows(version: "str | DatasetVersion", split: "str | Sequence[str] | None" = None, *,
              batch_rows: int = BATCH_ROWS) -> Iterator[Numbered]:
    """`load_rows` batch by batch for versions too big to hold at once, as (row number, plain row) pairs."""
    version = store.resolve(version)
    return _batches(version, check_split(version, split), batch_rows)  # a bad split fails here, not on first read


def _batches(version: DatasetVersion, wanted: list[str] | None, batch_rows: int) -> Iterator[Numbered]:
    recipe = get_recipe(version.recipe)
    load_table = table_loader(version)
    start = 1
    for batch in store.iter_batches(version, batch_size=batch_rows):
        frame = _keep(_numbered(batch, start), wanted)
        start += len(batch)
        yield plain_rows(with_context(frame, version, recipe, load_table), recipe)


def row_at(version: "str | DatasetVersion", position: int) -> dict:
    """Row `position` (0-based, counting every row of the version) as a plain row with its context."""
    version = store.resolve(version)
    frame = store.load_frame(version)
    if not 0 <= position < len(frame):
        raise LabError(f"{version.ref} has rows 0 to {len(frame) - 1}; there is no row {position}")
    frame = with_context(_numbered(frame.iloc[[position]], position + 1), version)
    return plain_rows(frame, get_recipe(version.recipe))[0][1]


def plain_rows(frame: pd.DataFrame, recipe: Recipe) -> Numbered:
    """(row number, row as the recipe's functions expect it, see `Recipe.plain_row`) for a frame from here."""
    return [(int(n), recipe.plain_row(row)) for n, row in frame.to_dict(orient="index").items()]


# -- a row as chat messages or a prompt -----------------------------------------------------------------------
def chat_messages(recipe: Recipe, row: dict, fmt: str | None = None) -> Messages:
    """The row's chat, as role/content pairs: for a text SFT format when `fmt` names one (a recipe may spell
    each differently, `Recipe.messages_for_format`), else `Recipe.to_messages`. LabError for a message that
    is not one of the chat roles with text content."""
    messages = recipe.messages_for_format(row, fmt) if fmt else recipe.to_messages(row)
    for m in messages:
        if m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise LabError(f"chat message {m!r} needs a role ({', '.join(ROLES)}) and text content")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def row_messages(version: DatasetVersion, recipe: Recipe, number: int, row: dict, fmt: str | None = None) -> Messages:
    """`chat_messages` for row `number` of the version; a row the recipe cannot read is reported by number."""
    try:
        return chat_messages(recipe, row, fmt)
    except DataError as exc:
        raise DataError(exc.reason, file=version.ref, row=number, field=exc.field) from exc
    except LabError as exc:
        raise DataError(str(exc), file=version.ref, row=number) from exc
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"cannot turn this row into chat messages ({exc})", file=version.ref, row=number) from exc


def prompt_messages(recipe: Recipe, row: dict) -> Messages:
    """The conversation up to the assistant's turn: what a model is prompted with when its answer is what
    is evaluated (a teacher trace in the row is the answer too, never part of the prompt)."""
    return [m for m in chat_messages(recipe, {k: v for k, v in row.items() if k != "trace"})
            if m["role"] != "assistant"]
