"""Curation: the SAIGE slider filter (checked against seed 001's own algorithm), column filters, dedup."""
import json
import random
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.data import store
from backend.data.dedup import dedup, normalise_text
from backend.data.filters import ColumnFilter, filter_rows, parse_where
from backend.data.filters import filter_with as filter_saige
from backend.recipes.saige.filter import SaigeFilter, apply_saige_filter, saige_distributions, saige_mask
from backend.errors import LabError
from backend.recipes.saige import ALIGNMENT_LEVELS, HARM_DIMENSIONS, PRINCIPLES, alignment_level, weighted_score

HARM_GRID = [round(0.05 * i, 2) for i in range(11)]  # 0 .. 0.5: many experiences share a harm value


# --- SAIGE databases as the seed reads them (schema from REFERENCE.md) -------------------------------------

def make_saige_db(path: Path, seed: int, experiences: int = 400) -> Path:
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE scenarios (id INTEGER PRIMARY KEY, context TEXT NOT NULL, person_state JSON NOT NULL,
            facts JSON, critical_info JSON, difficulty_level INTEGER DEFAULT 1, harm_type TEXT,
            expected_response TEXT, created_at TIMESTAMP);
        CREATE TABLE experiences (id INTEGER PRIMARY KEY, scenario_id INTEGER NOT NULL REFERENCES scenarios(id),
            ai_response TEXT NOT NULL, predicted_harm REAL, actual_harm REAL NOT NULL, harm_breakdown JSON NOT NULL,
            learned_lesson TEXT, buddhist_scores JSON, buddhist_alignment TEXT, model_version INTEGER,
            timestamp TIMESTAMP);
    """)
    for sid in range(1, 13):
        conn.execute("INSERT INTO scenarios (id, context, person_state, difficulty_level, harm_type) VALUES (?,?,?,?,?)",
                     (sid, f"scenario {sid}", json.dumps({"mood": "anxious"}),
                      None if sid == 12 else rng.randint(1, 5), "deception"))
    seconds = rng.sample(range(40_000_000), experiences)  # distinct, so (harm, timestamp) never ties fully
    null_timestamp_harms: set[float] = set()
    for eid in range(1, experiences + 1):
        harm = rng.choice(HARM_GRID) if rng.random() < 0.8 else round(rng.uniform(0, 0.6), 4)
        breakdown = {d: round(rng.random() * 0.5, 2) for d in HARM_DIMENSIONS if rng.random() > 0.1}
        quality = rng.uniform(3, 9.5)
        scores = {p: (rng.randint(3, 10) if rng.random() < 0.3 else round(min(10, max(0, quality + rng.gauss(0, 1))), 1))
                  for p in PRINCIPLES if rng.random() > 0.1}
        draw = rng.random()
        stored_scores = None if draw < 0.1 else "{}" if draw < 0.14 else json.dumps(scores)
        draw = rng.random()
        alignment = (None if draw < 0.1 else "unknown" if draw < 0.13 else rng.choice(ALIGNMENT_LEVELS) if draw < 0.3
                     else alignment_level(weighted_score(json.loads(stored_scores) if stored_scores else {})))
        stamp = np.datetime64("2024-01-01T00:00:00") + np.timedelta64(seconds[eid - 1], "s")
        timestamp = str(stamp).replace("T", " ") if rng.random() < 0.8 else str(stamp) + "Z"
        if harm not in null_timestamp_harms and rng.random() < 0.05:  # at most one per harm value
            null_timestamp_harms.add(harm)
            timestamp = None
        conn.execute(
            "INSERT INTO experiences (id, scenario_id, ai_response, actual_harm, harm_breakdown, buddhist_scores, "
            "buddhist_alignment, timestamp) VALUES (?,?,?,?,?,?,?,?)",
            (eid, rng.randint(1, 13), f"response {eid}", harm, json.dumps(breakdown), stored_scores, alignment,
             timestamp))  # scenario 13 does not exist: the join drops those experiences, as the seed's does
    conn.commit()
    conn.close()
    return path


def seed_kept_ids(db: Path, max_harm: float, min_buddhist: float, min_alignment: str) -> list[int]:
    """Seed 001's get_high_quality_experiences, reduced to the ids it returns."""
    alignment_order = {"excellent": 4, "good": 3, "moderate": 2, "low": 1}[min_alignment]
    query = ("SELECT e.id, e.buddhist_scores FROM experiences e JOIN scenarios s ON e.scenario_id = s.id "
             "WHERE e.actual_harm <= ? AND e.buddhist_alignment IS NOT NULL")
    params: list = [max_harm]
    levels = {4: ["excellent"], 3: ["excellent", "good"], 2: ["excellent", "good", "moderate"], 1: []}[alignment_order]
    if levels:
        query += f" AND e.buddhist_alignment IN ({','.join('?' for _ in levels)})"
        params.extend(levels)
    query += " ORDER BY e.actual_harm ASC, e.timestamp DESC"
    weights = {"ahimsa": 0.25, "sacca": 0.20, "karuna": 0.25, "panna": 0.20, "upekkha": 0.10}
    conn = sqlite3.connect(db)
    kept = []
    for eid, raw in conn.execute(query, params):
        scores = json.loads(raw) if raw else {}
        weighted = sum(scores.get(p, 0) * w for p, w in weights.items()) if scores else 0
        if weighted < min_buddhist:
            continue
        kept.append(eid)
    conn.close()
    return kept


def saige_frame(db: Path) -> pd.DataFrame:
    """The SAIGE-normalised rows of a database (recipe columns), one per joined experience, in id order."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    rows = conn.execute(
        "SELECT e.*, s.context, s.difficulty_level FROM experiences e JOIN scenarios s ON s.id = e.scenario_id "
        "ORDER BY e.id").fetchall()
    conn.close()
    records = []
    for r in rows:
        scores = json.loads(r["buddhist_scores"]) if r["buddhist_scores"] else {}
        breakdown = json.loads(r["harm_breakdown"])
        records.append({
            "id": str(r["id"]), "experience_id": r["id"], "scenario_id": r["scenario_id"], "context": r["context"],
            "difficulty_level": r["difficulty_level"], "ai_response": r["ai_response"],
            "actual_harm": r["actual_harm"],
            **{f"harm_{d}": breakdown.get(d) for d in HARM_DIMENSIONS},
            **{p: scores.get(p) for p in PRINCIPLES},
            "buddhist_scores": r["buddhist_scores"], "buddhist_weighted": weighted_score(scores),
            "buddhist_alignment": r["buddhist_alignment"], "timestamp": r["timestamp"],
        })
    frame = pd.DataFrame.from_records(records)
    for column in ("difficulty_level", "actual_harm", *PRINCIPLES, *(f"harm_{d}" for d in HARM_DIMENSIONS)):
        frame[column] = frame[column].astype("float64")
    for column in ("buddhist_alignment", "timestamp", "buddhist_scores"):
        frame[column] = frame[column].astype("str")
    return frame


def save(name: str, recipe: str, frame: pd.DataFrame, tables: dict[str, pd.DataFrame] | None = None):
    with store.VersionWriter(name, recipe, "import") as writer:
        writer.write(frame)
        for table, extra in (tables or {}).items():
            writer.write(extra, table)
        return writer.commit()


def python_order(frame: pd.DataFrame, keep) -> list[int]:
    """The seed's ORDER BY in plain Python: harm ascending, then timestamp text descending with NULLs last."""
    rows = [r for r, k in zip(frame.to_dict("records"), keep) if k]
    rows.sort(key=lambda r: (not pd.isna(r["timestamp"]), r["timestamp"] if not pd.isna(r["timestamp"]) else ""),
              reverse=True)
    rows.sort(key=lambda r: r["actual_harm"])
    return [r["experience_id"] for r in rows]


@pytest.fixture(scope="module")
def saige_dbs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saige")
    return [make_saige_db(folder / f"saige{seed}.db", seed) for seed in (1, 2, 3)]


def test_saige_filter_equals_seed_algorithm(saige_dbs):
    rng = random.Random(7)
    settings = [(0.25, 6.5, "good"), (0.3, 6.0, "good"), (0.25, 6.5, "low"), (0.25, 6.5, "moderate"),
                (0.5, 5.0, "excellent"), (0.2, 0.0, "low"), (1.0, 0.0, "moderate")]
    settings += [(rng.choice(HARM_GRID + [round(rng.random(), 3)]), round(rng.uniform(0, 9), 2),
                  rng.choice(ALIGNMENT_LEVELS)) for _ in range(8)]
    for db in saige_dbs:
        frame = saige_frame(db)
        for max_harm, min_buddhist, min_alignment in settings:
            expected = seed_kept_ids(db, max_harm, min_buddhist, min_alignment)
            f = SaigeFilter(max_harm=max_harm, min_buddhist=min_buddhist, min_alignment=min_alignment)
            got = apply_saige_filter(frame, f)["experience_id"].tolist()
            assert got == expected, (db.name, f)
        assert len(seed_kept_ids(db, 0.25, 6.5, "good")) > 10  # the defaults keep a real, ordered set


def test_filter_saige_stores_seed_rows_in_order(state, saige_dbs):
    db = saige_dbs[0]
    source = save("saige-db", "saige", saige_frame(db))
    version = filter_saige("saige-db", SaigeFilter(), "saige-kept")
    expected = seed_kept_ids(db, 0.25, 6.5, "good")
    assert store.load_frame(version)["experience_id"].tolist() == expected
    assert (version.recipe, version.operation, version.parent) == ("saige", "filter", source.ref)
    assert version.summary == {"kept": len(expected), "of": source.rows}
    assert version.params == {"max_harm": 0.25, "min_buddhist": 6.5, "min_alignment": "good", "principle_min": {},
                              "harm_max": {}, "difficulty_min": None, "difficulty_max": None}
    assert store.load_frame(version).columns.tolist() == store.load_frame(source).columns.tolist()


def test_principle_harm_and_difficulty_sliders(saige_dbs):
    frame = saige_frame(saige_dbs[1])
    cases = [
        SaigeFilter(max_harm=0.5, min_buddhist=0, min_alignment="low", principle_min={"karuna": 7}),
        SaigeFilter(max_harm=0.5, min_buddhist=4, min_alignment="moderate", harm_max={"deception": 0.1}),
        SaigeFilter(max_harm=0.4, min_buddhist=5, min_alignment="low", difficulty_min=2, difficulty_max=4),
        SaigeFilter(max_harm=0.6, min_buddhist=0, min_alignment="low", principle_min={"sacca": 6, "panna": 5},
                    harm_max={"omission": 0.3, "harshness": 0.4}, difficulty_max=3),
    ]
    for f in cases:
        levels = ALIGNMENT_LEVELS[ALIGNMENT_LEVELS.index(f.min_alignment):]
        keep = []
        for r in frame.to_dict("records"):
            ok = (r["actual_harm"] <= f.max_harm and r["buddhist_weighted"] >= f.min_buddhist
                  and not pd.isna(r["buddhist_alignment"])
                  and (f.min_alignment == "low" or r["buddhist_alignment"] in levels))
            ok &= all((0 if pd.isna(r[p]) else r[p]) >= m for p, m in f.principle_min.items())
            ok &= all(not pd.isna(r[f"harm_{d}"]) and r[f"harm_{d}"] <= m for d, m in f.harm_max.items())
            if f.difficulty_min is not None:
                ok &= not pd.isna(r["difficulty_level"]) and r["difficulty_level"] >= f.difficulty_min
            if f.difficulty_max is not None:
                ok &= not pd.isna(r["difficulty_level"]) and r["difficulty_level"] <= f.difficulty_max
            keep.append(ok)
        assert 0 < sum(keep) < len(frame), f
        assert saige_mask(frame, f).tolist() == keep
        assert apply_saige_filter(frame, f)["experience_id"].tolist() == python_order(frame, keep)
    narrowed = apply_saige_filter(frame, cases[0])
    assert (narrowed["karuna"] >= 7).all()


def test_rows_without_a_weighted_score_weigh_zero():
    frame = pd.DataFrame({"actual_harm": [0.1, 0.1], "buddhist_weighted": [np.nan, 7.0],
                          "buddhist_alignment": ["good", "good"], "timestamp": ["2025-01-01", "2025-01-02"]})
    assert saige_mask(frame, SaigeFilter(min_buddhist=0)).tolist() == [True, True]
    assert saige_mask(frame, SaigeFilter(min_buddhist=0.5)).tolist() == [False, True]


@pytest.mark.parametrize("kwargs, field", [
    ({"max_harm": 1.5}, "max_harm"), ({"max_harm": "high"}, "max_harm"), ({"min_buddhist": -1}, "min_buddhist"),
    ({"min_alignment": "great"}, "min_alignment"), ({"principle_min": {"metta": 5}}, "principle_min"),
    ({"principle_min": {"karuna": 11}}, "principle_min"), ({"harm_max": {"deception": 2}}, "harm_max"),
    ({"harm_max": {"lying": 0.1}}, "harm_max"), ({"difficulty_min": 0}, "difficulty_min"),
    ({"difficulty_max": 2.5}, "difficulty_max"), ({"difficulty_min": 4, "difficulty_max": 2}, "difficulty_min"),
])
def test_saige_filter_validation_names_the_field(kwargs, field):
    with pytest.raises(LabError, match=field):
        SaigeFilter(**kwargs)


def test_saige_filter_needs_its_columns(state):
    frame = pd.DataFrame({"actual_harm": [0.1], "timestamp": ["x"]})
    with pytest.raises(LabError, match="buddhist_weighted, buddhist_alignment"):
        saige_mask(frame, SaigeFilter())
    save("plain", "generic", pd.DataFrame({"id": ["a"], "prompt": ["hi"]}))
    with pytest.raises(LabError, match="needs column"):
        filter_saige("plain", SaigeFilter(), "never")
    assert [d["name"] for d in store.list_datasets()] == ["plain"]


def test_saige_distributions_use_fixed_bins(saige_dbs):
    frame = saige_frame(saige_dbs[2])
    before = saige_distributions(frame)
    after = saige_distributions(apply_saige_filter(frame, SaigeFilter(max_harm=0.25)))
    assert before["rows"] == len(frame)
    assert before["actual_harm"]["edges"] == after["actual_harm"]["edges"] == [round(0.05 * i, 6) for i in range(21)]
    assert sum(before["actual_harm"]["counts"]) + before["actual_harm"]["missing"] == len(frame)
    assert sum(after["actual_harm"]["counts"][6:]) == 0  # bin 5 is [0.25, 0.30): nothing above 0.25 is left
    assert min(i for i, c in enumerate(after["buddhist_weighted"]["counts"]) if c) >= 13  # 6.5 is bin 13
    assert before["principles"]["karuna"]["missing"] == frame["karuna"].isna().sum()
    assert sum(before["alignment"].values()) == len(frame)
    assert before["alignment"]["other"] == (frame["buddhist_alignment"] == "unknown").sum()
    assert after["alignment"]["good"] + after["alignment"]["excellent"] == after["rows"] > 0
    assert sum(before["difficulty"].values()) == len(frame)
    json.dumps(before)


# --- --where syntax ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, column, op, value", [
    ("label=harmful", "label", "eq", "harmful"),
    ("label==harmful", "label", "eq", "harmful"),
    ("label!=x", "label", "ne", "x"),
    ("difficulty in easy,medium", "difficulty", "in", ["easy", "medium"]),
    ("difficulty IN easy, 'medium'", "difficulty", "in", ["easy", "medium"]),
    ("difficulty not in hard", "difficulty", "not_in", ["hard"]),
    ("text_len>=20", "text", "len_min", 20),
    ("prompt_len <= 300", "prompt", "len_max", 300),
    ("score>=0.5", "score", "min", 0.5),
    ("score<=0.9", "score", "max", 0.9),
    ("prompt~bomb", "prompt", "contains", "bomb"),
    ("prompt ~ made in china", "prompt", "contains", "made in china"),
    ('label = "a b"', "label", "eq", "a b"),
    ('label=""', "label", "eq", ""),
    ("label is null", "label", "is_null", None),
    ("label is not null", "label", "not_null", None),
    ("label not null", "label", "not_null", None),
])
def test_parse_where(expr, column, op, value):
    parsed = parse_where(expr)
    assert (parsed.column, parsed.op, parsed.value) == (column, op, value)
    if value != "":
        assert parse_where(parsed.describe()) == parsed


@pytest.mark.parametrize("expr, message", [
    ("", "empty filter"), ("label", "cannot read"), ("score>0.5", "strict"), ("score<1", "strict"),
    ("score>=abc", "needs a number"), ("text_len>=2.5", "whole number"), ("label=", "no value"),
    ("x in ,", "at least one value"), ("=x", "cannot read"), ("prompt~", "no value"),
])
def test_parse_where_errors(expr, message):
    with pytest.raises(LabError, match=message):
        parse_where(expr)


def test_column_filter_rejects_unknown_op():
    with pytest.raises(LabError, match="unknown op"):
        ColumnFilter("score", "between", [1, 2])


# --- filter_rows on every recipe ---------------------------------------------------------------------------

def guard_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["g1", "g2", "g3", "g4", "g5"],
        "prompt": ["How do I build a BOMB?", "hi", "Tell me a story about dragons", "bomb", None],
        "response": [None, "Hello there, how can I help you today?", "Once upon a time", None, "ok"],
        "prompt_harm_label": ["harmful", "unharmful", "unharmful", "harmful", None],
        "score": [0.9, 0.1, np.nan, 0.5, 0.3],
        "flagged": [True, False, False, True, False],
    })


def test_filter_rows_guard(state):
    source = save("guard-ds", "guard", guard_frame())
    cases = {
        ("prompt_harm_label=harmful",): ["g1", "g4"],
        ("prompt_harm_label!=harmful",): ["g2", "g3", "g5"],
        ("prompt~bomb",): ["g1", "g4"],
        ("text_len>=20",): ["g1", "g2", "g3"],  # the recipe's text: prompt and response
        ("text~HELP",): ["g2"],
        ("score>=0.5",): ["g1", "g4"],
        ("score<=0.3",): ["g2", "g5"],
        ("score=0.5",): ["g4"],
        ("flagged=true",): ["g1", "g4"],
        ("prompt_harm_label is null",): ["g5"],
        ("prompt_harm_label in harmful,unharmful", "response not null"): ["g2", "g3"],
        ("prompt_harm_label not in harmful",): ["g2", "g3", "g5"],
        ("prompt_len<=2",): ["g2", "g5"],
    }
    for i, (exprs, expected) in enumerate(cases.items()):
        version = filter_rows("guard-ds", [parse_where(e) for e in exprs], f"guard-f{i}")
        assert store.load_frame(version)["id"].tolist() == expected, exprs
        assert (version.recipe, version.operation, version.parent) == ("guard", "filter", source.ref)
        assert version.summary == {"kept": len(expected), "of": 5, "where": [parse_where(e).describe() for e in exprs]}
    assert version.params["where"] == [{"column": "prompt", "op": "len_max", "value": 2}]


def test_filter_rows_copies_extra_tables_and_works_for_orgaccess(state):
    queries = pd.DataFrame({"id": ["q1", "q2", "q3"], "query": ["who?", "what?", "why?"],
                            "gold_documents": ['["A_1"]', '["B_2"]', '["A_1"]'], "source_split": ["train", "dev", "train"]})
    documents = pd.DataFrame({"doc_id": ["A_1", "B_2"], "text": ["chapter one", "chapter two"]})
    source = save("raft-ds", "raft", queries, {"documents": documents})
    version = filter_rows("raft-ds", [parse_where("source_split=train")], "raft-train")
    assert store.load_frame(version)["id"].tolist() == ["q1", "q3"]
    pd.testing.assert_frame_equal(store.load_frame(version, "documents"), documents)
    assert version.tables == {"rows": 2, "documents": 2}
    assert version.recipe == "raft" and version.parent == source.ref
    # raft's rows have no `text` column, so `text` is the recipe's text: the query
    assert store.load_frame(filter_rows("raft-ds", [parse_where("text~why")], "raft-why"))["id"].tolist() == ["q3"]

    org = pd.DataFrame({"id": ["o1", "o2", "o3", "o4"], "user_role": ["intern"] * 4, "permissions": ["{}"] * 4,
                        "query": ["a", "b", "c", "d"], "expected_response": ["full", "rejected", "partial", "full"],
                        "difficulty": ["easy", "medium", "hard", "medium"]})
    save("org-ds", "orgaccess", org)
    version = filter_rows("org-ds", [parse_where("difficulty in easy,medium"),
                                     parse_where("expected_response!=rejected")], "org-easy")
    assert store.load_frame(version)["id"].tolist() == ["o1", "o4"]
    assert version.recipe == "orgaccess"


def test_filter_rows_with_saige_sliders_keeps_seed_order(state, saige_dbs):
    frame = saige_frame(saige_dbs[0])
    save("saige-all", "saige", frame)
    sliders = SaigeFilter(max_harm=0.3, min_buddhist=5, min_alignment="moderate")
    version = filter_rows("saige-all", [parse_where("difficulty_level>=2")], "saige-some", sliders=sliders)
    keep = saige_mask(frame, sliders) & (frame["difficulty_level"] >= 2).to_numpy()
    assert 0 < keep.sum() < len(frame)
    assert store.load_frame(version)["experience_id"].tolist() == python_order(frame, keep)
    assert version.params["saige"]["min_alignment"] == "moderate"


def test_filter_rows_streams_many_batches(state):
    n = 120_000  # more than one 50,000-row batch; `maybe` has values only in the first batch
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "prompt": ["p"] * n, "bucket": np.arange(n) % 3,
                          "maybe": pd.array([1 if i < 50_000 else None for i in range(n)], dtype="Int64")})
    save("big", "generic", frame)
    version = filter_rows("big", [parse_where("bucket=0")], "big-0")
    kept = store.load_frame(version)
    assert kept["id"].tolist() == [f"r{i}" for i in range(0, n, 3)]
    assert kept["maybe"].notna().sum() == len(range(0, 50_000, 3))


def test_filter_rows_errors_store_nothing(state):
    save("guard-ds", "guard", guard_frame())
    with pytest.raises(LabError, match=r"no column 'lable'.*prompt_harm_label"):
        filter_rows("guard-ds", [parse_where("lable=harmful")], "out")
    with pytest.raises(LabError, match="does not hold numbers"):
        filter_rows("guard-ds", [parse_where("prompt>=3")], "out")
    with pytest.raises(LabError, match="holds numbers"):
        filter_rows("guard-ds", [parse_where("score=high")], "out")
    with pytest.raises(LabError, match="true/false"):
        filter_rows("guard-ds", [parse_where("flagged=maybe")], "out")
    with pytest.raises(LabError, match="no rows of guard-ds@1 pass prompt~zebra; nothing was stored"):
        filter_rows("guard-ds", [parse_where("prompt~zebra")], "out")
    with pytest.raises(LabError, match="no filter given"):
        filter_rows("guard-ds", [], "out")
    save("clash", "generic", pd.DataFrame({"id": ["a"]}))
    with pytest.raises(LabError, match="already exists with recipe"):
        filter_rows("guard-ds", [parse_where("prompt~bomb")], "clash")
    names = [d["name"] for d in store.list_datasets()]
    assert "out" not in names and store.resolve("clash").rows == 1
    assert not list((state / "datasets" / ".tmp").iterdir())


# --- dedup -------------------------------------------------------------------------------------------------

def test_normalise_text():
    assert normalise_text("  Ｈｅｌｌｏ,\t WORLD!!  ") == "hello, world"
    assert normalise_text("¿Qué   pasa?") == "qué pasa"
    assert normalise_text("Straße") == normalise_text("STRASSE")
    assert normalise_text("ﬁne…") == "fine"
    assert normalise_text("'quoted'") == "quoted"
    assert normalise_text("a - b") == "a - b"
    assert normalise_text(None) == "" and normalise_text(float("nan")) == ""


def test_dedup_counts_examples_and_versions(state):
    frame = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e", "f", "g", "h"],
        "prompt": ["Hello world", "hello   WORLD!", "Ｈｅｌｌｏ world.", "other", "a b", "a", "other", "x"],
        "response": ["r", "R", "r ", None, "c", "b c", "", "y"],
    })
    source = save("guard-dup", "guard", frame)
    version, report = dedup("guard-dup")
    # a/b/c share (hello world, r); d and g: a missing response and an empty one are both ""
    assert (report.total, report.kept, report.removed, report.groups) == (8, 5, 3, 2)
    assert report.examples == [
        {"kept_id": "a", "removed_ids": ["b", "c"], "removed_count": 2, "text": "hello world\nr"},
        {"kept_id": "d", "removed_ids": ["g"], "removed_count": 1, "text": "other\n"},
    ]
    assert store.load_frame(version)["id"].tolist() == ["a", "d", "e", "f", "h"]
    assert (version.dataset, version.version, version.operation, version.parent) == ("guard-dup", 2, "dedup", source.ref)
    assert version.summary == report.to_json() and version.params == {"columns": ["prompt", "response"]}

    prompt_only, report = dedup("guard-dup@1", out="guard-prompts", columns=["prompt"])
    assert store.load_frame(prompt_only)["id"].tolist() == ["a", "d", "e", "f", "h"]
    assert (report.removed, report.groups) == (3, 2)
    _, report = dedup("guard-dup@1", out="guard-responses", columns=["response"])
    assert (report.kept, report.groups) == (5, 2)  # r / R / "r " and None / ""


def test_dedup_keeps_other_tables_and_reports_errors(state):
    queries = pd.DataFrame({"id": ["q1", "q2", "q3"], "query": ["Who is Ann?", "who is ann", "Where?"],
                            "gold_documents": ["[]"] * 3})
    documents = pd.DataFrame({"doc_id": ["A_1"], "text": ["chapter"]})
    save("raft-dup", "raft", queries, {"documents": documents})
    version, report = dedup("raft-dup", out="raft-unique")
    assert store.load_frame(version)["id"].tolist() == ["q1", "q3"] and report.removed == 1
    pd.testing.assert_frame_equal(store.load_frame(version, "documents"), documents)
    with pytest.raises(LabError, match=r"no column\(s\) 'answer'.*gold_documents"):
        dedup("raft-dup", out="never", columns=["answer"])
    assert "never" not in [d["name"] for d in store.list_datasets()]


def test_imported_database_filters_to_the_seed_rows_through_its_stored_order(state, saige_dbs):
    from backend.data.importers import import_dataset

    for number, db in enumerate(saige_dbs):
        source = import_dataset("saige", f"imported{number}", [db], on_bad_label="keep")
        ranks = store.load_frame(source, columns=["seed_rank"])["seed_rank"].tolist()
        assert ranks == list(range(len(ranks)))  # stored in the seed's order
        for max_harm, min_buddhist, min_alignment in [(0.25, 6.5, "good"), (0.3, 6.0, "good"), (0.5, 3.0, "low")]:
            f = SaigeFilter(max_harm=max_harm, min_buddhist=min_buddhist, min_alignment=min_alignment)
            kept = filter_saige(source.ref, f, f"kept{number}")
            assert store.load_frame(kept)["experience_id"].tolist() == seed_kept_ids(db, max_harm, min_buddhist,
                                                                                   min_alignment)
