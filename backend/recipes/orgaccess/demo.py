"""OrgAccess demo data: easy / medium / hard Parquet shards with the released files' columns and class mix.

Each query is built to have its label: hard constraints (session, deadline, automation, an action
not allowed) reject it, location and collaboration violations make it partial.
"""
from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from backend.recipes.demos import seeded_rng, timestamp
from backend.recipes.orgaccess import demo_text as text

ORGACCESS_LABEL_COUNTS = {  # difficulty -> (full, partial, rejected), the class mix of the released files
    "easy": (200, 200, 200),
    "medium": (0, 68, 82),
    "hard": (1, 87, 162),
}


def write(folder: Path, seed: int = 0) -> list[Path]:
    """The files of the demo dataset (`DemoSpec.write`)."""
    return write_orgaccess_source(folder, seed)


_SOFT = ("location", "collaboration")  # a violation here still allows a partial answer
_HARD = ("session", "deadline", "automation")
_CONSTRAINTS_PER_DIFFICULTY = {"easy": (1, 1), "medium": (2, 3), "hard": (4, 5)}
_ACTIONS_PER_DIFFICULTY = {"easy": (1, 1), "medium": (1, 2), "hard": (2, 3)}


def _plan_violations(rng: random.Random, label: str, mentioned: list[str]) -> tuple[set[str], bool]:
    """Which mentioned constraints are violated, and whether one requested action is not allowed."""
    soft = [c for c in mentioned if c in _SOFT]
    hard = [c for c in mentioned if c in _HARD]
    if label == "full":
        return set(), False
    if label == "partial":
        return set(rng.sample(soft, rng.randint(1, len(soft)))), False
    bad_action = not hard or rng.random() < 0.35
    keep_hard = not hard or (bad_action and rng.random() < 0.5)
    violated = set() if keep_hard else set(rng.sample(hard, rng.randint(1, len(hard))))
    violated |= {c for c in soft if rng.random() < 0.4}
    return violated, bad_action


def _orgaccess_permissions(rng: random.Random, department: str, access_level: str, n_actions: int,
                           restrict_automation: bool) -> dict:
    actions = text.ORG_DEPARTMENTS[department][0]
    return {
        "department": department, "access_level": access_level,
        "allowed_actions": rng.sample(actions, rng.randint(max(2, n_actions), 4)),
        "session_timeout": rng.choice([15, 30, 45, 60, 90, 120]),
        "deadline": (date(2025, 1, 1) + timedelta(days=rng.randint(30, 600))).isoformat(),
        "location_restriction": rng.sample(text.ORG_LOCATIONS[:8], rng.randint(1, 3)),
        "automation_restriction": restrict_automation,
        "collaboration_access": rng.sample([d for d in text.ORG_DEPARTMENTS if d != department], rng.randint(1, 3)),
    }


def _constraint_clause(rng: random.Random, constraint: str, bad: bool, permissions: dict) -> tuple[str, str]:
    """(sentence for the query, finding for the rationale) for one constraint the query touches."""
    if constraint == "location":
        allowed = permissions["location_restriction"]
        where = rng.choice([loc for loc in text.ORG_LOCATIONS if loc not in allowed]) if bad else rng.choice(allowed)
        finding = f"the {where} is {'outside' if bad else 'within'} the permitted locations ({', '.join(allowed)})"
        return rng.choice(text.ORG_LOCATION_SENTENCES).format(where=where), finding
    if constraint == "collaboration":
        partners = permissions["collaboration_access"]
        outsiders = [d for d in text.ORG_DEPARTMENTS if d not in partners and d != permissions["department"]]
        teams = [rng.choice(partners)] + ([rng.choice(outsiders)] if bad else [])
        names = " and ".join(teams)
        coverage = "only partly covered" if bad else "covered"
        sentence = f"Afterwards I'd like to share the results with the {names} team{'s' if bad else ''}."
        return sentence, f"sharing with {names} is {coverage} by collaboration access ({', '.join(partners)})"
    if constraint == "session":
        timeout = permissions["session_timeout"]
        minutes = timeout + rng.choice([15, 30, 60, 90]) if bad else rng.randrange(5, timeout + 1, 5)
        finding = f"{minutes} minutes {'exceeds' if bad else 'fits within'} the {timeout}-minute session timeout"
        return rng.choice(text.ORG_SESSION_SENTENCES).format(minutes=minutes), finding
    if constraint == "deadline":
        deadline = date.fromisoformat(permissions["deadline"])
        when = deadline + timedelta(days=rng.randint(1, 45)) if bad else deadline - timedelta(days=rng.randint(0, 60))
        finding = f"{when.isoformat()} is {'after' if bad else 'not after'} the {deadline.isoformat()} deadline"
        return rng.choice(text.ORG_DEADLINE_SENTENCES).format(when=when.isoformat()), finding
    finding = "automation is restricted for this role" if bad else "automation is permitted for this role"
    return "Can I also set up a script so this runs automatically every week?", finding


def _orgaccess_row(rng: random.Random, difficulty: str, label: str) -> dict:
    """A query built to have `label`: hard violations reject, location/collaboration ones make it partial."""
    department = rng.choice(list(text.ORG_DEPARTMENTS))
    actions, roles = text.ORG_DEPARTMENTS[department]
    role, access_level = rng.choice(roles)
    n_actions = rng.randint(*_ACTIONS_PER_DIFFICULTY[difficulty])
    mentioned = rng.sample(_SOFT + _HARD, rng.randint(*_CONSTRAINTS_PER_DIFFICULTY[difficulty]))
    if label == "partial" and not any(c in _SOFT for c in mentioned):
        mentioned[0] = rng.choice(_SOFT)
    violated, bad_action = _plan_violations(rng, label, mentioned)
    # automation only counts when the query asks for it; otherwise the flag is free
    restrict = "automation" in violated or ("automation" not in mentioned and rng.random() < 0.5)
    permissions = _orgaccess_permissions(rng, department, access_level, n_actions, restrict)
    allowed = permissions["allowed_actions"]
    requested = rng.sample(allowed, n_actions)
    if bad_action:
        requested[-1] = rng.choice([a for a in actions if a not in allowed])

    phrases = " and then ".join(text.ORG_ACTION_PHRASES[a] for a in requested)
    sentences = [f"I need to {phrases} for project {rng.choice(text.ORG_PROJECTS)}."]
    if difficulty == "hard":
        sentences.append(rng.choice(text.ORG_HARD_CONTEXT))
    checks = [f"'{a}' is among the allowed actions" for a in requested if a in allowed]
    soft_problems: list[str] = []
    hard_problems = [f"'{a}' is not among the allowed actions ({', '.join(allowed)})"
                     for a in requested if a not in allowed]
    for constraint in mentioned:
        bad = constraint in violated
        sentence, finding = _constraint_clause(rng, constraint, bad, permissions)
        sentences.append(sentence)
        (checks if not bad else soft_problems if constraint in _SOFT else hard_problems).append(finding)
    return {
        "user_role": role, "permissions": json.dumps(permissions), "query": " ".join(sentences),
        "expected_response": label, "rationale": _orgaccess_rationale(label, checks, soft_problems, hard_problems),
    }


def _orgaccess_rationale(label: str, checks: list[str], soft: list[str], hard: list[str]) -> str:
    satisfied = f"The request is consistent with the permissions: {'; '.join(checks)}." if checks else ""
    if label == "full":
        return f"{satisfied} All conditions are satisfied, so full access can be granted.".strip()
    if label == "partial":
        return (f"{satisfied} However, {'; '.join(soft)}. Location and collaboration violations only allow a partial "
                "response.").strip()
    also = f" In addition, {'; '.join(soft)}." if soft else ""
    return f"{satisfied} The request must be rejected because {'; '.join(hard)}.{also}".strip()


ORGACCESS_COLUMNS = ("user_role", "permissions", "query", "expected_response", "rationale", "id", "query_timestamp")
_ORGACCESS_SCHEMA = pa.schema([(name, pa.string()) for name in ORGACCESS_COLUMNS])


def orgaccess_rows(difficulty: str, seed: int = 0) -> list[dict]:
    rng = seeded_rng(seed, f"orgaccess:{difficulty}")
    counts = zip(("full", "partial", "rejected"), ORGACCESS_LABEL_COUNTS[difficulty])
    labels = [label for label, n in counts for _ in range(n)]
    rng.shuffle(labels)
    rows = []
    for i, label in enumerate(labels):
        row = _orgaccess_row(rng, difficulty, label)
        row["id"] = f"{difficulty}-{i:05d}"
        stamp = datetime(2025, 1, 1) + timedelta(seconds=rng.randrange(365 * 86_400))
        row["query_timestamp"] = timestamp(stamp) if rng.random() < 0.06 else None
        rows.append(row)
    return rows


def write_orgaccess_source(folder: Path, seed: int = 0) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for difficulty in ORGACCESS_LABEL_COUNTS:
        path = folder / f"{difficulty}-00000-of-00001.parquet"
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(pa.Table.from_pylist(orgaccess_rows(difficulty, seed), schema=_ORGACCESS_SCHEMA), tmp)
        tmp.replace(path)
        paths.append(path)
    return paths
