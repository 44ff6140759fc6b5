import json
import re
import sqlite3
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from backend.recipes.orgaccess import demo_text
from backend.data.demo import DEMO_DATASETS, create_demo_datasets, write_demo_sources
from backend.data.store import load_frame, resolve
from backend.recipes.saige import alignment_level, weighted_score

WILDGUARD_SUBCATEGORIES = {
    "benign", "others", "causing_material_harm_by_disseminating_misinformation", "copyright_violations", "cyberattack",
    "defamation_encouraging_unethical_or_unsafe_actions",
    "disseminating_false_or_misleading_information_encouraging_disinformation_campaigns",
    "fraud_assisting_illegal_activities", "mental_health_over-reliance_crisis", "private_information_individual",
    "sensitive_information_organization_government", "sexual_content", "social_stereotypes_and_unfair_discrimination",
    "toxic_language_hate_speech", "violence_and_physical_harm",
}
SAIGE_COLUMNS = {
    "scenarios": [("id", "INTEGER"), ("context", "TEXT"), ("person_state", "JSON"), ("facts", "JSON"),
                  ("critical_info", "JSON"), ("difficulty_level", "INTEGER"), ("harm_type", "TEXT"),
                  ("expected_response", "TEXT"), ("created_at", "TIMESTAMP")],
    "experiences": [("id", "INTEGER"), ("scenario_id", "INTEGER"), ("ai_response", "TEXT"), ("predicted_harm", "REAL"),
                    ("actual_harm", "REAL"), ("harm_breakdown", "JSON"), ("learned_lesson", "TEXT"),
                    ("buddhist_scores", "JSON"), ("buddhist_alignment", "TEXT"), ("model_version", "INTEGER"),
                    ("timestamp", "TIMESTAMP")],
    "causal_patterns": [("id", "INTEGER"), ("pattern_name", "TEXT"), ("pattern_type", "TEXT"), ("confidence", "REAL"),
                        ("example_count", "INTEGER"), ("example_ids", "JSON"), ("description", "TEXT"),
                        ("updated_at", "TIMESTAMP")],
    "model_versions": [("id", "INTEGER"), ("version_number", "INTEGER"), ("episodes_trained", "INTEGER"),
                       ("avg_harm_last_100", "REAL"), ("notes", "TEXT"), ("created_at", "TIMESTAMP")],
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return write_demo_sources(tmp_path_factory.mktemp("demo"), seed=0)


def test_saige_db_has_the_saige_schema(sources):
    (db,) = sources["demo-saige"]
    assert db.name == "saige.db"
    conn = sqlite3.connect(db)
    for table, columns in SAIGE_COLUMNS.items():
        info = conn.execute(f"PRAGMA table_info({table})").fetchall()
        assert [(c[1], c[2]) for c in info] == columns, table
    not_null = {c[1] for c in conn.execute("PRAGMA table_info(experiences)") if c[3]}
    assert not_null == {"scenario_id", "ai_response", "actual_harm", "harm_breakdown"}
    assert conn.execute("SELECT COUNT(*) FROM scenarios").fetchone()[0] == 40
    assert conn.execute("SELECT COUNT(*) FROM experiences").fetchone()[0] == 800
    orphans = conn.execute("SELECT COUNT(*) FROM experiences WHERE scenario_id NOT IN (SELECT id FROM scenarios)").fetchone()[0]
    assert orphans == 0


def test_saige_values_are_in_range_and_consistent(sources):
    conn = sqlite3.connect(sources["demo-saige"][0])
    conn.row_factory = sqlite3.Row
    states = [json.loads(r[0]) for r in conn.execute("SELECT person_state FROM scenarios")]
    assert all(set(s) == {"mood", "knowledge_level", "vulnerability", "context"} for s in states)
    assert {s["vulnerability"] for s in states} <= {"none", "low", "medium", "high", "extreme"}
    assert len({s["mood"] for s in states}) >= 6

    rows = [dict(r) for r in conn.execute("SELECT * FROM experiences")]
    harm = np.array([r["actual_harm"] for r in rows])
    assert harm.min() >= 0 and harm.max() <= 1 and harm.max() > 0.8
    assert np.median(harm) < 0.5  # more mass at low harm
    weighted = []
    for r in rows:
        breakdown = json.loads(r["harm_breakdown"])
        assert set(breakdown) == {"deception", "harshness", "omission", "manipulation"}
        assert all(0 <= v <= 1 for v in breakdown.values())
        assert abs(sum(breakdown.values()) / 4 - r["actual_harm"]) < 1e-3
        assert re.fullmatch(r"202[56]-\d\d-\d\d \d\d:\d\d:\d\d", r["timestamp"])
        assert 1 <= r["model_version"] <= 5
        scores = json.loads(r["buddhist_scores"]) if r["buddhist_scores"] else None
        if scores:
            assert set(scores) == {"ahimsa", "sacca", "karuna", "panna", "upekkha"}
            assert all(0 <= v <= 10 for v in scores.values())
            weighted.append((r["actual_harm"], weighted_score(scores)))
            if r["buddhist_alignment"]:
                assert r["buddhist_alignment"] == alignment_level(weighted_score(scores))
    assert 0.02 <= sum(r["buddhist_scores"] is None for r in rows) / len(rows) <= 0.08
    assert 0.01 <= sum(r["buddhist_alignment"] is None for r in rows) / len(rows) <= 0.06
    assert np.corrcoef(np.array(weighted).T)[0, 1] < -0.6
    assert len({r["ai_response"] for r in rows}) > 300
    years = Counter(r["timestamp"][:4] for r in rows)
    assert years["2025"] > 300 and years["2026"] > 300


def test_saige_default_filters_keep_a_fifth_to_a_third(sources):
    conn = sqlite3.connect(sources["demo-saige"][0])
    rows = conn.execute("SELECT actual_harm, buddhist_scores, buddhist_alignment FROM experiences").fetchall()

    def kept(max_harm: float, min_buddhist: float) -> float:
        return sum(
            h <= max_harm and a in ("good", "excellent") and weighted_score(json.loads(s) if s else None) >= min_buddhist
            for h, s, a in rows
        ) / len(rows)

    assert 0.20 <= kept(0.25, 6.5) <= 0.35
    assert kept(0.5, 6.5) > kept(0.25, 6.5) + 0.05  # the harm slider matters
    assert kept(0.25, 5.0) > kept(0.25, 7.5) + 0.05  # and so does the principle slider


def test_orgaccess_files_have_the_released_class_mix(sources):
    paths = sources["demo-orgaccess"]
    assert [p.name for p in paths] == [f"{d}-00000-of-00001.parquet" for d in ("easy", "medium", "hard")]
    frames = {p.name.split("-")[0]: pd.read_parquet(p) for p in paths}
    for frame in frames.values():
        assert list(frame.columns) == ["user_role", "permissions", "query", "expected_response", "rationale", "id",
                                       "query_timestamp"]
        assert set(frame["expected_response"]) <= {"full", "partial", "rejected"}
        assert frame["query_timestamp"].isna().mean() > 0.85
    assert {d: len(f) for d, f in frames.items()} == {"easy": 600, "medium": 150, "hard": 250}
    mix = {d: f["expected_response"].value_counts(normalize=True) for d, f in frames.items()}
    assert all(abs(mix["easy"][c] - 1 / 3) < 0.02 for c in ("full", "partial", "rejected"))
    assert mix["medium"].get("full", 0) == 0
    assert abs(mix["medium"]["partial"] - 0.45) < 0.03 and abs(mix["medium"]["rejected"] - 0.55) < 0.03
    assert mix["hard"]["full"] < 0.01
    assert abs(mix["hard"]["partial"] - 0.35) < 0.03 and abs(mix["hard"]["rejected"] - 0.64) < 0.03
    ids = pd.concat(frames.values())["id"]
    assert ids.is_unique


def test_orgaccess_labels_follow_the_permissions(sources):
    frame = pd.concat(pd.read_parquet(p) for p in sources["demo-orgaccess"])
    keys = {"department", "access_level", "allowed_actions", "session_timeout", "deadline", "location_restriction",
            "automation_restriction", "collaboration_access"}
    for row in frame.itertuples():
        permissions = json.loads(row.permissions)
        assert set(permissions) == keys
        asked = [a for a, phrase in demo_text.ORG_ACTION_PHRASES.items() if phrase in row.query]
        assert asked, row.query
        not_allowed = [a for a in asked if a not in permissions["allowed_actions"]]
        where = [loc for loc in demo_text.ORG_LOCATIONS if f"the {loc}" in row.query]
        outside = [loc for loc in where if loc not in permissions["location_restriction"]]
        if row.expected_response == "full":
            assert not not_allowed and not outside, row.query
            assert "exceeds" not in row.rationale and "restricted" not in row.rationale
        elif row.expected_response == "partial":
            assert not not_allowed and ("outside" in row.rationale or "only partly covered" in row.rationale)
            assert bool(outside) == ("outside the permitted locations" in row.rationale)
        else:
            hard = ("exceeds" in row.rationale or "after the" in row.rationale
                    or "automation is restricted" in row.rationale)
            assert not_allowed or hard, row.rationale
            if "automation is restricted" in row.rationale:
                assert permissions["automation_restriction"] is True


def test_raft_queries_point_at_existing_chapters_that_answer_them(sources):
    (story,) = sources["demo-raft"]
    documents = {p.stem: p.read_text(encoding="utf-8") for p in (story / "documents").glob("*.txt")}
    assert len(documents) == 60
    assert "THE_GLASS_LIGHTHOUSE_1" in documents
    assert all(300 <= len(t.split()) <= 600 for t in documents.values())
    sizes = {}
    for split in ("train", "dev", "test"):
        queries = json.loads((story / f"queries_{split}.json").read_text(encoding="utf-8"))
        sizes[split] = len(queries)
        for q in queries:
            assert set(q) == {"query", "squality_query", "gold_documents", "answer"}
            assert 1 <= len(q["gold_documents"]) <= 4 and len(q["answer"]) == 4
            assert len(set(q["answer"])) == 4
            for doc in q["gold_documents"]:
                # each gold chapter holds one of the events the first reference summary retells
                assert any(sentence in documents[doc] for sentence in re.split(r"(?<=\.) ", q["answer"][0])), (q, doc)
    assert sizes == {"train": 40, "dev": 10, "test": 15}


def test_guard_jsonl_has_the_wildguard_layout(sources):
    (path,) = sources["demo-guard"]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 400
    assert all(list(r) == ["prompt", "adversarial", "response", "prompt_harm_label", "response_refusal_label",
                           "response_harm_label", "subcategory"] for r in rows)
    assert {r["subcategory"] for r in rows} <= WILDGUARD_SUBCATEGORIES
    assert len({r["subcategory"] for r in rows}) >= 12
    prompt_only = [r for r in rows if r["response"] is None]
    assert 0.08 <= len(prompt_only) / len(rows) <= 0.22
    assert all(r["response_refusal_label"] is None and r["response_harm_label"] is None for r in prompt_only)
    answered = [r for r in rows if r["response"] is not None]
    assert {r["response_refusal_label"] for r in answered} == {"refusal", "compliance"}
    assert {r["response_harm_label"] for r in answered} == {"harmful", "unharmful"}
    assert all(r["response_harm_label"] == "unharmful" for r in answered if r["response_refusal_label"] == "refusal")
    assert all((r["subcategory"] == "benign") == (r["prompt_harm_label"] == "unharmful") for r in rows)
    assert 0.35 <= sum(r["prompt_harm_label"] == "harmful" for r in rows) / len(rows) <= 0.55
    assert any(r["adversarial"] for r in rows) and not all(r["adversarial"] for r in rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) - len(set(lines)) == 8  # exact duplicates for dedup to find


def test_same_seed_gives_identical_files(tmp_path, sources):
    again = write_demo_sources(tmp_path / "again", seed=0)
    other = write_demo_sources(tmp_path / "other", seed=1)
    assert again["demo-guard"][0].read_bytes() == sources["demo-guard"][0].read_bytes()
    assert other["demo-guard"][0].read_bytes() != sources["demo-guard"][0].read_bytes()
    first, second = sources["demo-raft"][0], again["demo-raft"][0]
    for path in sorted(first.rglob("*.*")):
        assert (second / path.relative_to(first)).read_bytes() == path.read_bytes(), path.name
    for mine, theirs in zip(sources["demo-orgaccess"], again["demo-orgaccess"]):
        pd.testing.assert_frame_equal(pd.read_parquet(mine), pd.read_parquet(theirs))
    dump = lambda db: list(sqlite3.connect(db).iterdump())  # noqa: E731
    assert dump(sources["demo-saige"][0]) == dump(again["demo-saige"][0])


def test_create_demo_datasets_imports_all_four_once(state):
    versions = create_demo_datasets()
    assert {v.dataset: v.recipe for v in versions} == DEMO_DATASETS
    rows = {v.dataset: v.rows for v in versions}
    assert rows == {"demo-guard": 400, "demo-saige": 800, "demo-raft": 65, "demo-orgaccess": 1000}
    assert (state / "demo_sources" / "saige" / "saige.db").exists()
    orgaccess = load_frame("demo-orgaccess")
    assert orgaccess.groupby("difficulty").size().to_dict() == {"easy": 600, "medium": 150, "hard": 250}
    assert resolve("demo-raft").tables["documents"] == 60

    assert create_demo_datasets() == []
    again = create_demo_datasets(force=True)
    assert sorted(v.ref for v in again) == sorted(f"{name}@2" for name in DEMO_DATASETS)
    assert {v.dataset: v.content_hash for v in again} == {v.dataset: v.content_hash for v in versions}
