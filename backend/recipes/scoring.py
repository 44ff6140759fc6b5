"""What a recipe says about scoring: `Recipe.scorer`.

The metrics are computed in the recipe folder's scoring.py; evaluation, the CLI and the Evaluate page ask
the `Scorer` here instead of the recipe's name: which number is the headline, whether a predictions file
made elsewhere can be scored and with which options (`PredictionOption`), and which parsed label the
confusion matrix's cells link back to. The module is imported on the first score, like the importer.

The module defines
- `score(rows, predictions) -> dict`: the metrics of an evaluation (rows: the version's plain rows,
  predictions: the model's texts in the same order); the headline metric is one of its keys;
- `score_predictions(rows, **options) -> dict`, when `predictions_file`: the metrics of a predictions file
  (rows with keys prompt / label / predict), the options being the `prediction_options` given;
- optionally `examples_to_review(predictions) -> list[dict]`: the stored predictions the Evaluate page lists
  when it has no confusion matrix to click (e.g. the shortest answers).
"""
from __future__ import annotations

import importlib
from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class PredictionOption:
    """A choice when scoring a predictions file: one of `choices` (None: the scorer's default), or a flag
    when there are no choices."""

    name: str  # score_predictions' keyword; the CLI flag is --<name with dashes>
    label: str  # the Evaluate page's box
    help: str  # the CLI's help (after the recipes that take it) and the page's
    choices: tuple[str, ...] = ()
    widget: str = ""  # the Evaluate page's widget key is evaluate_file_<widget or name>

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_flag(self) -> bool:
        return not self.choices


@dataclass(frozen=True)
class Scorer:
    """How a recipe's evaluations are scored; see the module docstring for what `module` defines."""

    module: str  # backend.recipes.<name>.scoring
    headline: str  # the metric the home page, comparisons and "best checkpoint" go by
    predictions_file: bool = False  # `eval predictions` and the Evaluate page can score a file made elsewhere
    prediction_options: tuple[PredictionOption, ...] = ()
    # The parsed label (a key of parse_output and gold_labels) whose values are the confusion matrix's rows and
    # columns, so a clicked cell shows its examples; None: the matrix, if any, is not linked to examples.
    confusion_label: str | None = None

    def _code(self):
        return importlib.import_module(self.module)

    def score(self, rows: list[dict], predictions: list[str]) -> dict:
        return self._code().score(rows, predictions)

    def score_predictions(self, rows: list[dict], **options) -> dict:
        return self._code().score_predictions(rows, **options)

    def examples_to_review(self, predictions: list[dict]) -> list[dict]:
        pick = getattr(self._code(), "examples_to_review", None)
        return pick(predictions) if pick else []

    def option(self, name: str) -> PredictionOption | None:
        return next((o for o in self.prediction_options if o.name == name), None)


def gold_word(label, parse, key: str, words: Collection[str]) -> str | None:
    """A predictions file's gold label: the bare class word (any case), else what the recipe's parser reads
    from the label text under `key`; None when the label is not text."""
    if isinstance(label, str) and label.strip().lower() in words:
        return label.strip().lower()
    return parse(label or "").get(key) if isinstance(label, str) else None
