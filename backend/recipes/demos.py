"""What a recipe says about its demo data: `Recipe.demo`, and the helpers its writer shares.

A recipe's demo writer (backend/recipes/<name>/demo.py, `write(folder, seed) -> paths`) generates
source files in the layout real users bring, so the demo goes through the recipe's own importer;
backend.data.demo writes them and imports them. The writer is imported only when demo data is made,
so loading the registry stays light.
"""
from __future__ import annotations

import importlib
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class DemoSpec:
    """A recipe's demo dataset: its name and the module that writes its source files."""

    dataset: str  # the dataset it is imported as ("demo-<recipe>")
    module: str  # has write(folder, seed) -> list[Path]: the files to import

    def write(self, folder: Path, seed: int = 0) -> list[Path]:
        """Write the source files under `folder`; the paths to import (deterministic for a seed)."""
        return importlib.import_module(self.module).write(Path(folder), seed)


def seeded_rng(seed: int, part: str) -> random.Random:
    """One generator per part of the demo, so that each recipe's files do not depend on the others'."""
    return random.Random(f"{seed}:{part}")


def write_text(path: Path, content: str) -> Path:
    """Write via a temporary name so an interrupted run never leaves a truncated source file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
    return path


def timestamp(moment: datetime) -> str:
    """SQL-style time, as the source projects store it."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")
