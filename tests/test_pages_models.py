"""Playground and Models pages in AppTest on a real trained tiny model; one browser test streams a reply."""
import pytest

from backend.data.demo import create_demo_datasets
from backend.jobs import manager
from backend.models.registry import list_models
from backend.training.launch import launch_training
from backend.training.spec import preset_spec
from tests.browser_support import chromium_page, dashboard
from tests.support import isolated_state, open_page


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    with isolated_state(tmp_path_factory, "models") as state:
        create_demo_datasets()
        job = manager.wait(launch_training(preset_spec("tiny-lora", "demo-guard", ["max_steps=4", "save_steps=4"])).id,
                           timeout=300)
        assert job.status == "succeeded", job.error
        yield {"state": state, "job": job.id}


def test_playground_streams_a_reply_and_ab(trained):
    at = open_page("views/playground.py")
    labels = at.selectbox(key="playground_a").options
    assert any(trained["job"] in label for label in labels)
    at.slider(key="playground_temperature").set_value(0.0)
    at.number_input(key="playground_max_new").set_value(8)
    at.toggle(key="playground_ab").set_value(True)
    at.run()
    at.chat_input(key="playground_input").set_value("Is this request harmful?").run()
    assert not at.exception, [e.value for e in at.exception]
    assistant = [m for m in at.chat_message if m.name == "assistant"]
    assert len(assistant) == 2  # A and B answered side by side


def test_models_page_lists_and_exports(trained):
    at = open_page("views/models.py")
    ids = at.selectbox(key="models_selected").options
    assert f"{trained['job']}/adapter" in ids
    at.selectbox(key="models_selected").set_value(f"{trained['job']}/adapter")
    at.multiselect(key="models_formats").set_value(["merged", "modelfile", "card"])
    at.run()
    at.button(key="models_export").click()
    at.run()
    assert any("names a GGUF file" in e.value for e in at.error)  # refused at once, no job started
    at.multiselect(key="models_formats").set_value(["merged", "gguf-q8_0", "modelfile", "card"])
    at.run()
    at.button(key="models_export").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job = manager.wait(at.session_state["models_job"], timeout=300)
    assert job.status == "succeeded", job.error
    assert any(m["id"].endswith("exports/merged") for m in list_models())


def test_browser_sends_a_message_and_sees_a_streamed_answer(trained):
    with dashboard(trained["state"], {"FTLAB_GPUS": ""}) as url, chromium_page() as page:
        page.goto(f"{url}/playground")
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill("Hello model")
        box.press("Enter")
        page.get_by_test_id("stChatMessage").filter(has_text="Hello model").wait_for()
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stChatMessage"]')]
                     .some(m => m.querySelector('[data-testid="stChatMessageAvatarAssistant"]') && m.innerText.trim().length > 0)""",
            timeout=60_000)
