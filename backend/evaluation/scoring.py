"""An evaluation's metrics: the recipe scores its rows against the predictions (`Recipe.scorer`, in the recipe's
folder); this adds the headline metric and the parsed labels every evaluation stores."""
from __future__ import annotations

from backend.errors import LabError
from backend.recipes.base import Recipe


def score(recipe_name: str, recipe: Recipe, rows: list[dict], predictions: list[str]) -> dict:
    """Metrics for one evaluation; `headline` names the number the home page and comparisons show."""
    if recipe.scorer is None:
        raise LabError(f"recipe {recipe_name!r} has no scoring: add backend/recipes/{recipe_name}/scoring.py "
                       "and its Recipe(scorer=...)")
    parsed = [recipe.parse_output(p) for p in predictions]
    metrics = recipe.scorer.score(rows, predictions)
    headline = recipe.scorer.headline
    return {"headline": headline, "headline_value": metrics.get(headline), "metrics": metrics, "parsed": parsed}
