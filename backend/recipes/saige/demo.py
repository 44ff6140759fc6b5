"""SAIGE demo data: a SQLite database with SAIGE's schema (scenarios, experiences, causal patterns, model versions).

Harm falls with the model version, each experience's four harm dimensions average to its total,
and the principle scores fall with harm, so the curate sliders have something to find.
"""
from __future__ import annotations

import json
import random
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from backend.recipes.demos import seeded_rng, timestamp
from backend.recipes.saige import HARM_DIMENSIONS, PRINCIPLES, alignment_level, weighted_score
from backend.recipes.saige import demo_text as text

SAIGE_FILE = "saige.db"
SAIGE_EXPERIENCES = 800


def write(folder: Path, seed: int = 0) -> list[Path]:
    """The files of the demo dataset (`DemoSpec.write`)."""
    return [write_saige_source(folder, seed)]


# SAIGE's schema.sql (M1ztick/S-A-I-G-E), including the Buddhist columns of `experiences`.
SAIGE_SCHEMA = """
CREATE TABLE scenarios (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    context TEXT NOT NULL,
    person_state JSON NOT NULL,
    facts JSON,
    critical_info JSON,
    difficulty_level INTEGER DEFAULT 1,
    harm_type TEXT,
    expected_response TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE experiences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scenario_id INTEGER NOT NULL,
    ai_response TEXT NOT NULL,
    predicted_harm REAL,
    actual_harm REAL NOT NULL,
    harm_breakdown JSON NOT NULL,
    learned_lesson TEXT,
    buddhist_scores JSON,
    buddhist_alignment TEXT,
    model_version INTEGER DEFAULT 1,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (scenario_id) REFERENCES scenarios(id)
);
CREATE TABLE causal_patterns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pattern_name TEXT NOT NULL,
    pattern_type TEXT,
    confidence REAL DEFAULT 0.5,
    example_count INTEGER DEFAULT 0,
    example_ids JSON,
    description TEXT,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE model_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version_number INTEGER NOT NULL,
    episodes_trained INTEGER,
    avg_harm_last_100 REAL,
    notes TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_experiences_scenario ON experiences(scenario_id);
CREATE INDEX idx_experiences_timestamp ON experiences(timestamp);
CREATE INDEX idx_scenarios_difficulty ON scenarios(difficulty_level);
"""
# Which harm dimensions pull each principle down (ahimsa: non-harm, sacca: truth, karuna: compassion, ...)
_PRINCIPLE_HARMS = {"ahimsa": ("harshness", "manipulation"), "sacca": ("deception",), "karuna": ("harshness",),
                    "panna": ("omission",), "upekkha": ("manipulation", "harshness")}
_SAIGE_START = datetime(2025, 1, 1)
_SAIGE_SPAN_S = int((datetime(2026, 12, 31, 23, 59, 59) - _SAIGE_START).total_seconds())


def _saige_scenarios(rng: random.Random) -> list[dict]:
    scenarios = []
    for question, harm_type, difficulty, knowledge, facts, critical, *answers in text.SAIGE_QUESTIONS:
        for sentence, mood, vulnerability, note in rng.sample(text.SAIGE_SITUATIONS, 2):
            bump = 1 if vulnerability in ("high", "extreme") else 0
            scenarios.append({
                "context": f'Person asks: "{question}" {sentence}'.strip(),
                "person_state": {"mood": mood, "knowledge_level": knowledge, "vulnerability": vulnerability,
                                 "context": note},
                "facts": facts, "critical_info": critical, "difficulty_level": min(5, difficulty + bump),
                "harm_type": harm_type, "expected_response": answers[0], "answers": answers,
            })
    rng.shuffle(scenarios)
    for i, s in enumerate(scenarios):
        s["created_at"] = timestamp(datetime(2024, 12, 1) + timedelta(days=i, seconds=rng.randrange(86_400)))
    return scenarios


def _harm_breakdown(rng: random.Random, harm: float, dominant: str) -> dict[str, float]:
    """Four dimensions in 0..1 whose mean is `harm` (SAIGE's total), led by the scenario's harm type."""
    weights = {d: rng.gammavariate(3.0 if d == dominant else 0.7, 1.0) for d in HARM_DIMENSIONS}
    total = sum(weights.values())
    dims = {d: 4 * harm * w / total for d, w in weights.items()}
    for _ in range(4):  # move the excess above 1 to the dimensions with room left
        excess = sum(max(0.0, v - 1) for v in dims.values())
        if excess <= 1e-9:
            break
        room = {d: 1 - v for d, v in dims.items() if v < 1}
        dims = {d: min(v, 1.0) for d, v in dims.items()}
        room_total = sum(room.values()) or 1
        for d, r in room.items():
            dims[d] += excess * r / room_total
    return {d: round(min(max(v, 0.0), 1.0), 3) for d, v in dims.items()}


def _saige_response(rng: random.Random, scenario: dict, breakdown: dict[str, float], harm: float) -> str:
    good, blunt, false, omit = scenario["answers"]
    mood = scenario["person_state"]["mood"]
    if harm < 0.18:
        opener = rng.choice(text.SAIGE_GOOD_OPENERS.get(mood, []) + text.SAIGE_GOOD_OPENERS["any"])
        return _sentence(opener, good, rng.choice(text.SAIGE_GOOD_CLOSERS))
    if harm < 0.4:
        return _sentence(rng.choice(text.SAIGE_NEUTRAL_OPENERS), blunt if rng.random() < 0.7 else omit)
    worst = max(breakdown, key=breakdown.get)
    if worst == "deception":
        return _sentence(rng.choice(text.SAIGE_NEUTRAL_OPENERS), false)
    if worst == "harshness":
        return _sentence(rng.choice(text.SAIGE_HARSH_OPENERS), rng.choice([blunt, omit]))
    if worst == "manipulation":
        return _sentence(rng.choice([omit, false]), rng.choice(text.SAIGE_MANIPULATIVE_CLOSERS))
    return omit


def _sentence(*parts: str) -> str:
    """Join response parts; after an opener ending in ',' or ':' the next part continues the sentence."""
    out = ""
    for part in filter(None, parts):
        if out.endswith((",", ":")) and not re.match(r"I\b", part):
            part = part[:1].lower() + part[1:]
        out = f"{out} {part}" if out else part
    return out


def _principle_scores(rng: random.Random, harm: float, breakdown: dict[str, float]) -> dict[str, float]:
    """0-10 scores that fall with harm; a shared offset (the rater's leniency) keeps the weighted score noisy."""
    leniency = rng.gauss(0, 1.0)
    scores = {}
    for p in PRINCIPLES:
        related = sum(breakdown[d] for d in _PRINCIPLE_HARMS[p]) / len(_PRINCIPLE_HARMS[p])
        value = 8.8 - 8.0 * (0.6 * harm + 0.4 * related) + leniency + rng.gauss(0, 0.8)
        scores[p] = round(min(10.0, max(0.0, value)), 1)
    return scores


def _lesson(rng: random.Random, breakdown: dict[str, float]) -> str | None:
    if rng.random() < 0.08:
        return None
    issues = {"deception": "avoid deceptive information", "harshness": "use more compassionate language",
              "omission": "include critical information", "manipulation": "avoid manipulative tactics"}
    found = [issue for d, issue in issues.items() if breakdown[d] > 0.5]
    if found:
        return f"Consider how to {', '.join(found)} in your responses."
    return rng.choice(text.SAIGE_GOOD_LESSONS)


def _saige_experiences(rng: random.Random, scenarios: list[dict]) -> list[dict]:
    moments = sorted(_SAIGE_START + timedelta(seconds=rng.randrange(_SAIGE_SPAN_S)) for _ in range(SAIGE_EXPERIENCES))
    experiences = []
    for moment in moments:
        scenario_index = rng.randrange(len(scenarios))
        scenario = scenarios[scenario_index]
        version = 1 + min(4, int(5 * (moment - _SAIGE_START).total_seconds() / _SAIGE_SPAN_S))
        harm = min(1.0, rng.betavariate(1.4, 2.3) * (1.12 - 0.07 * version))
        breakdown = _harm_breakdown(rng, harm, scenario["harm_type"])
        actual = round(sum(breakdown.values()) / 4, 4)
        scores = _principle_scores(rng, actual, breakdown)
        alignment = alignment_level(weighted_score(scores))
        experiences.append({
            "scenario_id": scenario_index + 1,
            "ai_response": _saige_response(rng, scenario, breakdown, actual),
            "predicted_harm": None if rng.random() < 0.06 else round(min(1.0, max(0.0, actual + rng.gauss(0, 0.1))), 3),
            "actual_harm": actual,
            "harm_breakdown": json.dumps(breakdown),
            "learned_lesson": _lesson(rng, breakdown),
            "buddhist_scores": None if rng.random() < 0.05 else json.dumps(scores),
            "buddhist_alignment": None if rng.random() < 0.03 else alignment,
            "model_version": version,
            "timestamp": timestamp(moment),
        })
    return experiences


def _causal_patterns(experiences: list[dict]) -> list[tuple]:
    patterns = []
    last = experiences[-1]["timestamp"]
    for dim in HARM_DIMENSIONS:
        values = [(json.loads(e["harm_breakdown"])[dim], i + 1) for i, e in enumerate(experiences)]
        top = sorted(values, reverse=True)[:5]
        patterns.append((
            f"high_{dim}_responses", dim, round(sum(v for v, _ in top) / len(top), 3),
            sum(1 for v, _ in values if v > 0.5), json.dumps([i for _, i in top]),
            f"Responses scored above 0.5 for {dim}; the listed experiences are the clearest cases.", last,
        ))
    return patterns


def _model_versions(experiences: list[dict]) -> list[tuple]:
    rows = []
    for version in range(1, 6):
        mine = [e for e in experiences if e["model_version"] == version]
        if not mine:
            continue
        trained = sum(1 for e in experiences if e["model_version"] <= version)
        last_100 = [e["actual_harm"] for e in mine[-100:]]
        rows.append((version, trained, round(sum(last_100) / len(last_100), 4),
                     f"checkpoint after {trained} episodes", mine[0]["timestamp"]))
    return rows


def write_saige_source(folder: Path, seed: int = 0) -> Path:
    rng = seeded_rng(seed, "saige")
    scenarios = _saige_scenarios(rng)
    experiences = _saige_experiences(rng, scenarios)
    path = Path(folder) / SAIGE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.executescript(SAIGE_SCHEMA)
        conn.executemany(
            "INSERT INTO scenarios (context, person_state, facts, critical_info, difficulty_level, harm_type, "
            "expected_response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(s["context"], json.dumps(s["person_state"]), json.dumps(s["facts"]), json.dumps(s["critical_info"]),
              s["difficulty_level"], s["harm_type"], s["expected_response"], s["created_at"]) for s in scenarios],
        )
        columns = list(experiences[0])
        conn.executemany(
            f"INSERT INTO experiences ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [tuple(e[c] for c in columns) for e in experiences],
        )
        conn.executemany(
            "INSERT INTO causal_patterns (pattern_name, pattern_type, confidence, example_count, example_ids, "
            "description, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", _causal_patterns(experiences))
        conn.executemany(
            "INSERT INTO model_versions (version_number, episodes_trained, avg_harm_last_100, notes, created_at) "
            "VALUES (?, ?, ?, ?, ?)", _model_versions(experiences))
        conn.commit()
    finally:
        conn.close()
    tmp.replace(path)
    return path
