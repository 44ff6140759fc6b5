import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from backend.data import store
from backend.retrieval import leakage
from backend.retrieval.leakage import latest_leakage_job, launch_leakage, leakage_report, normalise, run_leakage_job
from backend.data.splits import split_dataset
from backend.errors import LabError
from backend.jobs import manager
from backend.jobs.context import JobContext
from backend.jobs.files import PROGRESS
from backend.retrieval.cache import EmbeddingCache
from backend.retrieval.embeddings import DEFAULT_MODEL, embed_texts, load_embedder, resolve_model_path
from tests.browser_support import ROOT
from tests.support import isolated_state, open_page

TRAIN = [
    "How do I bake bread at home?",
    "What is the capital of France?",
    "Explain how vaccines train the immune system.",
    "Write a poem about the sea.",
    "How to change a flat tyre on a bicycle?",
    "Give me tips for a job interview.",
    "What causes rainbows to appear?",
    "Translate 'good morning' into Spanish.",
]
TEST = [
    ("t-exact", "  what is the CAPITAL of\tfrance?  "),  # exact after normalisation
    ("t-para", "How can I bake bread at home?"),  # paraphrase, cosine ~0.99
    ("t-unrelated", "Describe the mating habits of octopuses."),
    ("t-unrelated-2", "Recommend a science fiction novel."),
]
VALIDATION = [
    ("v-related", "Why do rainbows form after rain?"),  # same topic, cosine ~0.83
    ("v-unrelated", "List three uses of copper."),
]


def split_dataset_version(name: str, train: list[str], test: list, validation: list) -> store.DatasetVersion:
    """A generic dataset `name` with train rows a0, a1, ... and the given (id, text) test and validation rows."""
    rows = [(f"a{i}", text, "train") for i, text in enumerate(train)]
    rows += [(i, text, "test") for i, text in test] + [(i, text, "validation") for i, text in validation]
    frame = pd.DataFrame(rows, columns=["id", "prompt", "split"])
    frame["response"] = "ok"
    with store.VersionWriter(name, "generic", "import") as writer:
        writer.write(frame)
        return writer.commit()


def leaky_dataset() -> store.DatasetVersion:
    return split_dataset_version("leaky", TRAIN, TEST, VALIDATION)


def test_normalise():
    assert normalise("  Ｈｅｌｌｏ\n  WORLD\t!") == "hello world !"
    assert normalise("Straße") == normalise("STRASSE")


def test_finds_exact_and_paraphrased_leaks_not_unrelated(state):
    version = leaky_dataset()
    seen = []
    report = leakage_report(version.ref, threshold=0.9, progress=lambda f, m: seen.append(f))
    assert report.b == "test,validation" and report.checked == {"a": 8, "b": 6}
    assert report.model == DEFAULT_MODEL
    assert (report.exact, report.near) == (1, 1)
    by_b = {p.b_id: p for p in report.pairs}
    assert set(by_b) == {"t-exact", "t-para"}
    assert (by_b["t-exact"].kind, by_b["t-exact"].a_id, by_b["t-exact"].score) == ("exact", "a1", 1.0)
    para = by_b["t-para"]
    assert (para.kind, para.a_id, para.a_split, para.b_split) == ("near", "a0", "train", "test")
    assert para.a_text == "How do I bake bread at home?" and 0.9 <= para.score < 1.0
    assert report.pairs[0].kind == "exact"
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert json.loads(json.dumps(report.to_json()))["pairs"][1]["b_id"] == "t-para"


def test_threshold_changes_the_result(state):
    version = leaky_dataset()
    strict = leakage_report(version.ref, threshold=0.999)
    assert (strict.exact, strict.near) == (1, 0)
    loose = leakage_report(version.ref, threshold=0.75)
    assert (loose.exact, loose.near) == (1, 2)
    assert {p.b_id for p in loose.pairs if p.kind == "near"} == {"t-para", "v-related"}
    only_validation = leakage_report(version.ref, b="validation", threshold=0.75, max_pairs=1)
    assert only_validation.b == "validation" and only_validation.checked == {"a": 8, "b": 2}
    assert (only_validation.exact, only_validation.near, len(only_validation.pairs)) == (0, 1, 1)


def test_columns_choose_the_compared_text(state):
    version = leaky_dataset()
    report = leakage_report(version.ref, columns=["response"], threshold=0.9)
    assert report.exact == 6 and report.near == 0  # every response is "ok"
    with pytest.raises(LabError, match="text column 'answer' is not in dataset leaky@1"):
        leakage_report(version.ref, columns=["answer"])


def test_leakage_after_split_dataset(state):
    texts = [f"Question number {i} about topic {i % 7}?" for i in range(40)]
    frame = pd.DataFrame({"id": [f"q{i}" for i in range(40)], "prompt": texts, "label": ["x", "y"] * 20})
    frame.loc[39, "prompt"] = frame.loc[0, "prompt"].upper()  # a duplicate somewhere in the data
    with store.VersionWriter("qs", "generic", "import") as writer:
        writer.write(frame)
        writer.commit()
    split = split_dataset("qs", ratios={"train": 0.5, "test": 0.5}, seed=1)
    assignment = store.load_frame(split).set_index("id")["split"]
    assert (assignment["q0"], assignment["q39"]) == ("test", "train")  # seed 1 puts the twins on both sides
    report = leakage_report(split.ref, threshold=1.0)
    assert report.b == "test" and report.checked == {"a": 20, "b": 20}
    assert report.exact == 1 and (report.pairs[0].a_id, report.pairs[0].b_id) == ("q39", "q0")


def test_bad_requests(state):
    version = leaky_dataset()
    with pytest.raises(LabError, match=r"no split 'holdout' \(splits: test, train, validation\)"):
        leakage_report(version.ref, b="holdout")
    with pytest.raises(LabError, match="compared with itself"):
        leakage_report(version.ref, b="train")
    with pytest.raises(LabError, match="threshold"):
        leakage_report(version.ref, threshold=1.5)
    with store.VersionWriter("plain", "generic", "import") as writer:
        writer.write(pd.DataFrame({"id": ["1"], "prompt": ["hi"]}))
        writer.commit()
    with pytest.raises(LabError, match="has no splits yet"):
        leakage_report("plain")


def test_embed_texts_keeps_order_and_normalises():
    texts = ["short", "a much longer sentence about baking bread at home", "", "medium length text"]
    vectors = embed_texts(texts, batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    alone = embed_texts([texts[1]])
    assert np.allclose(vectors[1], alone[0], atol=1e-5)
    assert embed_texts([]).shape == (0, 384)
    assert load_embedder() is load_embedder(DEFAULT_MODEL)


def test_model_resolution(tmp_path, monkeypatch):
    assert resolve_model_path().endswith("model")
    assert resolve_model_path(f"sentence-transformers/{DEFAULT_MODEL}") == resolve_model_path()
    assert resolve_model_path(str(tmp_path)) == str(tmp_path.resolve())
    with pytest.raises(LabError, match="does not exist"):
        resolve_model_path(str(tmp_path / "missing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(LabError, match="not-a-real-org/no-such-model.*local Hugging Face cache"):
        resolve_model_path("not-a-real-org/no-such-model")
    assert time.monotonic() - started < 10


# -- the leakage job ---------------------------------------------------------------------------------

PLANTED_TRAIN = TRAIN + [
    "What are good exercises for lower back pain?",
    "Summarise the plot of Hamlet in three sentences.",
    "How do I reset my router password?",
    "What is the boiling point of water at sea level?",
]
PLANTED_TEST = [
    ("x-france", "  what is the CAPITAL of\tfrance?  "),  # exact copies after normalisation
    ("x-poem", "WRITE A POEM ABOUT THE SEA."),
    ("n-back", "Which exercises are good for lower back pain?"),  # paraphrases, cosine ~0.98-0.99
    ("n-hamlet", "In three sentences, summarize the plot of Hamlet."),
    ("n-router", "How can I reset the password of my router?"),
    ("n-bread", "How can I bake bread at home?"),
    ("u-email", "How do I reset my email password?"),  # same words as a training row, another question (~0.62)
    ("u-octopus", "Describe the mating habits of octopuses."),
    ("u-novel", "Recommend a science fiction novel."),
]
PLANTED_VALIDATION = [("n-boil", "At sea level, what is water's boiling point?"), ("u-copper", "List three uses of copper.")]
NEAR_TWINS = {"n-back": "a8", "n-hamlet": "a9", "n-router": "a10", "n-bread": "a0", "n-boil": "a11"}
DISTINCT_TEXTS = len(PLANTED_TRAIN) + len(PLANTED_TEST) + len(PLANTED_VALIDATION) - 2  # the exact copies need none


def planted_dataset() -> store.DatasetVersion:
    return split_dataset_version("planted", PLANTED_TRAIN, PLANTED_TEST, PLANTED_VALIDATION)


def job_spec(version, **changes) -> dict:
    return {"kind": "leakage", "dataset": version.ref, "a": "train", "b": "test,validation", "threshold": 0.9,
            "max_pairs": 200, "columns": None, "gpus": 0, **changes}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with isolated_state(tmp_path_factory, "leakage-jobs") as state:
        yield SimpleNamespace(state=state, version=planted_dataset())


@pytest.fixture(scope="module")
def first_run(lab, tmp_path_factory):
    """The job's function in this process (the model is loaded here already), with an empty embedding cache."""
    ctx = JobContext(job_id="first", job_dir=tmp_path_factory.mktemp("first-job"), spec=job_spec(lab.version))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(leakage, "SEARCH_BATCH", 3)  # several search steps, so there is an ETA mid-way
        result = run_leakage_job(ctx)
    return ctx, result


def test_job_finds_planted_duplicates_and_reports_progress(first_run):
    ctx, result = first_run
    assert (result["exact"], result["near"]) == (2, 5)
    by_b = {p["b_id"]: p for p in result["pairs"]}
    assert set(by_b) == {"x-france", "x-poem", *NEAR_TWINS}  # no unrelated row, not even u-email
    assert {b: p["a_id"] for b, p in by_b.items() if p["kind"] == "near"} == NEAR_TWINS
    assert all(0.9 <= p["score"] < 1 for p in by_b.values() if p["kind"] == "near")
    assert by_b["n-boil"]["b_split"] == "validation" and by_b["n-boil"]["b_text"] == PLANTED_VALIDATION[0][1]
    assert by_b["n-boil"]["a_text"] == "What is the boiling point of water at sea level?"
    assert (by_b["x-poem"]["kind"], by_b["x-poem"]["a_id"], by_b["x-poem"]["score"]) == ("exact", "a3", 1.0)
    assert result["checked"] == {"a": 12, "b": 11} and result["dataset"] == "planted@1"
    assert (result["embedded"], result["cached"]) == (DISTINCT_TEXTS, 0)
    assert json.loads((ctx.artifacts / leakage.REPORT_FILE).read_text()) == result

    records = [json.loads(line) for line in (ctx.job_dir / PROGRESS).read_text().splitlines()]
    phases = [r["phase"] for r in records]
    assert phases == sorted(phases, key=["compare", "embed", "search"].index)
    embed = [r for r in records if r["phase"] == "embed"]
    assert embed[0]["done"] == 0 and embed[-1]["done"] == embed[-1]["total"] == DISTINCT_TEXTS
    assert embed[-1]["rows_per_s"] > 0 and embed[-1]["eta_s"] == 0
    search = [r for r in records if r["phase"] == "search"]
    assert [(r["done"], r["total"]) for r in search] == [(0, 9), (3, 9), (6, 9), (9, 9)]  # rows without an exact twin
    assert search[1]["rows_per_s"] > 0 and search[1]["eta_s"] >= 0 and search[-1]["near"] == 5


def test_second_run_as_a_job_embeds_nothing(lab, first_run):
    stored = EmbeddingCache().count()
    job = launch_leakage("planted", threshold=0.9)  # pinned to the version the name resolves to now
    assert job.kind == "leakage" and manager.spec(job.id)["dataset"] == "planted@1"
    done = manager.wait(job.id, timeout=120)
    assert done.status == "succeeded", manager.log_tail(job.id)
    result = done.result
    assert (result["embedded"], result["cached"]) == (0, DISTINCT_TEXTS)  # every vector came from the cache
    assert EmbeddingCache().count() == stored
    first = first_run[1]
    assert [(p["b_id"], p["a_id"]) for p in result["pairs"]] == [(p["b_id"], p["a_id"]) for p in first["pairs"]]
    assert json.loads((Path(done.job_dir) / "artifacts" / leakage.REPORT_FILE).read_text()) == result
    assert done.progress["phase"] == "search" and done.progress["done"] == done.progress["total"] == 9
    assert latest_leakage_job("planted@1").id == job.id
    assert "from the cache" in manager.log_tail(job.id)


def test_cancelled_job_saves_no_report(lab, first_run, tmp_path):
    ctx = JobContext(job_id="cancelled", job_dir=tmp_path, spec=job_spec(lab.version))
    ctx.cancel_event.set()
    assert run_leakage_job(ctx) == {"dataset": "planted@1", "cancelled": True}
    assert not (ctx.artifacts / leakage.REPORT_FILE).exists()


def test_cli_launches_the_job_and_waits_for_its_report(lab, first_run):
    def cli(*args: str) -> tuple[dict, str]:
        out = subprocess.run([sys.executable, "-m", "backend", "data", "leakage", *args, "--json"], cwd=ROOT,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr
        return json.loads(out.stdout), out.stderr

    report, stderr = cli("planted", "--b", "test", "--threshold", "0.95", "--wait")
    assert report["status"] == "succeeded" and report["job_id"].split("-")[2] == "leakage"
    assert (report["a"], report["b"], report["threshold"]) == ("train", "test", 0.95)
    assert (report["exact"], report["near"], report["embedded"]) == (2, 4, 0)
    assert {p["b_id"] for p in report["pairs"]} == {"x-france", "x-poem", "n-back", "n-hamlet", "n-router", "n-bread"}
    assert "[search] 7 of 7" in stderr  # progress went to stderr; stdout is one JSON object
    queued, _ = cli("planted", "--b", "validation")
    assert set(queued) == {"job_id", "status"}
    assert manager.wait(queued["job_id"], timeout=120).result["near"] == 1


def test_data_page_launches_the_job_and_keeps_its_result(lab, first_run):
    def page() -> AppTest:
        at = open_page("views/data.py")
        at.selectbox(key="data_leak_dataset").select("planted")
        at.run()
        return at

    at = page()
    at.selectbox(key="data_leak_b").select("validation")
    at.slider(key="data_leak_threshold").set_value(0.95)
    at.button(key="data_leak_go").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job = latest_leakage_job("planted")
    assert (manager.spec(job.id)["b"], manager.spec(job.id)["threshold"]) == ("validation", 0.95)
    assert manager.wait(job.id, timeout=120).status == "succeeded"
    for shown in (at, page()):  # the page that launched it, and a fresh session (a reload) that did not
        shown.run()
        assert not shown.exception, [e.value for e in shown.exception]
        metrics = {m.label: m.value for m in shown.metric}
        assert (metrics["Exact duplicates"], metrics["Near duplicates"]) == ("0", "1")
        assert any(job.id in m.value for m in shown.markdown)  # the job's live view
        pairs = next(d.value for d in shown.dataframe if "b_id" in d.value.columns)
        assert list(pairs["b_id"]) == ["n-boil"] and list(pairs["a_id"]) == ["a11"]
