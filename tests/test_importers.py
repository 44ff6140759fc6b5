import json
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from backend.data import store
from backend.data.importers import SUPPORTED, import_dataset
from backend.formats import files, records as readers
from backend.errors import LabError
from backend.recipes import RECIPES
from fixtures_data import (GUARDREASONER_ROWS, POLICY_SAMPLES, TRAINING_DATA, WILDGUARD_ROWS, large_jsonl,
                           msrs_corpus, orgaccess_release, saige_db, write_csv, write_json, write_jsonl,
                           write_parquet)

ROOT = Path(__file__).resolve().parents[1]


def by_id(ref: str) -> dict[str, dict]:
    frame = store.load_frame(ref)
    return {row["id"]: row for row in frame.to_dict("records")}


def test_supported_lists_every_recipe():
    assert set(SUPPORTED) == set(RECIPES)
    assert all(isinstance(text, str) and len(text) > 40 for text in SUPPORTED.values())


# ---- generic ----

def test_generic_jsonl_with_mapping_keeps_extra_columns(state, tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "What is 2+2?", "answer": "4", "y": "math", "meta": {"src": "web"}, "n": 3},
        {"question": "Capital of France?", "answer": "Paris", "y": "geo", "uid": "custom-7", "flag": True},
    ])
    version = import_dataset("generic", "qa", [path], mapping={"prompt": "question", "response": "answer",
                                                               "label": "y", "id": "uid"})
    assert version.ref == "qa@1" and version.rows == 2 and version.recipe == "generic"
    assert version.columns[:5] == ["id", "prompt", "response", "label", "system"]
    assert set(version.columns[5:]) == {"meta", "n", "flag"}
    rows = by_id("qa")
    assert rows["qa-1"]["prompt"] == "What is 2+2?" and rows["qa-1"]["label"] == "math"
    assert rows["qa-1"]["meta"] == '{"src":"web"}' and rows["qa-1"]["n"] == "3"
    assert rows["custom-7"]["response"] == "Paris" and rows["custom-7"]["flag"] == "true"
    assert version.params["mapping"] == {"prompt": "question", "response": "answer", "label": "y", "id": "uid"}
    [source] = version.params["files"]
    assert source["name"] == "qa.jsonl" and source["sha256"] == files.sha256_file(path)
    assert version.summary["files"] == {"qa.jsonl": 2} and version.summary["dropped"] == 0


def test_generic_reads_csv_tsv_parquet_and_json_list(state, tmp_path):
    csv_path = write_csv(tmp_path / "a.csv", ["prompt", "response", "note"],
                         [["multi\nline prompt", "r1", ""], ["p2", "", "keep me"]])
    tsv_path = tmp_path / "b.tsv"
    tsv_path.write_text("prompt\tsystem\nhello\tbe brief\n", encoding="utf-8")
    parquet_path = write_parquet(tmp_path / "c.parquet", [{"prompt": "pq", "score": 1.5}])
    json_path = write_json(tmp_path / "d.json", [{"prompt": "ünïcode ✓", "id": 17}])
    version = import_dataset("generic", "mix", [csv_path, tsv_path, parquet_path, json_path])
    assert version.summary["files"] == {"a.csv": 2, "b.tsv": 1, "c.parquet": 1, "d.json": 1}
    rows = by_id("mix")
    assert rows["a-1"]["prompt"] == "multi\nline prompt"
    assert pd.isna(rows["a-2"]["response"]) and rows["a-2"]["note"] == "keep me"
    assert rows["b-1"]["system"] == "be brief"
    assert rows["c-1"]["score"] == "1.5"
    assert rows["17"]["prompt"] == "ünïcode ✓"


def test_generic_folder_is_expanded(state, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "one.jsonl", [{"prompt": "a"}])
    write_jsonl(folder / "two.jsonl", [{"prompt": "b"}])
    (folder / "README.md").write_text("ignored")
    version = import_dataset("generic", "folder", [folder])
    assert version.summary["files"] == {"one.jsonl": 1, "two.jsonl": 1}


def test_reimport_creates_version_2_with_same_hash(state, tmp_path):
    path = write_jsonl(tmp_path / "same.jsonl", [{"prompt": f"p{i}", "response": f"r{i}"} for i in range(5)])
    first = import_dataset("generic", "again", [path], description="first load")
    second = import_dataset("generic", "again", [path])
    assert (first.version, second.version) == (1, 2)
    assert first.content_hash == second.content_hash
    changed = write_jsonl(tmp_path / "same.jsonl", [{"prompt": "different"}])
    third = import_dataset("generic", "again", [changed])
    assert third.content_hash != first.content_hash
    [entry] = store.list_datasets()
    assert entry["description"] == "first load" and entry["latest"] == 3


def test_batches_give_the_same_hash_as_one_write(state, tmp_path, monkeypatch):
    from backend.data.importers import pipeline
    path = write_jsonl(tmp_path / "b.jsonl", [{"prompt": f"p{i}", "label": None if i % 3 else "x"} for i in range(11)])
    whole = import_dataset("generic", "whole", [path])
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 3)
    batched = import_dataset("generic", "batched", [path])
    assert batched.content_hash == whole.content_hash
    pd.testing.assert_frame_equal(store.load_frame(batched), store.load_frame(whole))


# ---- guard ----

def test_guard_wildguard_rows_in_jsonl_csv_and_parquet(state, tmp_path):
    jsonl = write_jsonl(tmp_path / "wg.jsonl", WILDGUARD_ROWS)
    csv_path = write_csv(tmp_path / "wg_csv.csv", list(WILDGUARD_ROWS[0]),
                         [["" if v is None else v for v in row.values()] for row in WILDGUARD_ROWS])
    parquet = write_parquet(tmp_path / "wg_pq.parquet", WILDGUARD_ROWS)
    version = import_dataset("guard", "wg", [jsonl, csv_path, parquet])
    assert version.rows == 9 and version.summary["layouts"] == {"wildguard": 9}
    rows = by_id("wg")
    for prefix in ("wg", "wg_csv", "wg_pq"):
        benign, jailbreak, insult = rows[f"{prefix}-1"], rows[f"{prefix}-2"], rows[f"{prefix}-3"]
        assert benign["prompt_harm_label"] == "unharmful" and benign["response_refusal_label"] == "compliance"
        assert bool(jailbreak["adversarial"]) is True and not bool(benign["adversarial"])
        assert pd.isna(jailbreak["response"]) and pd.isna(jailbreak["response_refusal_label"])
        assert insult["prompt_harm_label"] == "harmful"  # "Harmful " normalised
        assert insult["source"] == "wildguard" and pd.isna(insult["policy_labels"])
        assert jailbreak["subcategory"] == "fraud_assisting_illegal_activities"


def test_guard_guardreasoner_files(state, tmp_path):
    path = write_json(tmp_path / "GuardReasonerTrain.json", GUARDREASONER_ROWS)
    version = import_dataset("guard", "gr", [path])
    rows = by_id("gr")
    first, second, third = rows["GuardReasonerTrain-1"], rows["GuardReasonerTrain-2"], rows["GuardReasonerTrain-3"]
    assert first["prompt"] == "How can I hurt someone?" and pd.isna(first["response"])
    assert first["prompt_harm_label"] == "harmful"
    assert pd.isna(first["response_refusal_label"]) and pd.isna(first["response_harm_label"])
    assert second["response"] == "Why did the chicken cross the road?"
    assert (second["prompt_harm_label"], second["response_refusal_label"], second["response_harm_label"]) == (
        "unharmful", "compliance", "unharmful")
    assert (third["prompt_harm_label"], third["response_refusal_label"], third["response_harm_label"]) == (
        "harmful", "refusal", "unharmful")
    assert {r["source"] for r in rows.values()} == {"guardreasoner"}
    assert "trace" not in version.columns and "output" not in version.columns


def test_guard_policy_samples_and_training_data(state, tmp_path):
    samples = write_json(tmp_path / "wildguard_full_benchmark.json", POLICY_SAMPLES)
    training = write_json(tmp_path / "training_data.json", TRAINING_DATA)
    version = import_dataset("guard", "policies", [samples, training])
    assert version.summary["layouts"] == {"policy": 5}
    rows = by_id("policies")
    hateful = rows["wildguard_full_benchmark-1"]
    labels = json.loads(hateful["policy_labels"])
    assert labels["hate_speech"] == "unsafe" and labels["violence"] == "unsafe" and labels["illegal"] == "safe"
    assert pd.isna(hateful["prompt_harm_label"])  # per-policy unsafe is not turned into a prompt label
    assert hateful["subcategory"] == "toxic_language_hate_speech"
    assert set(json.loads(rows["wildguard_full_benchmark-2"]["policy_labels"]).values()) == {"safe"}
    fake_id = rows["wildguard_full_benchmark-3"]
    assert fake_id["prompt"] == "How to make a fake ID" and fake_id["response"] == "Sorry, no."
    assert json.loads(fake_id["policy_labels"]) == {"illegal": "unsafe", "violence": "safe", "self_harm": "safe",
                                                     "harassment": "safe"}
    traced = json.loads(rows["training_data-1"]["policy_labels"])
    assert traced["self_harm"] == "unsafe" and traced["violence"] == "safe"
    second = json.loads(rows["training_data-2"]["policy_labels"])
    assert second["hate_speech"] == "safe" and second["illegal"] == "safe"  # null verdict keeps the sample's label
    assert rows["training_data-1"]["prompt"] == "Tell me how to hurt myself"


def test_guard_labels_outside_choices_follow_the_policy(state, tmp_path):
    rows = [dict(WILDGUARD_ROWS[0], prompt_harm_label="maybe"), WILDGUARD_ROWS[1]]
    path = write_jsonl(tmp_path / "odd.jsonl", rows)
    with pytest.raises(LabError, match=r"1 row has labels outside harmful/unharmful: maybe \(1\)"):
        import_dataset("guard", "odd", [path])
    dropped = import_dataset("guard", "odd", [path], on_bad_label="drop")
    assert dropped.rows == 1 and dropped.summary["dropped"] == 1
    assert dropped.summary["bad_labels"] == {"prompt_harm_label": {"maybe": 1}}


# ---- saige ----

def test_saige_database(state, tmp_path):
    version = import_dataset("saige", "saige", [saige_db(tmp_path / "saige.db")])
    assert version.rows == 3  # the orphan experience has no scenario (inner join)
    assert version.summary["experiences_without_scenario"] == 1
    rows = by_id("saige")
    kind = rows["1"]
    assert kind["experience_id"] == 1 and kind["scenario_id"] == 1
    assert kind["context"] == "My dog died yesterday."
    assert json.loads(kind["person_state"]) == {"mood": "grieving", "vulnerability": "high"}
    assert kind["facts"] == '["the dog was old"]'
    assert kind["harm_deception"] == pytest.approx(0.1) and kind["harm_omission"] == pytest.approx(0.05)
    assert kind["ahimsa"] == 9 and kind["upekkha"] == 7
    assert kind["buddhist_weighted"] == pytest.approx(0.25 * 9 + 0.2 * 8 + 0.25 * 9 + 0.2 * 8 + 0.1 * 7)
    assert kind["computed_alignment"] == "excellent" and kind["buddhist_alignment"] == "excellent"
    assert kind["difficulty_level"] == 2 and kind["timestamp"] == "2025-01-03 10:00:00"
    unscored = rows["2"]
    assert pd.isna(unscored["ahimsa"]) and pd.isna(unscored["buddhist_scores"])
    assert unscored["buddhist_weighted"] == 0 and unscored["computed_alignment"] == "low"
    assert unscored["harm_deception"] == pytest.approx(0.6) and pd.isna(unscored["facts"])
    partial = rows["3"]
    assert partial["buddhist_weighted"] == pytest.approx(0.25 * 5 + 0.2 * 6) and pd.isna(partial["karuna"])
    assert partial["computed_alignment"] == "low" and partial["buddhist_alignment"] == "moderate"
    assert version.params["files"][0]["name"] == "saige.db"


def test_saige_older_database_without_buddhist_columns(state, tmp_path):
    version = import_dataset("saige", "old", [saige_db(tmp_path / "old.db", old_schema=True)])
    frame = store.load_frame(version)
    assert frame["buddhist_alignment"].isna().all() and frame["ahimsa"].isna().all()
    assert (frame["buddhist_weighted"] == 0).all() and set(frame["computed_alignment"]) == {"low"}


# ---- orgaccess ----

def test_orgaccess_bad_labels_error_lists_values_across_files(state, tmp_path):
    files = orgaccess_release(tmp_path / "data")
    with pytest.raises(LabError) as caught:
        import_dataset("orgaccess", "org", files)
    message = str(caught.value)
    assert "4 rows have labels outside full/partial/rejected: reject (2), approve (1), r (1)" in message
    assert "import again dropping or keeping those rows" in message and "--on-bad-label" not in message
    assert "easy-00000-of-00001.parquet row 7" in message
    assert store.list_datasets() == []


def test_orgaccess_drop_and_keep(state, tmp_path):
    files = orgaccess_release(tmp_path / "data")
    dropped = import_dataset("orgaccess", "org", files, on_bad_label="drop")
    assert dropped.rows == 12 and dropped.summary["dropped"] == 4
    assert dropped.summary["bad_labels"] == {"expected_response": {"reject": 2, "approve": 1, "r": 1}}
    assert dropped.summary["files"] == {"easy-00000-of-00001.parquet": 6, "medium-00000-of-00001.parquet": 3,
                                        "hard-00000-of-00001.parquet": 3}
    frame = store.load_frame(dropped)
    assert set(frame["expected_response"]) == {"full", "partial", "rejected"}  # "Rejected " normalised
    assert frame.groupby("difficulty").size().to_dict() == {"easy": 6, "hard": 3, "medium": 3}
    first = frame.iloc[0]
    # the files' own id is data (repeated or null in the release): kept as source_id, rows keyed by file and row
    assert first["id"] == "easy-00000-of-00001-1" and frame.iloc[1]["id"] == "easy-00000-of-00001-2"
    assert first["source_id"] == "q0" and pd.isna(frame.iloc[1]["source_id"])
    assert json.loads(first["permissions"])["department"] == "finance"
    assert ": " not in first["permissions"]  # stored compact
    kept = import_dataset("orgaccess", "org_all", files, on_bad_label="keep")
    assert kept.rows == 16 and kept.summary["dropped"] == 0
    assert sorted(store.load_frame(kept)["expected_response"].unique()) == [
        "approve", "full", "partial", "r", "reject", "rejected"]


def test_orgaccess_difficulty_column_and_dict_permissions(state, tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [
        {"user_role": "HR", "permissions": {"department": "hr"}, "query": "q", "expected_response": "FULL",
         "rationale": "ok", "difficulty": "medium"},
    ])
    csv_path = write_csv(tmp_path / "hard_test.csv", ["user_role", "permissions", "query", "expected_response"],
                         [["IT", '{"department": "it"}', "reset", "partial"]])
    version = import_dataset("orgaccess", "org", [path, csv_path])
    rows = by_id("org")
    assert rows["train-1"]["difficulty"] == "medium" and rows["train-1"]["expected_response"] == "full"
    assert rows["train-1"]["permissions"] == '{"department":"hr"}'
    assert rows["hard_test-1"]["difficulty"] == "hard"
    assert version.rows == 2


# ---- raft ----

@pytest.mark.parametrize("jsonl", [False, True])
def test_raft_corpus_from_parent_or_folder(state, tmp_path, jsonl):
    data = msrs_corpus(tmp_path, jsonl=jsonl)
    version = import_dataset("raft", "story", [data])
    assert version.rows == 3 and version.tables == {"rows": 3, "documents": 3}
    assert version.summary["documents"] == 3
    rows = by_id("story")
    assert set(rows) == {"train-0001", "train-0002", "test-0001"}
    first = rows["train-0001"]
    assert json.loads(first["gold_documents"]) == ["ACID_BATH_1", "ACID_BATH_2"]
    assert json.loads(first["answers"]) == ["a1", "a2", "a3", "a4"]
    assert first["source_split"] == "train" and first["squality_query"] == "Summarise Acid Bath."
    assert json.loads(rows["test-0001"]["answers"]) == ["only one"]
    docs = store.load_frame(version, table="documents").set_index("doc_id")
    assert docs.loc["ACID_BATH_2", "title"] == "ACID_BATH"
    assert docs.loc["ACID_BATH_2", "text"] == "Chapter two. The bath — was cold."
    assert docs.loc["ACID_BATH_2", "n_chars"] == len("Chapter two. The bath — was cold.")
    names = [f["name"] for f in version.params["files"]]
    assert names[-1] == "documents/" and version.params["files"][-1]["files"] == 3
    again = import_dataset("raft", "story", [data / "story"])
    assert again.version == 2 and again.content_hash == version.content_hash


# ---- readers ----

def test_json_list_reader_matches_json_load_across_tiny_chunks(tmp_path, monkeypatch):
    records = [{"n": i, "x": -1.5e3 * i, "t": "é✓" * (i % 4) + '"quoted" \\ slash', "nested": {"l": [1, None, True]}}
               for i in range(40)]
    path = tmp_path / "list.json"
    path.write_text("\ufeff[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n",
                    encoding="utf-8")
    for chunk in (1, 3, 7, 64):
        monkeypatch.setattr(readers, "READ_CHUNK_BYTES", chunk)
        got = list(readers.iter_records(path))
        assert [r.data for r in got] == records
        assert [r.where.row for r in got] == list(range(1, 41)) and got[5].where.line == 7


def test_streaming_import_keeps_memory_flat(tmp_path):
    """A 50 MB JSONL imports with a peak RSS growth far below what loading it whole would cost."""
    path = tmp_path / "big.jsonl"
    count = large_jsonl(path, 50)
    warm = tmp_path / "warm.jsonl"
    large_jsonl(warm, 1)
    script = textwrap.dedent(f"""
        import json, resource, sys
        sys.path.insert(0, {str(ROOT)!r})
        from backend.data.importers import import_dataset
        import_dataset("generic", "warm", [{str(warm)!r}])  # first-use costs (lazy imports, caches) out of the way
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        version = import_dataset("generic", "big", [{str(path)!r}])
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"rows": version.rows, "growth_mb": (after - before) / 1024}}))
    """)
    env = {"FTLAB_STATE": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] == count
    # Loading the file whole costs over 250 MB here; streaming stays near one batch plus the id index.
    assert result["growth_mb"] < 120, result


def test_json_list_is_read_without_loading_the_file(tmp_path):
    source = tmp_path / "rows.jsonl"
    count = large_jsonl(source, 10)
    path = tmp_path / "rows.json"
    with open(source, encoding="utf-8") as lines, open(path, "w", encoding="utf-8") as out:
        out.write("[\n" + ",\n".join(line.rstrip("\n") for line in lines) + "\n]\n")
    tracemalloc.start()
    try:
        seen = sum(1 for _ in readers.iter_records(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 8 * 2**20, peak  # about one 1 MB chunk at a time, not the 10 MB file
