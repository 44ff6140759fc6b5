"""The Traces page end to end in AppTest: estimate side by side, start a job against a real local
OpenAI-compatible server, browse the accepted traces."""
import pytest
from backend.data.demo import create_demo_datasets
from backend.jobs import manager
from tests.openai_server import FakeOpenAI
from tests.support import open_page
from tests.trace_support import make_guard_responder

KEY = "sk-test-0123456789abcdefghij"


@pytest.fixture()
def lab(state, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    create_demo_datasets()
    return state


def test_estimate_start_and_browse(lab):
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        at = open_page("views/traces.py")
        at.multiselect(key="traces_models").set_value(["gpt-4o", "gpt-4o-mini"])
        at.text_input(key="traces_base_url").set_value(server.base_url)
        at.number_input(key="traces_limit").set_value(12)
        at.run()
        assert not at.exception
        [table] = [d.value for d in at.dataframe if "teacher" in d.value.columns]
        assert list(table["teacher"]) == [f"gpt-4o @ {server.base_url}", f"gpt-4o-mini @ {server.base_url}"]
        assert table.loc[table[""] == "⭐ cheapest", "teacher"].tolist() == [f"gpt-4o-mini @ {server.base_url}"]
        assert (table["requests"] == 12).all()
        at.selectbox(key="traces_run_teacher").set_value(f"gpt-4o-mini @ {server.base_url}")
        at.button(key="traces_start").click()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        job_id = at.session_state["traces_job"]
        assert manager.wait(job_id, timeout=120).status == "succeeded"
    at.run()
    at.selectbox(key="traces_browse_job").set_value(job_id)
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["accepted"] == "12" and metrics["agreement"] == "100%"
    assert any("Answers:" in md.value for md in at.markdown)
