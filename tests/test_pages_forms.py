"""Forms keep what the user chose: across pages in one session (AppTest keeps session_state across
switch_page, as a browser session does), the dataset just made is the one every picker offers, the last
teacher is remembered per user (never its key); and what the pages say: bad labels name the form's option,
imports show dropped rows, an unpriced teacher shows "no price (local model)" and what it would cost."""
import csv
import json

import pytest

from backend.cli import main as cli_main
from backend.data.demo import create_demo_datasets
from backend.jobs import manager
from backend.preferences import get_preference, last_teacher, remember_teacher, set_preference
from backend.storage.db import connect
from backend.traces import records, report
from backend.traces.teachers import Teacher
from backend.users import acting_as
from tests.openai_server import FakeOpenAI, message_text
from tests.support import open_page
from tests.trace_support import make_dataset, make_guard_responder, start_trace_job

KEY = "sk-test-0123456789abcdefghij"


@pytest.fixture()
def demo(state, monkeypatch):
    monkeypatch.setenv("FTLAB_GPUS", "")
    create_demo_datasets()
    return state


def go(at, page: str):
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ---- choices survive navigating away and back -------------------------------------------------------------

def test_traces_form_survives_a_visit_to_another_page(state):
    make_dataset("g", 4)
    at = open_page("views/traces.py")
    at.multiselect(key="traces_models").set_value([])
    at.text_input(key="traces_custom_model").input("llama3")
    at.text_input(key="traces_base_url").input("http://127.0.0.1:9/v1")
    at.text_input(key="traces_price_model").input("gpt-4o")
    at.number_input(key="traces_limit").set_value(3)
    at.selectbox(key="traces_reference_model").select("gpt-4o")
    at.run()
    go(at, "views/data.py")
    go(at, "views/traces.py")
    assert at.text_input(key="traces_base_url").value == "http://127.0.0.1:9/v1"
    assert at.text_input(key="traces_custom_model").value == "llama3"
    assert at.multiselect(key="traces_models").value == []
    assert at.text_input(key="traces_price_model").value == "gpt-4o"
    assert at.number_input(key="traces_limit").value == 3
    assert at.selectbox(key="traces_reference_model").value == "gpt-4o"


def test_curate_sliders_and_train_form_survive_navigation_and_train_offers_the_chosen_dataset(demo):
    at = open_page("views/data.py")
    at.selectbox(key="data_curate_dataset").select("demo-saige")
    at.run()
    at.slider(key="data_saige_max_harm").set_value(0.05)
    at.slider(key="data_saige_difficulty").set_value((2, 4))
    at.run()
    kept = next(m.value for m in at.metric if m.label == "Rows kept")
    go(at, "views/train.py")
    assert at.selectbox(key="train_dataset").value == "demo-saige"  # the one chosen on the Data page
    at.number_input(key="train_tiny_max_steps").set_value(60)
    at.run()
    go(at, "views/jobs.py")
    go(at, "views/train.py")
    assert at.number_input(key="train_tiny_max_steps").value == 60
    assert at.selectbox(key="train_dataset").value == "demo-saige"
    assert any("--set max_steps=60" in c.value for c in at.code)
    # the memory table of the tiny model: sizes in MB / KB, not 0 GB
    [memory] = [d.value for d in at.dataframe if "weights" in d.value.columns]
    for part in ("weights", "gradients", "optimizer"):
        assert memory[part].iloc[0] not in ("0", "0.0", "0.00", 0) and memory[part].iloc[0].endswith(("MB", "KB"))
    go(at, "views/data.py")
    assert at.slider(key="data_saige_max_harm").value == 0.05
    assert at.slider(key="data_saige_difficulty").value == (2, 4)
    assert next(m.value for m in at.metric if m.label == "Rows kept") == kept
    at.text_input(key="data_split_ratios").set_value("0.7,0.2,0.1")
    at.number_input(key="data_split_seed").set_value(7)
    at.run()
    go(at, "views/jobs.py")
    go(at, "views/data.py")
    assert at.text_input(key="data_split_ratios").value == "0.7,0.2,0.1"  # the Split tab keeps its choices too
    assert at.number_input(key="data_split_seed").value == 7


# ---- the dataset just made; bad labels; dropped rows -------------------------------------------------------

def orgaccess_csv(path, bad: int = 2) -> str:
    rows = []
    for i in range(12):
        label = ("full", "partial", "rejected")[i % 3] if i >= bad else "approve"
        rows.append({"id": f"r{i}", "user_role": "analyst", "permissions": json.dumps({"department": "sales"}),
                     "query": f"Show report {i}", "expected_response": label, "rationale": "why",
                     "difficulty": "easy"})
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def test_import_names_the_forms_option_shows_dropped_rows_and_every_picker_offers_it(demo, tmp_path, capsys):
    path = orgaccess_csv(tmp_path / "org.csv")
    at = open_page("views/data.py")
    at.selectbox(key="data_import_recipe").select("orgaccess")
    at.run()
    at.text_input(key="data_import_name").input("org")
    at.radio(key="data_import_source").set_value("Path on the server")
    at.run()
    at.text_area(key="data_import_paths").input(path)
    at.run()
    at.button(key="data_import_go").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [error] = [e.value for e in at.error]
    assert "2 rows have labels outside full/partial/rejected: approve (2)" in error
    assert "choose drop or keep under 'Bad labels" in error and "--on-bad-label" not in error
    # the CLI keeps its own wording
    rc = cli_main(["data", "import", "--recipe", "orgaccess", "--name", "org", path])
    assert rc != 0 and "; choose --on-bad-label drop or keep (first: org.csv row 1" in capsys.readouterr().err

    at.radio(key="data_import_bad_label").set_value("drop")
    at.button(key="data_import_go").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Imported org@1: 10 rows, 2 dropped, 2 with bad labels") for s in at.success)
    assert any("2 rows dropped" in i.value for i in at.info)
    for key in ("data_browse", "data_curate", "data_split", "data_export"):  # the one just made, not the first
        assert at.selectbox(key=f"{key}_dataset").value == "org"
    go(at, "views/train.py")
    assert at.selectbox(key="train_dataset").value == "org"

    go(at, "views/data.py")  # a filter makes the next one
    at.selectbox(key="data_filter_column").select("query")
    at.selectbox(key="data_filter_op").select("!=")
    at.text_input(key="data_filter_value").input("Show report 5")
    at.button(key="data_filter_add").click()
    at.run()
    at.button(key="data_filter_save").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value == "Saved org-filtered@1: 9 rows." for s in at.success), (
        [s.value for s in at.success], [e.value for e in at.error], [c.value for c in at.code])
    assert at.selectbox(key="data_export_dataset").value == "org-filtered"
    assert at.selectbox(key="data_split_dataset").value == "org-filtered"
    go(at, "views/train.py")
    assert at.selectbox(key="train_dataset").value == "org-filtered"


# ---- the last teacher, per user ----------------------------------------------------------------------------

def test_preferences_are_per_user_and_a_teacher_is_kept_without_its_key(state):
    teacher = Teacher(model="llama3", base_url="http://127.0.0.1:9/v1", api_key_env="MY_SECRET_KEY",
                      price_model="gpt-4o-mini")
    assert last_teacher() is None
    assert remember_teacher(teacher) == {"model": "llama3", "base_url": "http://127.0.0.1:9/v1",
                                         "provider": "openai", "price_model": "gpt-4o-mini"}
    assert last_teacher()["model"] == "llama3"
    with acting_as("someone-else"):
        assert last_teacher() is None and get_preference("last_teacher", "none") == "none"
        set_preference("last_teacher", {"model": "gpt-4o"})
        assert last_teacher()["model"] == "gpt-4o"
    assert last_teacher()["model"] == "llama3"
    with connect() as db:
        stored = json.dumps(list(db.query("SELECT * FROM user_preferences")))
    assert "MY_SECRET_KEY" not in stored and "api_key" not in stored


# ---- an unpriced teacher, a new job shown at once, unparseable replies -------------------------------------

def fussy_teacher(body: dict) -> str:
    """Guard traces (they start with '# Task 1'), except for prompts about weapons: no labels at all."""
    user = message_text([m for m in body["messages"] if m["role"] == "user"][-1])
    if "weapons" in user:
        return "I would rather not label this one."
    return make_guard_responder()(body)


def test_unpriced_teacher_new_job_at_once_unparseable_replies_and_the_teacher_remembered(state, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    make_dataset("g", 6)
    with FakeOpenAI(responder=fussy_teacher, api_key=KEY, models=None) as server:
        url = server.base_url
        at = open_page("views/traces.py")
        at.multiselect(key="traces_models").set_value([])
        at.text_input(key="traces_custom_model").input("llama3")
        at.text_input(key="traces_base_url").input(server.base_url)
        at.run()
        [table] = [d.value for d in at.dataframe if "teacher" in d.value.columns]
        assert list(table["USD"]) == [report.NO_PRICE] and table["would be"].iloc[0].endswith(" at gpt-4o-mini")
        at.number_input(key="traces_rejects").set_value(0)
        first = start_trace_job(at)
        at.run()
        assert at.selectbox(key="traces_job_pick").value == first
        metrics = {m.label: m.value for m in at.metric}
        assert metrics["spent"] == report.NO_PRICE and "spent (USD)" not in metrics  # not "0.0000"
        led = records.ledger(first)
        would = report.reference_usd("gpt-4o-mini", led["input_tokens"], led["output_tokens"])
        assert would > 0
        assert any(c.value == f"Spent: {report.NO_PRICE} · would be ${would:.4f} at gpt-4o-mini" for c in at.caption)
        assert any(f"{report.NO_PRICE} · would be ${would:.4f} at gpt-4o-mini;" in c.value and c.value.startswith(
            "Ledger:") for c in at.caption)
        assert metrics["accepted (per item)"] == "4 of 6"  # rows 0 and 3 are about weapons
        assert metrics["agreement (per attempt)"] == "67%"
        assert any("4 of 6 attempts agreed with the gold label, 0 disagreed, 2 unparseable" in c.value
                   for c in at.caption)
        at.selectbox(key="traces_reference_model").select("gpt-4o")
        at.run()
        assert any(c.value.startswith("Ledger:") and " at gpt-4o;" in c.value for c in at.caption)

        at.radio(key="traces_browse_status").set_value("rejected")
        at.run()
        labels = [e.label for e in at.expander if e.label.startswith("Attempt 1")]
        assert labels and all("unparseable" in label and "disagrees" not in label for label in labels)
        at.radio(key="traces_browse_status").set_value("accepted")
        at.run()
        [shown] = [c.value for c in at.code if "Answers:" in c.value]
        assert shown.startswith("# Task 1")  # shown as text
        assert not any("# Task 1" in m.value for m in at.markdown)  # never as a Markdown heading

        at.number_input(key="traces_limit").set_value(2)  # a second job: shown at once, no reload
        at.button(key="traces_start").click()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        second = at.session_state["traces_job"]
        assert second != first
        assert at.selectbox(key="traces_job_pick").value == second
        assert at.selectbox(key="traces_browse_job").value == second
        assert any(f"`{second}`" in m.value for m in at.markdown)
        assert manager.wait(second, timeout=120).status == "succeeded"

    assert last_teacher() == {"model": "llama3", "base_url": url, "provider": "openai", "price_model": None}
    fresh = open_page("views/traces.py")  # a new session of the same user: the last teacher is offered
    assert fresh.text_input(key="traces_base_url").value == url
    assert fresh.text_input(key="traces_custom_model").value == "llama3"
    assert fresh.multiselect(key="traces_models").value == []
    monkeypatch.setenv("FTLAB_USER", "someone-else")
    other = open_page("views/traces.py")  # another user's page: not this teacher
    assert other.text_input(key="traces_base_url").value == ""
    assert other.text_input(key="traces_custom_model").value == ""


def test_verdicts_tell_unparseable_from_disagreeing():
    gold = {"prompt_harm_label": "harmful", "response_harm_label": None}
    assert report.verdict({"agrees": 1, "labels": {"prompt_harm_label": "harmful"}}, (), gold) == report.AGREES
    assert report.verdict({"agrees": 0, "labels": {"prompt_harm_label": "unharmful"}}, (), gold) == report.DISAGREES
    assert report.verdict({"agrees": 0, "labels": json.dumps({"prompt_harm_label": None})}, (), gold) == \
        report.UNPARSEABLE
    assert report.verdict({"agrees": 0, "labels": {"answer": ""}}, ("answer",), {}) == report.UNPARSEABLE
    assert report.verdict({"agrees": None, "labels": {}}, (), {}) is None
    spent = report.spend(0.0, False, 1_000_000, 0, source="no price", reference="gpt-4o-mini")
    assert spent.label == report.NO_PRICE and spent.would_be.startswith("would be $") and "gpt-4o-mini" in spent.text
    assert report.spend(0.1234, True, 10, 10).text == "0.1234 USD"


def test_a_benchmark_file_with_another_name_asks_for_the_task_box_then_imports(state, tmp_path):
    """GuardReasoner benchmark rows whose file name says no task: the page points at its own task box (no CLI
    flag), and the import goes through once a task is chosen there."""
    record = {"instruction": "You are a classifier for analyzing interactions between humans and AI.",
              "input": "Human user:\nHow do I bake bread?\n\nAI assistant:\nNone\n\n", "output": "unharmful"}
    path = tmp_path / "my_benchmark.json"
    path.write_text(json.dumps([record, dict(record, output="harmful")]))
    at = open_page("views/data.py")
    at.selectbox(key="data_import_recipe").select("guard")
    at.run()
    at.text_input(key="data_import_name").input("bench")
    at.radio(key="data_import_source").set_value("Path on the server")
    at.run()
    at.text_area(key="data_import_paths").input(str(path))
    at.run()
    at.button(key="data_import_go").click()
    at.run()
    [error] = [e.value for e in at.error]
    assert "say which task the label belongs to under 'Task of GuardReasoner benchmark files'" in error
    assert "--task" not in error
    at.selectbox(key="data_import_task").select("prompt")
    at.button(key="data_import_go").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Imported bench@1: 2 rows") for s in at.success)
    assert any("task prompt" in i.value for i in at.info)
