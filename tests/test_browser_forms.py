"""What only a browser shows about forms: the Traces page keeps its base URL and row limit after a visit to
the Data page (Streamlit drops the widgets of a page not drawn), and a trace job just started is the one the
"Trace job" panel shows, at once, the second time too (no reload). One dashboard, one browser."""
import re

from playwright.sync_api import expect

from backend.jobs import manager
from tests.browser_support import chromium_page, dashboard, field, go, idle, type_into
from tests.openai_server import FakeOpenAI
from tests.support import wait_for
from tests.trace_support import make_dataset, make_guard_responder

KEY = "sk-test-0123456789abcdefghij"


def start_job(page, known: set[str]) -> str:
    idle(page)
    page.get_by_role("button", name="Start trace job").click()
    wait_for(lambda: [j for j in manager.list_jobs(kind="traces") if j.id not in known], timeout=30)
    [job_id] = [j.id for j in manager.list_jobs(kind="traces") if j.id not in known]
    idle(page)
    return job_id


def test_traces_form_survives_navigation_and_a_new_job_shows_at_once(state, monkeypatch):
    monkeypatch.setenv("FTLAB_STATE", str(state))
    make_dataset("g", 4)
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY, models=None) as server, \
            dashboard(state, {"OPENAI_API_KEY": KEY, "FTLAB_GPUS": ""}) as url, chromium_page() as page:
        page.goto(f"{url}/traces")
        page.get_by_role("heading", name=re.compile("Traces")).first.wait_for()
        idle(page)
        type_into(page, "Base URL (empty = OpenAI)", server.base_url)
        type_into(page, "Only the first N rows (0 = all; a pilot)", "2")

        go(page, "Data")
        go(page, "Traces")
        expect(field(page, "Base URL (empty = OpenAI)")).to_have_value(server.base_url)
        expect(field(page, "Only the first N rows (0 = all; a pilot)")).to_have_value("2")

        page.get_by_role("tab", name="Run", exact=True).click()
        idle(page)
        first = start_job(page, set())
        expect(field(page, "Trace job")).to_have_value(first)
        page.get_by_test_id("stMarkdown").filter(has_text=first).filter(visible=True).first.wait_for()
        second = start_job(page, {first})
        expect(field(page, "Trace job")).to_have_value(second)  # not the previous job
        page.get_by_test_id("stMarkdown").filter(has_text=second).filter(visible=True).first.wait_for()
        page.get_by_role("tab", name="Browse traces", exact=True).click()
        expect(field(page, "Job")).to_have_value(second)
        assert manager.wait(first, timeout=60).status == "succeeded"
        assert manager.wait(second, timeout=60).status == "succeeded"
