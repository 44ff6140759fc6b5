"""Recipe registry: finds the workflows. A workflow is one folder, backend/recipes/<name>/, whose package
defines RECIPE; adding a folder adds the workflow everywhere (pages, CLI choices, demo data, scoring)."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from backend.errors import LabError
from backend.recipes.base import Column, Recipe


def _discover() -> dict[str, Recipe]:
    found = []
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.ispkg:
            recipe = importlib.import_module(f"{__name__}.{module.name}").RECIPE
            if recipe.name != module.name:
                raise LabError(f"backend/recipes/{module.name}/ defines recipe {recipe.name!r}: name the folder after it")
            found.append(recipe)
    found.sort(key=lambda r: (r.seed is None, r.seed or "", r.name))  # the seeds' order, then the rest by name
    return {r.name: r for r in found}


RECIPES: dict[str, Recipe] = _discover()
DEFAULT_RECIPE = "generic"  # bring-your-own data: what a record that names no recipe is taken for


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise LabError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}") from None


__all__ = ["DEFAULT_RECIPE", "RECIPES", "Column", "Recipe", "get_recipe"]
