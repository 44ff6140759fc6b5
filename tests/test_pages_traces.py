"""The Traces page end to end in AppTest: estimate side by side, start a job against a real local
OpenAI-compatible server, browse the accepted traces."""
import pytest
from backend.data.demo import create_demo_datasets
from tests.openai_server import FakeOpenAI
from tests.support import open_page
from tests.trace_support import make_guard_responder, start_trace_job

KEY = "sk-test-0123456789abcdefghij"


def table_price(model: str, table) -> float:
    """What the estimate's tokens cost at `model` (the reference of an unpriced row)."""
    from backend.traces.report import reference_usd

    return reference_usd(model, int(table["input tokens"].iloc[0]), int(table["output tokens"].iloc[0]))


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
        assert table.loc[table[""] == "cheapest", "teacher"].tolist() == [f"gpt-4o-mini @ {server.base_url}"]
        assert (table["requests"] == 12).all()
        # priced by the model's name although the URL is not OpenAI's; no client-side limit on this endpoint
        assert list(table["priced as"]) == ["gpt-4o", "gpt-4o-mini"] and (table["USD"] > 0).all()
        assert any(c.value.startswith(f"gpt-4o-mini @ {server.base_url}: price gpt-4o-mini (0.15 / 0.6 USD")
                   and "no client-side rate limit" in c.value for c in at.caption)
        assert table["limited by"].eq("concurrency").all()
        at.selectbox(key="traces_run_teacher").set_value(f"gpt-4o-mini @ {server.base_url}")
        job_id = start_trace_job(at)
    at.run()
    at.selectbox(key="traces_browse_job").set_value(job_id)
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["accepted (per item)"] == "12 of 12" and metrics["agreement (per attempt)"] == "100%"
    assert any(c.value.startswith("Accepted per item: 12 of 12 items; agreement per attempt: 100% (12 of 12 "
                                  "attempts") for c in at.caption)
    assert any("possibly billed: 0 timed-out requests" in c.value for c in at.caption)
    assert not at.warning  # no failed items
    assert any("Answers:" in c.value for c in at.code)  # the teacher's reply as text, not Markdown


def test_own_key_saved_from_the_page_is_masked_and_only_yours(lab, monkeypatch):
    from backend import user_secrets
    from backend.users import acting_as

    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("FTLAB_SECRETS", str(lab.parent / "none.toml"))
    at = open_page("views/traces.py")
    assert any(c.value == "Key: (none)" for c in at.caption)
    at.text_input(key="traces_new_key").input("sk-mine-abcdefghij0123456789")
    at.run()
    at.button(key="traces_save_key").click()
    at.run()
    assert not at.exception
    assert any(s.value == "Saved as OPENAI_API_KEY." for s in at.success)
    at.run()
    assert any(c.value == "Key: sk-…6789" for c in at.caption)  # shown masked, never whole
    assert not any("sk-mine-abcdefghij0123456789" in m.value for m in [*at.markdown, *at.caption, *at.code])
    assert user_secrets.secret_names() == ["OPENAI_API_KEY"]  # acting as the page's user, "tester"
    with acting_as("someone-else"):
        assert user_secrets.secret_names() == []
    at.button(key="traces_forget_OPENAI_API_KEY").click()
    at.run()
    assert user_secrets.secret_names() == []


def test_local_model_estimate_says_no_price_and_price_as_overrides(lab):
    at = open_page("views/traces.py")
    at.multiselect(key="traces_models").set_value([])
    at.text_input(key="traces_custom_model").set_value("llama3")
    at.text_input(key="traces_base_url").set_value("http://127.0.0.1:9/v1")
    at.run()
    assert not at.exception
    [table] = [d.value for d in at.dataframe if "teacher" in d.value.columns]
    assert list(table["priced as"]) == ["no price (local model)"] and list(table["USD"]) == ["no price (local model)"]
    assert list(table["would be"]) == [f"would be ${table_price('gpt-4o-mini', table):.4f} at gpt-4o-mini"]
    assert any("price no price: 'llama3' is not in the price table" in c.value for c in at.caption)
    at.text_input(key="traces_price_model").set_value("gpt-4o")
    at.run()
    [table] = [d.value for d in at.dataframe if "teacher" in d.value.columns]
    assert list(table["priced as"]) == ["gpt-4o"] and table["USD"].iloc[0] > 0 and "would be" not in table
