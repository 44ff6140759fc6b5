"""Malformed inputs: each error names the file, row and field where there is one, and nothing is stored."""
import json
import sqlite3

import pytest

from backend.data import store
from backend.data.importers import import_dataset, pipeline
from backend.formats import records as readers
from backend.errors import DataError, LabError
from fixtures_data import (EXPERIENCES, GUARDREASONER_ROWS, TRAINING_DATA, msrs_corpus, orgaccess_rows, saige_db,
                           write_csv, write_json, write_jsonl)


def rejected(state, recipe, paths, *fragments, error=DataError, **kwargs):
    """Import must fail with `error` whose message holds every fragment, leaving no dataset and no temp folder."""
    with pytest.raises(error) as caught:
        import_dataset(recipe, "broken", paths, **kwargs)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    assert store.list_datasets() == []
    temp = state / "datasets" / ".tmp"
    assert not temp.exists() or not any(temp.iterdir())
    return caught.value


def located(exc, file, row=None, field=None):
    assert (exc.file, exc.row, exc.field) == (file, row, field), (exc.file, exc.row, exc.field, str(exc))


# ---- file formats ----

def test_truncated_json_list(state, tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"prompt": "a"},\n {"prompt": "b', encoding="utf-8")
    located(rejected(state, "generic", [path], "cut.json, row 2", "truncated"), "cut.json", 2)


def test_json_syntax_error_names_line_and_column(state, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n{"prompt": "a"},\n{"prompt" "b"},\n{"prompt": "c"}\n]', encoding="utf-8")
    exc = rejected(state, "generic", [path], "bad.json, row 2", "invalid JSON on line 3, column 11",
                   "Expecting ':' delimiter")
    located(exc, "bad.json", 2)


def test_invalid_jsonl_line(state, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"prompt": "a"}\n\n{"prompt": oops}\n', encoding="utf-8")
    located(rejected(state, "generic", [path], "rows.jsonl, row 2", "invalid JSON on line 3, column 12"),
            "rows.jsonl", 2)


def test_truncated_jsonl_last_line(state, tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b", "response": "unfinish', encoding="utf-8")
    rejected(state, "generic", [path], "cut.jsonl, row 2", "cut off")


def test_jsonl_record_that_is_not_an_object(state, tmp_path):
    path = tmp_path / "list.jsonl"
    path.write_text('{"prompt": "a"}\n["prompt", "b"]\n', encoding="utf-8")
    rejected(state, "generic", [path], "list.jsonl, row 2", "expected a JSON object", "got a list")


def test_empty_file(state, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    located(rejected(state, "generic", [path], "empty.jsonl: the file is empty"), "empty.jsonl")


def test_csv_with_only_a_header(state, tmp_path):
    path = write_csv(tmp_path / "header.csv", ["prompt", "response"], [])
    rejected(state, "generic", [path], "header.csv: the file has no records")


def test_csv_not_utf8_names_byte_offset(state, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"prompt\nok\nbad \xff byte\n")
    exc = rejected(state, "generic", [path], "latin1.csv", "not valid UTF-8: byte 0xff at byte offset 14",
                   "(line 3)")
    located(exc, "latin1.csv")


def test_json_not_utf8_across_chunks(state, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "READ_CHUNK_BYTES", 5)
    path = tmp_path / "bytes.json"
    data = b'[\n{"prompt": "caf\xc3\xa9"},\n{"prompt": "x\xe9y"}\n]'
    path.write_bytes(data)
    offset = data.index(b"\xe9y")
    rejected(state, "generic", [path], "bytes.json", f"byte 0xe9 at byte offset {offset}", "(line 3)")


def test_csv_row_with_extra_fields(state, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("prompt,response\na,b\nc,d,e\n", encoding="utf-8")
    located(rejected(state, "generic", [path], "ragged.csv, row 2", "3 fields but the header names 2 columns"),
            "ragged.csv", 2)


def test_csv_unterminated_quote(state, tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('prompt,response\na,b\n"never closed,c\n', encoding="utf-8")
    rejected(state, "generic", [path], "quote.csv, row 2", "malformed CSV")


def test_unsupported_extension(state, tmp_path):
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK\x03\x04")
    located(rejected(state, "generic", [path], "unsupported file type '.xlsx'", ".jsonl"), "sheet.xlsx")


def test_path_not_found(state, tmp_path):
    missing = tmp_path / "nowhere.jsonl"
    located(rejected(state, "generic", [missing], "nowhere.jsonl", "not found"), str(missing))


def test_parquet_that_is_not_parquet(state, tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_text("prompt\nhello\n", encoding="utf-8")
    rejected(state, "orgaccess", [path], "fake.parquet", "not a readable Parquet file")


# ---- size limits ----

def test_field_over_size_limit(state, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_FIELD_CHARS", 100)
    path = write_jsonl(tmp_path / "long.jsonl", [{"prompt": "short"}, {"prompt": "x" * 101}])
    located(rejected(state, "generic", [path], "long.jsonl, row 2, field 'prompt'", "101 characters",
                     "over the limit of 100"), "long.jsonl", 2, "prompt")


def test_record_over_size_limit_in_jsonl_and_json(state, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 200)
    records = [{"prompt": "ok"}, {"prompt": "y" * 150, "response": "z" * 150}]
    rejected(state, "generic", [write_jsonl(tmp_path / "big.jsonl", records)],
             "big.jsonl: line 2 is longer than the record limit of 200 bytes")
    rejected(state, "generic", [write_json(tmp_path / "big.json", records)], "big.json, row 2",
             "over the limit of 200 bytes")


# ---- values ----

def test_missing_required_column(state, tmp_path):
    path = write_csv(tmp_path / "noprompt.csv", ["question", "answer"], [["q", "a"]])
    located(rejected(state, "generic", [path], "noprompt.csv, field 'prompt'", "no 'prompt' column",
                     "question, answer"), "noprompt.csv", None, "prompt")


def test_mapped_column_missing_from_file(state, tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q"}])
    rejected(state, "generic", [path], "qa.jsonl, field 'text'", "does not have", mapping={"prompt": "text"})


def test_missing_required_value_names_row_and_mapped_field(state, tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q1"}, {"question": "  "}])
    located(rejected(state, "generic", [path], "qa.jsonl, row 2, field 'question'", "missing or empty",
                     mapping={"prompt": "question"}), "qa.jsonl", 2, "question")


def test_wrong_type_boolean(state, tmp_path):
    path = write_csv(tmp_path / "wg.csv", ["prompt", "adversarial"], [["p1", "False"], ["p2", "sometimes"]])
    located(rejected(state, "guard", [path], "wg.csv, row 2, field 'adversarial'", "expected true or false",
                     "'sometimes'"), "wg.csv", 2, "adversarial")


def test_wrong_type_number_in_saige(state, tmp_path):
    rows = [EXPERIENCES[0], (2, 2, "text", 0.1, "high", EXPERIENCES[1][5], None, None, None, 1, None)]
    db = saige_db(tmp_path / "saige.db", experiences=rows)
    located(rejected(state, "saige", [db], "saige.db, field 'actual_harm'", "experience 2 (scenario 2)",
                     "expected a number, got text 'high'"), "saige.db", None, "actual_harm")


def test_duplicate_ids(state, tmp_path):
    path = write_jsonl(tmp_path / "dup.jsonl", [{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y"},
                                                {"id": "a", "prompt": "z"}])
    located(rejected(state, "generic", [path], "dup.jsonl, row 3, field 'id'", "'a' is already used"),
            "dup.jsonl", 3, "id")


def test_error_after_batches_were_written_leaves_nothing(state, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "BATCH_ROWS", 2)
    rows = [{"prompt": f"p{i}"} for i in range(7)] + [{"prompt": {"not": "text"}}]
    rejected(state, "generic", [write_jsonl(tmp_path / "late.jsonl", rows)], "late.jsonl, row 8, field 'prompt'",
             "expected text, got a JSON object")


def test_existing_dataset_with_another_recipe(state, tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"prompt": "x"}])
    import_dataset("generic", "taken", [path])
    with pytest.raises(LabError, match="already exists with recipe 'generic', not 'guard'"):
        import_dataset("guard", "taken", [path])
    assert [v["version"] for v in store.list_datasets()[0]["versions"]] == [1]


def test_bad_options(state, tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"prompt": "x"}])
    rejected(state, "generic", [path], "on_bad_label must be one of error, drop, keep", error=LabError,
             on_bad_label="fix")
    rejected(state, "generic", [path], "'answer' is not a column of recipe 'generic'", error=LabError,
             mapping={"answer": "x"})
    rejected(state, "saige", [path], "a column mapping does not apply", error=LabError, mapping={"id": "x"})
    rejected(state, "nope", [path], "unknown recipe 'nope'", error=LabError)


# ---- guard ----

def test_guardreasoner_output_without_answers(state, tmp_path):
    rows = [GUARDREASONER_ROWS[0], dict(GUARDREASONER_ROWS[1], output="I think it is fine.")]
    located(rejected(state, "guard", [write_jsonl(tmp_path / "gr.jsonl", rows)], "gr.jsonl, row 2, field 'output'",
                     "no 'Answers:' block"), "gr.jsonl", 2, "output")


def test_guardreasoner_benchmark_label_without_a_task(state, tmp_path):
    """A benchmark file (output = one task's label) whose name is not a published one: asked for --task."""
    rows = [dict(GUARDREASONER_ROWS[0], output="harmful")]
    located(rejected(state, "guard", [write_json(tmp_path / "my_benchmark.json", rows)],
                     "my_benchmark.json, row 1, field 'output'", "only a label ('harmful')",
                     "the import's task: prompt, response or refusal"), "my_benchmark.json", 1, "output")


def test_guardreasoner_benchmark_output_neither_label_nor_answers(state, tmp_path):
    rows = [dict(GUARDREASONER_ROWS[0], output="harmful"), dict(GUARDREASONER_ROWS[0], output="It is harmful, I think")]
    located(rejected(state, "guard", [write_json(tmp_path / "0_8_toxic_chat.json", rows)],
                     "0_8_toxic_chat.json, row 2, field 'output'",
                     "expected the prompt task's gold label (harmful/unharmful) or an 'Answers:' block"),
            "0_8_toxic_chat.json", 2, "output")


def test_guardreasoner_benchmark_label_outside_the_task(state, tmp_path):
    rows = [dict(GUARDREASONER_ROWS[0], output="refusal")]
    rejected(state, "guard", [write_json(tmp_path / "0_1_AegisSafetyTest.json", rows)],
             "1 row has labels outside harmful/unharmful: refusal (1)", "0_1_AegisSafetyTest.json row 1", error=LabError)


def test_guardreasoner_input_without_dialogue(state, tmp_path):
    rows = [dict(GUARDREASONER_ROWS[0], input="Just a prompt")]
    rejected(state, "guard", [write_jsonl(tmp_path / "gr.jsonl", rows)], "gr.jsonl, row 1, field 'input'",
             "expected 'Human user:")


def test_guard_record_with_unknown_layout(state, tmp_path):
    path = write_jsonl(tmp_path / "other.jsonl", [{"text": "hello", "target": 1}])
    rejected(state, "guard", [path], "other.jsonl, row 1", "cannot tell the layout", "text, target")


def test_guard_policy_label_not_understood(state, tmp_path):
    path = write_json(tmp_path / "pol.json", [{"content": "x", "policy_labels": {"violence": "maybe"}}])
    located(rejected(state, "guard", [path], "pol.json, row 1, field 'policy_labels.violence'", "SAFE/UNSAFE"),
            "pol.json", 1, "policy_labels.violence")


def test_training_data_trace_for_missing_sample(state, tmp_path):
    document = json.loads(json.dumps(TRAINING_DATA))
    document["reasoning_traces"]["sample_5_violence"] = {"classification": "SAFE"}
    rejected(state, "guard", [write_json(tmp_path / "training_data.json", document)],
             "training_data.json, field 'reasoning_traces.sample_5_violence'", "refers to sample 5", "2 samples")


# ---- saige ----

def test_sqlite_without_saige_tables(state, tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER)")
    conn.close()
    rejected(state, "saige", [path], "other.db", "no table scenarios or experiences", "tables: notes")


def test_not_a_sqlite_file(state, tmp_path):
    path = write_jsonl(tmp_path / "saige.db", [{"a": 1}])
    rejected(state, "saige", [path], "saige.db", "not a SQLite database")


def test_sqlite_missing_columns(state, tmp_path):
    path = tmp_path / "thin.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE scenarios (id INTEGER, context TEXT, person_state JSON);"
                       "CREATE TABLE experiences (id INTEGER, scenario_id INTEGER, ai_response TEXT);")
    conn.close()
    located(rejected(state, "saige", [path], "table 'experiences' lacks column(s) actual_harm, harm_breakdown"),
            "thin.db", None, "actual_harm")


def test_saige_bad_json_names_experience_and_column(state, tmp_path):
    rows = list(EXPERIENCES)
    rows[2] = rows[2][:5] + ("{deception: 0.1",) + rows[2][6:]
    located(rejected(state, "saige", [saige_db(tmp_path / "saige.db", experiences=rows)],
                     "experience 3 (scenario 2)", "not valid JSON", "field 'harm_breakdown'"),
            "saige.db", None, "harm_breakdown")


# ---- orgaccess ----

def test_orgaccess_permissions_not_json(state, tmp_path):
    rows = orgaccess_rows(2, ["full"])
    rows[1]["permissions"] = "{department: finance"
    located(rejected(state, "orgaccess", [write_jsonl(tmp_path / "easy.jsonl", rows)],
                     "easy.jsonl, row 2, field 'permissions'", "permissions is not JSON"),
            "easy.jsonl", 2, "permissions")


def test_orgaccess_permissions_not_an_object(state, tmp_path):
    rows = orgaccess_rows(1, ["full"])
    rows[0]["permissions"] = '["read"]'
    rejected(state, "orgaccess", [write_jsonl(tmp_path / "hard.jsonl", rows)], "hard.jsonl, row 1",
             "expected a JSON object, got a list")


def test_orgaccess_without_difficulty(state, tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", orgaccess_rows(1, ["full"]))
    located(rejected(state, "orgaccess", [path], "train.jsonl, row 1, field 'difficulty'", "easy-..."),
            "train.jsonl", 1, "difficulty")


def test_orgaccess_bad_labels_in_csv(state, tmp_path):
    rows = orgaccess_rows(3, ["full", "approve", "partial"])
    path = write_csv(tmp_path / "medium.csv", list(rows[0]), [list(r.values()) for r in rows])
    rejected(state, "orgaccess", [path], "1 row has labels outside full/partial/rejected: approve (1)",
             "medium.csv row 2", error=LabError)


def test_orgaccess_missing_label_follows_the_label_policy(state, tmp_path):
    rows = orgaccess_rows(3, ["full", "", "partial"])
    path = write_jsonl(tmp_path / "easy.jsonl", rows)
    rejected(state, "orgaccess", [path], "1 row has labels outside full/partial/rejected: (missing) (1)",
             "easy.jsonl row 2, field 'expected_response'", error=LabError)
    kept = import_dataset("orgaccess", "kept", [path], on_bad_label="keep")
    assert kept.rows == 3 and kept.summary["bad_labels"] == {"expected_response": {"(missing)": 1}}
    assert store.load_frame(kept)["expected_response"].isna().sum() == 1
    assert import_dataset("orgaccess", "dropped", [path], on_bad_label="drop").rows == 2


# ---- raft ----

def test_raft_gold_document_missing(state, tmp_path):
    queries = {"train": [{"query": "q1", "gold_documents": ["ACID_BATH_1"], "answer": ["a"]},
                         {"query": "q2", "gold_documents": ["ACID_BATH_1", "NOPE_9"], "answer": ["b"]}]}
    data = msrs_corpus(tmp_path, queries)
    located(rejected(state, "raft", [data], "queries_train.json, row 2, field 'gold_documents'", "'NOPE_9'",
                     "not found in documents/"), "queries_train.json", 2, "gold_documents")


def test_raft_keyed_queries_value_not_an_object(state, tmp_path):
    data = msrs_corpus(tmp_path, {"dev": []})
    write_json(data / "story" / "queries_dev.json", {"0": {"query": "q", "gold_documents": ["ACID_BATH_1"]},
                                                     "1": ["not", "an", "object"]})
    located(rejected(state, "raft", [data], "queries_dev.json, row 2: query '1': expected a query object"),
            "queries_dev.json", 2, None)


def test_raft_keyed_queries_missing_documents_listed_together(state, tmp_path):
    data = msrs_corpus(tmp_path, {"test": []})
    write_json(data / "story" / "queries_test.json", {
        "5": {"query": "q", "gold_documents": ["ACID_BATH_1", "ACID_BATH_9"]},
        "6": {"query": "q", "gold_documents": ["ACID_BATH_9", "STAR_RUN_2"]}})
    located(rejected(state, "raft", [data], "queries_test.json, row 1, field 'gold_documents': query '5': 2 gold "
                     "document ids not found in documents/", "'ACID_BATH_9' (query '5', '6')", "'STAR_RUN_2' (query '6')",
                     "closest file to 'ACID_BATH_9' is documents/ACID_BATH_"),
            "queries_test.json", 1, "gold_documents")


def test_raft_folder_without_documents(state, tmp_path):
    folder = tmp_path / "empty_corpus"
    folder.mkdir()
    rejected(state, "raft", [folder], "empty_corpus", "no documents/ folder")


def test_raft_document_not_utf8(state, tmp_path):
    data = msrs_corpus(tmp_path)
    (data / "story" / "documents" / "BROKEN_1.txt").write_bytes(b"ok\n\x80bad")
    rejected(state, "raft", [data], "documents/BROKEN_1.txt", "byte 0x80 at byte offset 3", "(line 2)")


def test_json_list_with_trailing_comma_or_text(state, tmp_path):
    comma = tmp_path / "comma.json"
    comma.write_text('[{"prompt": "a"},\n{"prompt": "b"},\n]\n', encoding="utf-8")
    rejected(state, "generic", [comma], "comma.json, row 3", "invalid JSON on line 3, column 1: Expecting value")
    trailing = tmp_path / "trailing.json"
    trailing.write_text('[{"prompt": "a"}] extra', encoding="utf-8")
    rejected(state, "generic", [trailing], "trailing.json", "unexpected text after the closing ']'")


def test_training_data_document_truncated_or_too_large(state, tmp_path, monkeypatch):
    path = tmp_path / "training_data.json"
    path.write_text('{"samples": [{"content": "x"}], "reasoning_traces": {"sample_0_violence": {"class',
                    encoding="utf-8")
    rejected(state, "guard", [path], "training_data.json", "truncated")
    monkeypatch.setattr(readers, "MAX_JSON_DOCUMENT_BYTES", 10)
    rejected(state, "guard", [write_json(path, TRAINING_DATA)], "training_data.json", "convert it to JSONL")


def test_every_row_dropped_is_an_error(state, tmp_path):
    path = write_jsonl(tmp_path / "easy.jsonl", orgaccess_rows(2, ["approve"]))
    rejected(state, "orgaccess", [path], "all 2 rows had labels outside the allowed values", error=LabError,
             on_bad_label="drop")
