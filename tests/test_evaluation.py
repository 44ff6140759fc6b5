"""Evaluation as a job: a trained tiny model at every checkpoint, and a teacher baseline over HTTP."""

import pytest

from backend.data.demo import create_demo_datasets
from backend.data.splits import split_dataset
from backend.evaluation.runner import EvalRequest, launch_evaluation, list_evaluations, load_results
from backend.jobs import manager
from backend.traces import records
from backend.traces.teachers import Teacher
from backend.training.launch import launch_training
from backend.training.spec import preset_spec
from tests.openai_server import FakeOpenAI, message_text
from tests.support import isolated_state, open_page

KEY = "sk-test-0123456789abcdefghij"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    with isolated_state(tmp_path_factory, "eval", OPENAI_API_KEY=KEY) as state:
        create_demo_datasets()
        split = split_dataset("demo-orgaccess", preset="orgaccess")
        spec = preset_spec("tiny", split.ref, ["max_steps=12", "save_steps=6", "eval_steps=0", "max_seq_length=384"])
        job = manager.wait(launch_training(spec).id, timeout=300)
        assert job.status == "succeeded", job.error
        yield {"state": state, "dataset": split.ref, "train_job": job.id}


def test_every_checkpoint_scored_and_best_named(trained):
    job = launch_evaluation(EvalRequest(dataset=trained["dataset"], split="validation", train_job=trained["train_job"],
                                        checkpoint="all", max_new_tokens=12, limit=16, batch_size=8))
    final = manager.wait(job.id, timeout=300)
    assert final.status == "succeeded", final.error
    summary = final.result
    names = [e["checkpoint"] for e in summary["evaluations"]]
    assert names == ["checkpoint-6", "checkpoint-12", "final"]
    assert summary["best"]["headline"] == "macro_f1"
    assert summary["best"]["headline_value"] == max(e["headline_value"] for e in summary["evaluations"])
    results, predictions = load_results(summary["evaluations"][-1]["id"])
    metrics = results["metrics"]
    assert metrics["n"] == 16 == len(predictions)
    assert metrics["confusion"]["labels"] == ["full", "partial", "rejected"]
    assert sum(map(sum, metrics["confusion"]["matrix"])) == 16
    assert set(metrics["by_difficulty"]) <= {"easy", "medium"}
    # A 12-step tiny model rarely writes "Response type:" — whatever it wrote is counted, never dropped.
    assert metrics["unparseable"] == sum(1 for p in predictions if p["parsed"]["expected_response"] is None)
    rows = list_evaluations(train_job=trained["train_job"])
    assert {r["checkpoint"] for r in rows} == {"checkpoint-6", "checkpoint-12", "final"}


def answer_from_permissions(body: dict) -> str:
    user = message_text([m for m in body["messages"] if m["role"] == "user"][-1])
    label = "rejected" if "delete" in user.lower() else "partial" if "remote" in user.lower() else "full"
    return f"Response type: {label}\n\nRationale: checked the permissions."


def test_teacher_baseline_on_test_splits(trained):
    with FakeOpenAI(responder=answer_from_permissions, api_key=KEY) as server:
        teacher = Teacher(model="gpt-4o-mini", base_url=server.base_url, rpm=None, tpm=None, concurrency=8)
        job = launch_evaluation(EvalRequest(dataset=trained["dataset"], teacher=teacher, limit=40, max_new_tokens=64))
        final = manager.wait(job.id, timeout=120)
        usage = server.usage_totals()
    assert final.status == "succeeded", final.error
    assert "easy_test" in final.result["split"]
    results, predictions = load_results(final.result["best"]["id"])
    assert results["metrics"]["unparseable"] == 0 and len(predictions) == 40
    assert usage["requests"] == 40
    led = records.ledger(job.id)
    assert led["input_tokens"] == usage["prompt_tokens"] and led["usd"] > 0
    gold = [p["gold"]["expected_response"] for p in predictions]
    guessed = [p["parsed"]["expected_response"] for p in predictions]
    assert results["metrics"]["accuracy"] == pytest.approx(sum(g == p for g, p in zip(gold, guessed)) / 40)


def first_document_answer(body: dict) -> str:
    user = message_text([m for m in body["messages"] if m["role"] == "user"][-1])
    first = user.split("<DOCUMENT>")[1].split("</DOCUMENT>")[0] if "<DOCUMENT>" in user else ""
    sentence = first.split(".")[0].strip()
    return f"The context says ##begin_quote## {sentence} ##end_quote##.\n<ANSWER>: {sentence}"


def test_raft_distractor_stress(trained):
    with FakeOpenAI(responder=first_document_answer, api_key=KEY) as server:
        teacher = Teacher(model="gpt-4o-mini", base_url=server.base_url, rpm=None, tpm=None, concurrency=8)
        job = launch_evaluation(EvalRequest(dataset="demo-raft", teacher=teacher, limit=12, distractors=3,
                                            max_new_tokens=128))
        final = manager.wait(job.id, timeout=120)
        bodies = [r["body"] for r in server.paid_requests()]
    assert final.status == "succeeded", final.error
    results, predictions = load_results(final.result["best"]["id"])
    metrics = results["metrics"]
    assert metrics["n"] == 12 and metrics["stress"]["n"] == 12 and metrics["stress"]["distractors"] == 3
    documents = sorted(message_text(b["messages"][-1]).count("<DOCUMENT>") for b in bodies)
    assert len(bodies) == 24 and documents[-1] >= documents[0] + 3  # stressed prompts carry 3 more documents
    assert metrics["quote_faithfulness"] == 1.0  # quotes copied from a gold document are found in it
    assert "delta_token_f1" in metrics["stress"]


def test_evaluate_page_confusion_cell_lists_its_examples(trained):
    with FakeOpenAI(responder=answer_from_permissions, api_key=KEY) as server:
        teacher = Teacher(model="gpt-4o-mini", base_url=server.base_url, rpm=None, tpm=None, concurrency=8)
        job = manager.wait(launch_evaluation(EvalRequest(dataset=trained["dataset"], teacher=teacher, limit=30,
                                                         max_new_tokens=64)).id, timeout=120)
    eval_id = job.result["best"]["id"]
    results, predictions = load_results(eval_id)
    at = open_page("views/evaluate.py")
    at.selectbox(key="evaluate_result").set_value(eval_id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Teacher cost" in c.value for c in at.caption)
    confusion = results["metrics"]["confusion"]
    row = confusion["labels"].index("rejected")
    col = confusion["columns"].index("rejected")
    at.selectbox(key="evaluate_cell_gold").set_value("rejected")
    at.selectbox(key="evaluate_cell_pred").set_value("rejected")
    at.run()
    shown = [c.value for c in at.caption if c.value.endswith("example(s)")]
    assert shown == [f"{confusion['matrix'][row][col]} example(s)"]
    assert len(at.expander) >= confusion["matrix"][row][col]
