"""What the Home page shows first, in one cheap call: a few SQL counts over the lab's tables.

No version's summary, no job folder and no job process is read, so the first screen costs the same
with ten versions or ten thousand (the lineage table, which does read them, is drawn after it).
"""
from __future__ import annotations

from backend.jobs.status import ACTIVE, JobStatus, sql_in
from backend.storage.db import connect


def overview() -> dict:
    """Datasets (one row each: versions, the latest version's rows and operation), datasets per recipe,
    versions per operation, how many versions carry a split column, succeeded training runs, evaluations,
    jobs waiting or running, and which demo datasets are missing."""
    from backend.data.demo import DEMO_DATASETS

    with connect() as db:
        datasets = list(db.query(
            """SELECT d.name AS dataset, d.recipe AS recipe, d.owner AS owner,
                      COUNT(v.version) AS versions, MAX(v.version) AS latest,
                      (SELECT rows FROM dataset_versions WHERE dataset = d.name ORDER BY version DESC LIMIT 1) AS rows,
                      (SELECT operation FROM dataset_versions WHERE dataset = d.name ORDER BY version DESC LIMIT 1)
                          AS latest_operation,
                      MAX(v.created_at) AS updated
               FROM datasets d LEFT JOIN dataset_versions v ON v.dataset = d.name
               GROUP BY d.name ORDER BY d.name"""))
        operations = {r["operation"]: r["n"] for r in db.query(
            "SELECT operation, COUNT(*) AS n FROM dataset_versions GROUP BY operation")}
        split_versions = db.execute(
            """SELECT COUNT(*) FROM dataset_versions WHERE columns LIKE '%"split"%'""").fetchone()[0]
        jobs = {r["status"]: r["n"] for r in db.query(
            "SELECT status, COUNT(*) AS n FROM jobs WHERE kind = 'train' GROUP BY status")}
        active = db.execute(f"SELECT COUNT(*) FROM jobs WHERE {sql_in(ACTIVE)}").fetchone()[0]
        evaluations = db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    names = {d["dataset"] for d in datasets if d["versions"]}
    by_recipe: dict[str, int] = {}
    for d in datasets:
        by_recipe[d["recipe"]] = by_recipe.get(d["recipe"], 0) + 1
    return {
        "datasets": datasets,
        "by_recipe": by_recipe,
        "operations": operations,
        "split_versions": split_versions,
        "succeeded_runs": jobs.get(JobStatus.SUCCEEDED, 0),
        "train_jobs": sum(jobs.values()),
        "active_jobs": active,
        "evaluations": evaluations,
        "demo_loaded": [n for n in DEMO_DATASETS if n in names],
        "demo_missing": [n for n in DEMO_DATASETS if n not in names],
    }
