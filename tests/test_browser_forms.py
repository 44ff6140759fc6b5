"""What only a browser shows about the Traces page: its form keeps the teacher (a local model with no price), the
base URL and the row limit after a visit to the Data page (Streamlit drops the widgets of a page not drawn); an
unpriced teacher says "no price (local model)" and what it would cost at a reference model, never "$0.00"; a
trace job just started is the one the "Trace job" panel shows, at once, the second time too (no reload); Browse
traces shows replies as text (a "# Task 1" reply is no heading), tells an unparseable reply from a disagreeing
one and says which numbers count attempts and which items. One dashboard, one browser."""
import re

from playwright.sync_api import expect

from backend.jobs import manager
from backend.traces import records, report
from tests.browser_support import chromium_page, dashboard, field, go, grid_rows, idle, type_into, wide
from tests.openai_server import FakeOpenAI
from tests.support import wait_for
from tests.test_pages_forms import fussy_teacher
from tests.trace_support import make_dataset

KEY = "sk-test-0123456789abcdefghij"
MODELS = "Models (compare side by side)"
CUSTOM = "Other model name (vLLM / Ollama / llama.cpp)"


def start_job(page, known: set[str]) -> str:
    idle(page)
    page.get_by_role("button", name="Start trace job").click()
    wait_for(lambda: [j for j in manager.list_jobs(kind="traces") if j.id not in known], timeout=30)
    [job_id] = [j.id for j in manager.list_jobs(kind="traces") if j.id not in known]
    idle(page)
    return job_id


def captions(page) -> list[str]:
    return [t.strip() for t in page.get_by_test_id("stCaptionContainer").filter(visible=True).all_inner_texts()]


def test_traces_form_survives_navigation_an_unpriced_teacher_and_a_new_job_shows_at_once(state, monkeypatch):
    monkeypatch.setenv("FTLAB_STATE", str(state))
    make_dataset("g", 4)  # rows 0 and 3 ask about weapons: the teacher gives them no labels
    with FakeOpenAI(responder=fussy_teacher, api_key=KEY, models=None) as server, \
            dashboard(state, {"OPENAI_API_KEY": KEY, "FTLAB_GPUS": ""}) as url, chromium_page() as page:
        page.goto(f"{url}/traces")
        page.get_by_role("heading", name=re.compile("Traces")).first.wait_for()
        idle(page)
        page.get_by_test_id("stMultiSelect").filter(has_text=MODELS).get_by_role("button", name="Clear all").click()
        idle(page)
        type_into(page, CUSTOM, "llama3")  # a local server's model: no price in the table
        type_into(page, "Base URL (empty = OpenAI)", server.base_url)
        type_into(page, "Only the first N rows (0 = all; a pilot)", "2")

        go(page, "Data")
        go(page, "Traces")
        expect(field(page, "Base URL (empty = OpenAI)")).to_have_value(server.base_url)
        expect(field(page, "Only the first N rows (0 = all; a pilot)")).to_have_value("2")
        expect(field(page, CUSTOM)).to_have_value("llama3")
        expect(page.get_by_test_id("stMultiSelect").filter(has_text=MODELS).get_by_test_id("stMultiSelectChip")) \
            .to_have_count(0)

        with wide(page):  # the table's last columns in view
            page.get_by_role("tab", name="Estimate", exact=True).click()
            idle(page)
            [estimate] = grid_rows(page.get_by_test_id("stDataFrame").filter(visible=True))
        assert estimate["USD"] == report.NO_PRICE, estimate  # not 0.0000, and what it would cost priced:
        assert re.fullmatch(r"would be \$[\d.]+ at gpt-4o-mini", estimate["would be"]), estimate

        page.get_by_role("tab", name="Run", exact=True).click()
        idle(page)
        first = start_job(page, set())
        expect(field(page, "Trace job")).to_have_value(first)
        page.get_by_test_id("stMarkdown").filter(has_text=first).filter(visible=True).first.wait_for()
        second = start_job(page, {first})
        expect(field(page, "Trace job")).to_have_value(second)  # not the previous job
        page.get_by_test_id("stMarkdown").filter(has_text=second).filter(visible=True).first.wait_for()
        assert manager.wait(first, timeout=60).status == "succeeded"
        assert manager.wait(second, timeout=60).status == "succeeded"
        led = records.ledger(second)
        would = report.reference_usd("gpt-4o-mini", led["input_tokens"], led["output_tokens"])
        spent_line = f"Spent: {report.NO_PRICE} · would be ${would:.4f} at gpt-4o-mini"
        page.get_by_test_id("stCaptionContainer").filter(has_text=spent_line).filter(visible=True).wait_for()

        page.get_by_role("tab", name="Browse traces", exact=True).click()
        expect(field(page, "Job")).to_have_value(second)
        accepted = page.get_by_test_id("stMetric").filter(has_text="accepted (per item)").filter(visible=True)
        # drawn while the job ran; the page is drawn again once it has ended (rows 0 about weapons, 1 not)
        expect(accepted.get_by_test_id("stMetricValue")).to_have_text("1 of 2", timeout=30_000)
        idle(page)
        labels = [t.strip() for t in page.get_by_test_id("stMetricLabel").filter(visible=True).all_inner_texts()]
        assert labels[:1] == ["accepted (per item)"] and "agreement (per attempt)" in labels, labels
        spent = page.get_by_test_id("stMetric").filter(has_text="spent").filter(visible=True)
        expect(spent.get_by_test_id("stMetricValue")).to_have_text(report.NO_PRICE)  # not "0.0000"
        assert any(re.search(r"agreed with the gold label, 0 disagreed, [1-9]\d* unparseable", c)
                   for c in captions(page)), captions(page)
        attempts = page.get_by_test_id("stExpander").filter(has_text=re.compile(r"Attempt \d+ · temperature")).filter(
            visible=True)
        reply = attempts.first.get_by_test_id("stCode")
        expect(reply).to_contain_text("# Task 1")  # the reply as text,
        expect(page.get_by_test_id("stMain").locator("h1, h2").filter(has_text="Task")).to_have_count(0)  # no heading
        page.get_by_test_id("stRadio").filter(has_text="Show").locator("label").filter(
            has_text=re.compile(r"^rejected$")).click()
        idle(page)
        expect(attempts.first).to_contain_text("unparseable (labels not found in the reply)")
        assert not [t for t in attempts.all_inner_texts() if "disagrees" in t]
