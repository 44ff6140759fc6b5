"""What a recipe says about curating its data: `Recipe.split_presets` and `Recipe.curate_filter`.

A split preset fixes a recipe's published split (which groups, how many rows of each go where); a
curate filter replaces the generic column filters on the Data page with the recipe's own sliders.
The code of both lives in the recipe's folder and is imported on first use, so loading the registry
stays light (no pandas, no numpy). backend.data.splits and backend.data.filters run them and the
Data page draws them; none of those know which recipe they serve.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class SplitPreset:
    """A named split that sets its own groups and sizes (`split_dataset(ref, preset=name)`).

    `module` has targets(frame, ref) -> (group code per row, {group code: rows per split}, split names):
    the rows of each group each split gets, in the order of the names."""

    name: str
    description: str  # what it does, for the CLI's help and the Data page's preset box
    group: str  # the column whose values it splits separately (stored in the version's params)
    stratify: str | None  # the default stratification column inside each group
    module: str

    def targets(self, frame: Any, ref: str) -> tuple[Any, dict[int, list[int]], list[str]]:
        return importlib.import_module(self.module).targets(frame, ref)


class RowFilter(Protocol):
    """The settings of a curate filter (a dataclass, stored in the version's params as `asdict`)."""

    title: str  # in messages: "the <title> filter"
    params_key: str  # where filter_rows stores the settings in a version's params

    def columns(self) -> list[str]: ...  # the columns it reads
    def mask(self, frame: Any) -> Any: ...  # one bool per row: does it pass
    def order(self, frame: Any, keep: Any) -> Any: ...  # positions of the kept rows, in the order to store them


@dataclass(frozen=True)
class Control:
    """One slider of a curate filter on the Data page. Numbers give a slider from `low` to `high`; `choices`
    give a slider over those words; a (low, high) `default` gives a range slider. `name` is the key
    `from_controls` reads its value under (and part of the widget's key)."""

    name: str
    label: str
    low: float | int = 0.0
    high: float | int = 1.0
    step: float | int | None = None
    default: Any = None  # None: the filter's own default for the setting of the same name
    choices: tuple[str, ...] = ()
    help: str | None = None


@dataclass(frozen=True)
class FilterFlag:
    """A `data filter` flag of a curate filter. Its value sets the filter's field `setting`: a number, one of
    `choices`, KEY=VALUE pairs (a dict of numbers) or an A-B range (`setting` then names the low and high fields)."""

    flag: str  # e.g. --max-harm
    setting: str | tuple[str, str]
    kind: str = "number"  # number | choice | pairs | range
    help: str = ""
    choices: tuple[str, ...] = ()
    metavar: str | None = None


@dataclass(frozen=True)
class CurateFilter:
    """A recipe's own curate filter. `module` defines FILTER (a `RowFilter` class whose fields are the
    settings; its defaults are the filter's) and from_controls(values) -> FILTER, values by `Control.name`."""

    module: str
    controls: tuple[tuple[Control, ...], ...]  # rows of sliders, side by side
    more_controls: tuple[tuple[Control, ...], ...] = ()  # rows inside an expander titled `more_title`
    more_title: str = "More"
    charts: tuple[tuple[str, str], ...] = ()  # (column, title): histograms before/after filtering
    flags: tuple[FilterFlag, ...] = ()  # the CLI's `data filter` flags for it

    @property
    def filter_class(self) -> type:
        return importlib.import_module(self.module).FILTER

    @property
    def title(self) -> str:
        return self.filter_class.title

    @property
    def params_key(self) -> str:
        return self.filter_class.params_key

    def make(self, **settings: Any) -> RowFilter:
        """The filter with these settings (the rest at their defaults)."""
        return self.filter_class(**settings)

    def from_controls(self, values: dict[str, Any]) -> RowFilter:
        """The filter the Data page's sliders describe (values by `Control.name`)."""
        return importlib.import_module(self.module).from_controls(values)

    def default(self, control: Control) -> Any:
        return control.default if control.default is not None else getattr(self.make(), control.name)
