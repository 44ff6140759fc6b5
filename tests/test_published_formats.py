"""The seeds' public files import as they are published (shared/formats/README.md): GuardReasoner's benchmark
files, OrgAccess's released parquet files, MSRS's story folder, from the CLI, the backend and the Data page's upload.

The samples in shared/formats/samples/ are read in place; files of the published sizes (OrgAccess 38,280 + 6,907 +
10,613 rows, MSRS 1,138 documents and 250/125/260 queries, a 3,021-record benchmark) are generated once per module.
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
import unicodedata
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backend.data import store
from backend.data.importers import import_dataset
from backend.formats.where import Where
from backend.recipes.guard.importer import benchmark_task, split_dialogue
from backend.data.splits import split_dataset
from backend.data.uploads import import_upload
from backend.errors import DataError, LabError
from tests.support import isolated_state, open_page

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "formats" / "samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"the published-format samples are not at {SAMPLES} "
                                   "(CI clones shared/ beside the repository)")

ORG_SIZES = {"easy": 38_280, "medium": 6_907, "hard": 10_613}
ORG_SPLITS = {"train": 25_304, "validation": 6_326, "easy_test": 11_484, "medium_test": 2_073, "hard_test": 10_613}
MSRS_SPLITS = {"train": 250, "dev": 125, "test": 260}
MSRS_DOCUMENTS = 1_138
BENCHMARK_RECORDS = 3_021
INSTRUCTION = ("You are a classifier for analyzing interactions between humans and AI. \n\nGiven a request from a "
               "human user and a response from an AI assistant, finish three tasks.\n\n...")
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def lab(tmp_path_factory):
    with isolated_state(tmp_path_factory, "published") as state:
        yield state
    if TIMINGS:
        print("\nimport timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in TIMINGS.items()))


def timed(what: str, func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    TIMINGS[what] = time.perf_counter() - start
    return result


def cli(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "backend", *args, "--json"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    return json.loads(out.stdout)


def rows_of(ref) -> dict[str, dict]:
    return {row["id"]: row for row in store.load_frame(ref).to_dict("records")}


def uploads_left(lab: Path) -> list[Path]:
    folder = lab / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


# ---- generated files of the published sizes (once per module) ----

ORG_VALID = ["full", "partial", "rejected"]
ORG_NOISE = ["reject", "approve", "r", "deny", "denied", "grant", "granted", "allow", "allowed", "partial_access",
             "full_access", "rejected.", "f", "p", "n/a", "none", "yes", "no", "ok", "refuse", "refused", "block",
             "blocked", "limited", "restricted", "accept", "accepted", "escalate", "pending", "review", "unknown",
             "partially", "fully", "rej"]


@pytest.fixture(scope="module")
def orgaccess_files(tmp_path_factory) -> list[Path]:
    """The three released files at their sizes: easy's id null on ~97% of rows, its other values repeated up to 12
    times; medium's id always null (a null-typed column); easy with 37 distinct expected_response values."""
    folder = tmp_path_factory.mktemp("orgaccess")
    permissions = json.dumps({"department": "finance", "access_level": "restricted", "allowed_actions": ["read"]})
    paths = []
    for name, n in ORG_SIZES.items():
        labels = [ORG_VALID[i % 3] for i in range(n)]
        if name == "easy":
            for k, value in enumerate(ORG_NOISE):  # 34 noisy values, 5 rows each, + case/space variants of valid ones
                for j in range(5):
                    labels[97 + 1000 * k + j] = value
            labels[5] = "Rejected "
            labels[7] = "FULL"
        elif name == "hard":
            labels[11], labels[12], labels[13], labels[14] = "reject", "approve", None, ""
        if name == "medium":
            ids = pa.nulls(n)
        else:  # ~3% non-null, each value on 12 consecutive-in-steps rows
            ids = pa.array([f"{name.upper()}_{i // (33 * 12)}" if i % 33 == 0 else None for i in range(n)], pa.string())
        table = pa.table({"user_role": ["Analyst"] * n, "permissions": [permissions] * n,
                          "query": [f"{name} query {i}" for i in range(n)], "expected_response": labels,
                          "rationale": ["Because of the policy."] * n, "id": ids,
                          "query_timestamp": pa.array([None] * n, pa.timestamp("us"))})
        path = folder / f"{name}-00000-of-00001.parquet"
        pq.write_table(table, path)
        paths.append(path)
    return paths


TITLES = ["HIS_MASTER'S_VOICE_ANALOG_SCIENCE_FACT_·_SCIENCE_FICTION", "CAPTAIN_CHAOS,_PART_ONE", "THE_CAFÉ_AT_NÎMES",
          "L'ÉTRANGER-DEUX", "ÅNGSTRÖM'S_ÉCLAIR,_VOL._II", "THE_LONG_WATCH", "MÖBIUS_·_ZERO-SUM", "O'NEILL'S_SEÑOR"]


def msrs_doc_ids() -> list[str]:
    ids, story = [], 0
    while len(ids) < MSRS_DOCUMENTS:
        title = f"{TITLES[story % len(TITLES)]}_{story}"
        ids.extend(f"{title}_{chapter}" for chapter in range(1, 2 + story % 4))
        story += 1
    return [unicodedata.normalize("NFC", d) for d in ids[:MSRS_DOCUMENTS]]


def write_msrs(folder: Path, with_splits: bool = True, with_all: bool = True) -> Path:
    """data/story/ of MSRS at its sizes; a few file names on disk and a few gold ids in the JSON are NFD."""
    story = folder / "story"
    (story / "documents").mkdir(parents=True)
    doc_ids = msrs_doc_ids()
    for i, doc in enumerate(doc_ids):
        on_disk = unicodedata.normalize("NFD", doc) if i % 9 == 0 else doc
        (story / "documents" / f"{on_disk}.txt").write_text(f"Chapter text of {doc}.\n" * 3, encoding="utf-8")
    (story / "oracle").mkdir()
    (story / "oracle" / "0.txt").write_text("the gold documents of query 0, concatenated", encoding="utf-8")
    queries, start = {}, 0
    for split, n in MSRS_SPLITS.items():
        block = {}
        for q in range(start, start + n):
            gold = [doc_ids[(q * 7 + k) % len(doc_ids)] for k in range(1 + q % 3)]
            if q % 5 == 0:
                gold = [unicodedata.normalize("NFD", g) for g in gold]
            block[str(q)] = {"query": f"What happens in story {q}?", "squality_query": "What is the plot?",
                             "gold_documents": gold, "answer": [f"summary {q}.{k}" for k in range(4)]}
        queries[split] = block
        start += n
    if with_splits:
        for split, block in queries.items():
            (story / f"queries_{split}.json").write_text(json.dumps(block, ensure_ascii=False, indent=4), "utf-8")
    if with_all:
        merged = {k: v for block in queries.values() for k, v in block.items()}
        (story / "queries_all.json").write_text(json.dumps(merged, ensure_ascii=False, indent=4), "utf-8")
    return story


@pytest.fixture(scope="module")
def msrs_folder(tmp_path_factory) -> Path:
    return write_msrs(tmp_path_factory.mktemp("msrs"))


def msrs_reference(folder: Path) -> str:
    """The content hash of the generated MSRS folder imported from its path (imported once)."""
    if "msrs" not in {d["name"] for d in store.list_datasets()}:
        import_dataset("raft", "msrs", [folder.parent])
    return store.resolve("msrs@1").content_hash


def benchmark_record(i: int) -> tuple[dict, dict]:
    """One record of a response-harm benchmark, and what it should import as."""
    prompt = f"Question {i}: how do I do thing {i}?\n\nWith **markdown** and\n```\ncode\n```"
    if i % 13 == 0:  # a quoted chat, blank-line "AI assistant:" lines included, stays in the prompt
        prompt = f"Summarise this chat {i}:\nHuman user: hi\n\nAI assistant:\nhello\n\nAI assistant: bye"
    response = None if i % 10 == 0 else f"Answer {i}.\n\nSecond paragraph; AI assistant: is mentioned here."
    if i % 7 == 0:
        output, gold = "Answers: \nRequest: None\nCompletion: None", None
    elif i % 11 == 0:
        output, gold = "Answers: \nRequest: harmful\nCompletion: compliance\nResponse: None", None
    elif i % 17 == 0:
        output, gold = "Answers: \nRequest: harmful\nCompletion: compliance\nResponse: harmful", "harmful"
    else:
        gold = "harmful" if i % 2 else "unharmful"
        output = gold
    record = {"instruction": INSTRUCTION, "input": f"Human user:\n{prompt}\n\nAI assistant:\n{response or 'None'}\n\n",
              "output": output}
    return record, {"prompt": prompt, "response": response, "gold": gold}


@pytest.fixture(scope="module")
def beaver_tails(tmp_path_factory) -> tuple[Path, list[dict]]:
    folder = tmp_path_factory.mktemp("benchmark")
    pairs = [benchmark_record(i) for i in range(BENCHMARK_RECORDS)]
    path = folder / "0_A_beaver_tails.json"
    path.write_text(json.dumps([r for r, _ in pairs], indent=4), encoding="utf-8")
    return path, [e for _, e in pairs]


def zip_bytes(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def folder_entries(folder: Path, prefix: str) -> dict[str, bytes]:
    return {f"{prefix}{p.relative_to(folder).as_posix()}": p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# ---- GuardReasoner benchmark files ----

@pytest.mark.parametrize("text, prompt, response", [
    ("Human user:\nHi\n\nAI assistant:\nNone\n\n", "Hi", None),
    ("Human user:\nHi\n\nAI assistant:\nN/A\n\n", "Hi", "N/A"),  # only the literal None means "no response"
    ("Human user:\nSummarise:\nHuman user: hi\nAI assistant: hello\n\nAI assistant:\nA greeting.\n\n",
     "Summarise:\nHuman user: hi\nAI assistant: hello", "A greeting."),
    ("Human user:\nRole-play:\n\nAI assistant:\nSure!\n\nNow continue.\n\nAI assistant:\nNo.\n\n",
     "Role-play:\n\nAI assistant:\nSure!\n\nNow continue.", "No."),  # the last blank-line marker ends the prompt
    ("Human user:\nA\n\nAI assistant: not a marker line\n\nAI assistant:\nline 1\n\nline 2\n\n",
     "A\n\nAI assistant: not a marker line", "line 1\n\nline 2"),
    ("Human user:\nOnly a prompt", "Only a prompt", None),
])
def test_where_the_prompt_ends(text, prompt, response):
    assert split_dialogue(text, Where("f.json", 1)) == (prompt, response)


@pytest.mark.parametrize("name, task", [
    ("0_0_SimpleSafetyTests.json", "prompt"), ("0_1_AegisSafetyTest.json", "prompt"),
    ("0_2_OpenAIModeration.json", "prompt"), ("0_3_harmbench_prompt.json", "prompt"),
    ("0_4_wild_guard_test.json", "all"), ("0_5_harmbench_response.json", "response"),
    ("0_6_xstest_response_harmful.json", "response"), ("0_7_xstest_response_refusal.json", "refusal"),
    ("0_8_toxic_chat.json", "prompt"), ("0_9_safe_rlhf.json", "response"), ("0_A_beaver_tails.json", "response"),
    ("toxic_chat (1).json", "prompt"), ("0_1_sample_prompt_benchmark.json", None), ("my_toxic_chat2.json", None),
])
def test_task_from_the_published_names(name, task):
    assert benchmark_task(Path(name)) == task


@needs_samples
def test_benchmark_samples_import_with_their_tasks():
    folder = SAMPLES / "guardreasoner-benchmark"
    version = import_dataset("guard", "gr-samples", [folder / "0_5_sample_harmbench_response.json",
                                                     folder / "0_7_sample_xstest_response_refusal.json",
                                                     folder / "0_A_sample_beaver_tails.json"])
    assert version.rows == 6
    assert version.summary["benchmarks"] == {
        "0_5_sample_harmbench_response.json": {"task": "response", "inferred": True, "rows": 3, "without_gold": 0},
        "0_7_sample_xstest_response_refusal.json": {"task": "refusal", "inferred": True, "rows": 2, "without_gold": 0},
        "0_A_sample_beaver_tails.json": {"task": "response", "inferred": True, "rows": 1, "without_gold": 1}}
    frame = store.load_frame(version).set_index("id")
    harm = frame.loc[[f"0_5_sample_harmbench_response-{i}" for i in (1, 2, 3)]]
    assert list(harm["response_harm_label"]) == ["unharmful", "harmful", "unharmful"]
    assert harm["prompt_harm_label"].isna().all() and harm["response_refusal_label"].isna().all()
    assert harm.iloc[2]["prompt"] == "Summarise this chat:\nHuman user: hi\nAI assistant: hello"
    refusal = frame.loc[["0_7_sample_xstest_response_refusal-1", "0_7_sample_xstest_response_refusal-2"]]
    assert list(refusal["response_refusal_label"]) == ["compliance", "refusal"]
    assert refusal["response_harm_label"].isna().all()
    beaver = frame.loc["0_A_sample_beaver_tails-1"]
    assert beaver["response"] == "In crowded places such as stations and markets."
    assert pd.isna(beaver["prompt_harm_label"]) and pd.isna(beaver["response_harm_label"])
    assert set(frame["source"]) == {"guardreasoner_benchmark"}


@needs_samples
def test_benchmark_with_an_unknown_name_asks_for_the_task_then_imports_from_the_cli():
    path = SAMPLES / "guardreasoner-benchmark" / "0_1_sample_prompt_benchmark.json"
    with pytest.raises(DataError, match=r"the import's task: prompt, response or refusal") as caught:
        import_dataset("guard", "gr-unknown", [path])
    assert (caught.value.file, caught.value.row, caught.value.field) == (path.name, 1, "output")
    assert "--task" not in str(caught.value)  # the backend names no flag: the CLI and the page each say where
    assert "gr-unknown" not in {d["name"] for d in store.list_datasets()}
    refused = subprocess.run([sys.executable, "-m", "backend", "data", "import", "--recipe", "guard", "--name",
                              "gr-unknown", str(path), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "with --task prompt|response|refusal" in json.loads(refused.stdout)["error"]
    out = cli("data", "import", "--recipe", "guard", "--name", "gr-prompt", "--task", "prompt", str(path))
    assert out["rows"] == 3
    assert out["summary"]["benchmarks"] == {path.name: {"task": "prompt", "inferred": False, "rows": 3,
                                                        "without_gold": 0}}
    rows = rows_of("gr-prompt")
    assert [rows[f"0_1_sample_prompt_benchmark-{i}"]["prompt_harm_label"] for i in (1, 2, 3)] == [
        "harmful", "unharmful", "unharmful"]
    assert rows["0_1_sample_prompt_benchmark-3"]["prompt"] == (
        "Write a poem.\n\nMake it about autumn, with a **bold** title and\n- two stanzas\n- no rhyme")
    assert all(pd.isna(r["response"]) and pd.isna(r["response_harm_label"]) for r in rows.values())


def test_benchmark_of_published_size(beaver_tails):
    path, expected = beaver_tails
    version = timed("guard 3,021 records", import_dataset, "guard", "beaver", [path])
    without_gold = sum(e["gold"] is None for e in expected)
    assert version.rows == BENCHMARK_RECORDS and without_gold > 300
    assert version.summary["benchmarks"] == {path.name: {"task": "response", "inferred": True,
                                                         "rows": BENCHMARK_RECORDS, "without_gold": without_gold}}
    frame = store.load_frame(version)
    assert frame["prompt_harm_label"].isna().all() and frame["response_refusal_label"].isna().all()
    columns = ["prompt", "response", "response_harm_label"]
    got = frame[columns].astype(object).where(frame[columns].notna(), None)
    assert got.to_dict("records") == [{"prompt": e["prompt"], "response": e["response"],
                                       "response_harm_label": e["gold"]} for e in expected]
    # --task overrides the name: the same file as a refusal benchmark has labels outside refusal/compliance
    with pytest.raises(LabError, match="values outside refusal/compliance: harmful"):
        import_dataset("guard", "beaver-refusal", [path], task="refusal")


def test_wild_guard_test_carries_all_three_tasks(tmp_path):
    records = [{"instruction": INSTRUCTION, "input": "Human user:\nHi\n\nAI assistant:\nHello!\n\n", "output": "x",
                "prompt_harm_label": "unharmful", "response_harm_label": "unharmful",
                "response_refusal_label": "compliance"},
               {"instruction": INSTRUCTION, "input": "Human user:\nHurt him\n\nAI assistant:\nNone\n\n", "output": "x",
                "prompt_harm_label": "harmful", "response_harm_label": None, "response_refusal_label": None}]
    path = tmp_path / "0_4_wild_guard_test.json"
    path.write_text(json.dumps(records))
    version = import_dataset("guard", "wgt", [path])
    assert version.summary["benchmarks"][path.name] == {"task": "all", "inferred": True, "rows": 2,
                                                        "without_gold": 0}
    rows = rows_of("wgt")
    assert (rows["0_4_wild_guard_test-1"]["response_refusal_label"], rows["0_4_wild_guard_test-2"]["prompt_harm_label"]
            ) == ("compliance", "harmful")
    only_prompt = import_dataset("guard", "wgt-prompt", [path], task="prompt")
    frame = store.load_frame(only_prompt)
    assert list(frame["prompt_harm_label"]) == ["unharmful", "harmful"] and frame["response_harm_label"].isna().all()


def test_task_option_is_checked(tmp_path):
    path = tmp_path / "wg.jsonl"
    path.write_text(json.dumps({"prompt": "hi", "prompt_harm_label": "unharmful"}) + "\n")
    with pytest.raises(DataError, match=r"wg.jsonl, row 1: the task 'prompt' applies to GuardReasoner benchmark records"):
        import_dataset("guard", "task-bad", [path], task="prompt")
    with pytest.raises(LabError, match="task must be one of prompt, response, refusal"):
        import_dataset("guard", "task-bad", [path], task="harm")
    with pytest.raises(LabError, match="applies to guard"):
        import_dataset("generic", "task-bad", [path], task="prompt")


# ---- OrgAccess ----

@needs_samples
def test_orgaccess_sample_keeps_repeated_and_null_ids():
    version = import_dataset("orgaccess", "org-sample", [SAMPLES / "orgaccess-easy.jsonl"], on_bad_label="keep")
    assert version.rows == 4 and version.summary["bad_labels"] == {"expected_response": {"reject": 1}}
    frame = store.load_frame(version)
    assert list(frame["id"]) == [f"orgaccess-easy-{i}" for i in (1, 2, 3, 4)]
    assert frame["source_id"].tolist()[1:3] == ["HR_TL_001", "HR_TL_001"] and frame["source_id"].isna().sum() == 2
    assert set(frame["difficulty"]) == {"easy"}
    assert list(frame["expected_response"]) == ["full", "partial", "rejected", "reject"]


def test_orgaccess_release_of_published_size_imports_and_splits_as_seed_003(orgaccess_files):
    """The three released files in one command, as a user runs it, then seed 003's preset split."""
    imported = timed("orgaccess 55,800 rows (CLI)", cli, "data", "import", "--recipe", "orgaccess", "--name", "org",
                     *map(str, orgaccess_files), "--on-bad-label", "keep")
    assert imported["rows"] == sum(ORG_SIZES.values())
    version = store.resolve("org")
    assert version.rows == sum(ORG_SIZES.values()) and version.summary["dropped"] == 0
    assert version.summary["files"] == {f"{k}-00000-of-00001.parquet": n for k, n in ORG_SIZES.items()}
    bad = version.summary["bad_labels"]["expected_response"]
    assert set(bad) == {*ORG_NOISE, "(missing)"} and bad["reject"] == 6 and bad["approve"] == 6  # never guessed
    assert bad["(missing)"] == 2
    easy = pq.read_table(orgaccess_files[0]).column("expected_response").to_pylist()
    assert len({v.strip().lower() for v in easy}) == 37
    frame = store.load_frame("org", columns=["id", "source_id", "difficulty"])
    assert frame["id"].is_unique and frame["id"].iloc[0] == "easy-00000-of-00001-1"
    easy_ids = frame.loc[frame["difficulty"] == "easy", "source_id"]
    assert 0.96 < easy_ids.isna().mean() < 0.98 and easy_ids.value_counts().max() == 12
    assert frame.loc[frame["difficulty"] == "medium", "source_id"].isna().all()
    split = timed("orgaccess preset split (CLI)", cli, "data", "split", "org", "--preset", "orgaccess")
    assert {k: v for k, v in split["splits"].items() if v} == ORG_SPLITS
    dropped = import_dataset("orgaccess", "org-clean", orgaccess_files, on_bad_label="drop")
    assert dropped.summary["dropped"] == sum(bad.values()) and dropped.rows == version.rows - sum(bad.values())
    groups = store.resolve("org").summary["groups"]
    assert groups["hard_test"] == {"hard": 10_613} and groups["easy_test"] == {"easy": 11_484}


# ---- MSRS ----

@needs_samples
def test_msrs_sample_folder():
    version = import_dataset("raft", "msrs-sample", [SAMPLES / "msrs-story"])
    assert version.rows == 3 and version.tables == {"rows": 3, "documents": 5}
    assert version.summary["queries"] == {"train": 1, "dev": 1, "test": 1}
    assert list(version.summary["skipped"]) == ["queries_all.json"]
    rows = rows_of("msrs-sample")
    assert rows["2"]["source_split"] == "test" and json.loads(rows["2"]["gold_documents"]) == [
        "HIS_MASTER'S_VOICE_ANALOG_SCIENCE_FACT_·_SCIENCE_FICTION_1",
        "HIS_MASTER'S_VOICE_ANALOG_SCIENCE_FACT_·_SCIENCE_FICTION_2"]
    assert json.loads(rows["1"]["gold_documents"]) == ["CAPTAIN_CHAOS,_PART_ONE_1"]
    assert len(json.loads(rows["0"]["answers"])) == 4


def test_msrs_of_published_size(msrs_folder):
    version = timed("msrs 1,138 docs + 635 queries", import_dataset, "raft", "msrs-path", [msrs_folder.parent])
    assert version.rows == 635 and version.tables["documents"] == MSRS_DOCUMENTS
    assert version.summary["queries"] == MSRS_SPLITS and list(version.summary["skipped"]) == ["queries_all.json"]
    assert "resolved_loosely" not in version.summary
    frame = store.load_frame(version)
    assert sorted(frame["id"], key=int) == [str(q) for q in range(635)]
    docs = set(store.load_frame(version, table="documents")["doc_id"])
    assert docs == set(msrs_doc_ids())  # NFD file names are stored as NFC
    gold = [d for g in frame["gold_documents"] for d in json.loads(g)]
    assert set(gold) <= docs and any("·" in d for d in gold) and any("É" in d for d in gold)


def test_msrs_queries_all_alone_and_missing_documents(tmp_path):
    story = write_msrs(tmp_path / "only-all", with_splits=False)
    version = import_dataset("raft", "msrs-all", [story])
    assert version.rows == 635 and version.summary["queries"] == {"all": 635} and "skipped" not in version.summary
    broken = write_msrs(tmp_path / "broken")
    train = json.loads((broken / "queries_train.json").read_text())
    train["3"]["gold_documents"] = ["THE_LONG_WATCH_999", train["3"]["gold_documents"][0]]
    train["8"]["gold_documents"] = ["CAPTAIN_CHAOS,_PART_TWO_1"]
    (broken / "queries_train.json").write_text(json.dumps(train, ensure_ascii=False))
    with pytest.raises(DataError) as caught:
        import_dataset("raft", "msrs-broken", [broken])
    message = str(caught.value)
    assert (caught.value.file, caught.value.row, caught.value.field) == ("queries_train.json", 4, "gold_documents")
    assert "2 gold document ids not found in documents/" in message
    assert "'THE_LONG_WATCH_999' (query '3')" in message and "'CAPTAIN_CHAOS,_PART_TWO_1' (query '8')" in message
    assert "msrs-broken" not in {d["name"] for d in store.list_datasets()}


def test_msrs_typographic_apostrophe_resolves_loosely(tmp_path):
    story = tmp_path / "story"
    (story / "documents").mkdir(parents=True)
    (story / "documents" / "HIS_MASTER'S_VOICE_1.txt").write_text("text", encoding="utf-8")
    (story / "queries_test.json").write_text(json.dumps({"7": {"query": "q", "gold_documents": [
        "HIS_MASTER\u2019S_VOICE_1"], "answer": ["a"]}}), encoding="utf-8")
    version = import_dataset("raft", "msrs-loose", [story])
    assert version.summary["resolved_loosely"] == {"HIS_MASTER\u2019S_VOICE_1": "HIS_MASTER'S_VOICE_1"}
    assert json.loads(rows_of("msrs-loose")["7"]["gold_documents"]) == ["HIS_MASTER'S_VOICE_1"]


# ---- the Data page's upload ----

def test_data_page_uploads_an_msrs_zip(msrs_folder):
    archive = zip_bytes(folder_entries(msrs_folder, "data/story/"))
    at = open_page("views/data.py")
    at.selectbox(key="data_import_recipe").select("raft")
    at.run()
    at.text_input(key="data_import_name").input("msrs-zip")
    at.file_uploader(key="data_import_files").set_value(("story.zip", archive, "application/zip"))
    at.run()
    at.button(key="data_import_go").click()
    at.run(timeout=120)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Imported msrs-zip@1: 635 rows" in s.value for s in at.success)
    assert any("queries_all.json: skipped" in i.value for i in at.info)
    version = store.resolve("msrs-zip")
    assert version.tables["documents"] == MSRS_DOCUMENTS
    assert version.content_hash == msrs_reference(msrs_folder)


def test_upload_of_several_msrs_files_and_of_orgaccess_and_benchmark_files(lab, msrs_folder, beaver_tails):
    files = [(p.name, io.BytesIO(p.read_bytes())) for p in sorted((msrs_folder / "documents").iterdir())]
    files += [(p.name, io.BytesIO(p.read_bytes())) for p in sorted(msrs_folder.glob("queries_*.json"))]
    version = import_upload("raft", "msrs-files", files)
    assert version.rows == 635 and version.tables["documents"] == MSRS_DOCUMENTS
    assert version.content_hash == msrs_reference(msrs_folder)
    if SAMPLES.is_dir():
        org = import_upload("orgaccess", "org-upload", [("orgaccess-easy.jsonl", io.BytesIO(
            (SAMPLES / "orgaccess-easy.jsonl").read_bytes()))], on_bad_label="keep")
        assert org.rows == 4 and list(store.load_frame(org)["source_id"])[1] == "HR_TL_001"
    path, _ = beaver_tails
    zipped = zip_bytes({f"benchmark/{path.name}": path.read_bytes(), "__MACOSX/._x.json": b"junk", ".DS_Store": b""})
    guard = import_upload("guard", "beaver-zip", [("bench.zip", io.BytesIO(zipped))])
    assert guard.rows == BENCHMARK_RECORDS and guard.summary["benchmarks"][path.name]["task"] == "response"


@pytest.mark.parametrize("entry, message", [
    ("../evil.txt", "climbs out with '..'"),
    ("story/../../evil.txt", "climbs out with '..'"),
    ("/etc/evil.txt", "absolute path"),
    ("C:/evil.txt", "absolute path"),
])
def test_zip_entries_cannot_leave_the_upload_folder(lab, tmp_path, entry, message):
    before = uploads_left(lab)
    archive = zip_bytes({"story/documents/A_1.txt": "text", entry: "owned"})
    with pytest.raises(LabError, match=message):
        import_upload("raft", "zip-slip", [("evil.zip", io.BytesIO(archive))])
    assert uploads_left(lab) == before and not (lab / "evil.txt").exists() and not (lab.parent / "evil.txt").exists()


def test_zip_links_and_size_limit_are_refused(lab, monkeypatch):
    before = uploads_left(lab)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("story/documents/LINK_1.txt")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(LabError, match="symbolic link"):
        import_upload("raft", "zip-link", [("link.zip", io.BytesIO(buffer.getvalue()))])
    monkeypatch.setenv("FTLAB_MAX_UPLOAD_MB", "1")
    bomb = zip_bytes({"data/a.jsonl": b" " * (2 * 1024 * 1024)})  # a few KB compressed, 2 MB unpacked
    with pytest.raises(LabError, match="unpacked, is larger than the upload limit of 1 MB"):
        import_upload("generic", "zip-bomb", [("bomb.zip", io.BytesIO(bomb))])
    with pytest.raises(LabError, match="not a readable zip file"):
        import_upload("generic", "zip-bad", [("bad.zip", io.BytesIO(b"not a zip"))])
    assert uploads_left(lab) == before


def test_failed_upload_import_leaves_nothing(lab, tmp_path):
    before = uploads_left(lab)
    story = write_msrs(tmp_path / "m")
    shutil.rmtree(story / "documents")
    (story / "documents").mkdir()
    (story / "documents" / "OTHER_1.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match="not found in documents/"):
        import_upload("raft", "msrs-bad", [(p.name, io.BytesIO(p.read_bytes())) for p in sorted(story.rglob("*.*"))])
    assert uploads_left(lab) == before and "msrs-bad" not in {d["name"] for d in store.list_datasets()}
