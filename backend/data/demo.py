"""Demo data for every recipe that has some (`Recipe.demo`), generated locally as real source files, then imported.

Each recipe's writer (backend/recipes/<name>/demo.py) produces the layout real users bring, so the
demo goes through the same importers. The text is template-built but varied, and the labels follow
the same rules as the real data, so filters, splits, dedup and leakage checks have something to find.
Everything is deterministic for a seed.
"""
from __future__ import annotations

from pathlib import Path

from backend.config import state_path
from backend.data.importers import import_dataset
from backend.data.store import DatasetVersion, resolve
from backend.errors import NotFound
from backend.recipes import RECIPES

DEMO_DATASETS = {r.demo.dataset: r.name for r in RECIPES.values() if r.demo}  # dataset -> recipe, registry order


def write_demo_sources(folder: Path, seed: int = 0) -> dict[str, list[Path]]:
    """Write the source files of every demo dataset under `folder` (one folder per recipe); dataset name -> paths
    to import."""
    folder = Path(folder)
    return {r.demo.dataset: r.demo.write(folder / r.name, seed) for r in RECIPES.values() if r.demo}


def create_demo_datasets(force: bool = False, seed: int = 0) -> list[DatasetVersion]:
    """Import each demo dataset that does not exist yet (all of them again when `force`); the versions created."""
    wanted = [name for name in DEMO_DATASETS if force or not _exists(name)]
    if not wanted:
        return []
    sources = write_demo_sources(state_path("demo_sources"), seed)
    return [
        import_dataset(DEMO_DATASETS[name], name, sources[name],
                       description=f"demo data (seed {seed}), generated locally")
        for name in wanted
    ]


def _exists(name: str) -> bool:
    try:
        resolve(name)
    except NotFound:
        return False
    return True
