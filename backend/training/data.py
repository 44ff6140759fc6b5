"""A dataset version as the trainer sees it: chat messages per row, split into train and eval.

With a `split` column, the spec's train split is trained on and its eval split (when present) gives
the eval loss; without one, every row trains and there is no eval. Row numbers in errors are 1-based
positions in the version, before any split is taken. Rows and messages come from the examples stage
(backend/data/examples.py), the same as an SFT export's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from backend.data import examples
from backend.data.store import DatasetVersion, resolve
from backend.errors import DataError, LabError
from backend.recipes import Recipe, get_recipe
from backend.recipes.base import Messages
from backend.training.spec import TrainSpec

if TYPE_CHECKING:
    from datasets import Dataset


@dataclass
class TrainingData:
    version: DatasetVersion
    train_messages: list[Messages]
    eval_messages: list[Messages]

    @property
    def train_rows(self) -> int:
        return len(self.train_messages)

    @property
    def eval_rows(self) -> int:
        return len(self.eval_messages)

    def texts(self) -> list[str]:
        """Every message's text, train rows then eval rows (what a tiny model's tokenizer learns from)."""
        return [m["content"] for chat in self.train_messages + self.eval_messages for m in chat]

    def train_dataset(self) -> Dataset:
        return _to_dataset(self.train_messages)

    def eval_dataset(self) -> Dataset | None:
        return _to_dataset(self.eval_messages) if self.eval_messages else None


def _to_dataset(chats: list[Messages]) -> Dataset:
    from datasets import Dataset

    return Dataset.from_dict({"messages": chats})


def row_messages(version: DatasetVersion, recipe: Recipe, number: int, row: dict) -> Messages:
    """The row's chat (see examples.row_messages), with something to learn from: an assistant answer."""
    messages = examples.row_messages(version, recipe, number, row)
    if not messages:
        raise DataError("the row gives no chat messages to train on", file=version.ref, row=number)
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise DataError("the row has no assistant answer to learn from (empty target)", file=version.ref, row=number)
    return messages


def _splits(version: DatasetVersion, spec: TrainSpec) -> tuple[str | None, str | None]:
    """The splits to train and to eval on: the spec's on a split version (the eval split only when present),
    none on an unsplit one (every row trains, nothing is held out)."""
    if examples.SPLIT_COLUMN not in version.columns:
        return None, None
    present = examples.splits_present(version)
    return spec.train_split, (spec.eval_split if spec.eval_split in present else None)


def load_training_data(spec: TrainSpec) -> TrainingData:
    if not spec.dataset:
        raise LabError("training spec: give a dataset (NAME or NAME@VERSION)")
    version = resolve(spec.dataset)
    recipe = get_recipe(version.recipe)
    train_split, eval_split = _splits(version, spec)
    wanted = [s for s in (train_split, eval_split) if s is not None]
    frame = examples.load_rows(version, wanted or None, purpose="to train on", fix="set train_split to one of them")
    train = frame[frame[examples.SPLIT_COLUMN] == train_split] if train_split is not None else frame
    evaluate = frame[frame[examples.SPLIT_COLUMN] == eval_split] if eval_split is not None else frame.iloc[0:0]
    if train.empty:
        raise LabError(f"dataset {version.ref} has no rows to train on")
    chats = [[row_messages(version, recipe, number, row) for number, row in examples.plain_rows(part, recipe)]
             for part in (train, evaluate)]
    return TrainingData(version=version, train_messages=chats[0], eval_messages=chats[1])
