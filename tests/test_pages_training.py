"""Train and Monitor pages in AppTest: the form launches a real tiny training job; Monitor follows it live."""
import time

import pytest
from backend.data.demo import create_demo_datasets
from backend.jobs import manager
from tests.support import open_page


@pytest.fixture()
def lab(state, monkeypatch):
    monkeypatch.setenv("FTLAB_GPUS", "")
    create_demo_datasets()
    return state


def test_train_form_shows_command_and_memory_then_launches(lab):
    at = open_page("views/train.py")
    at.selectbox(key="train_dataset").select("demo-orgaccess")
    at.number_input(key="train_tiny_max_steps").set_value(60)
    at.run()
    commands = [c.value for c in at.code if c.value.startswith("python -m backend train launch")]
    assert commands == ["python -m backend train launch --preset tiny --dataset demo-orgaccess@1 --set max_steps=60"]
    assert any("CPU" in m.value or "fits" in m.value for m in [*at.success, *at.info, *at.warning])
    at.button(key="train_launch").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job_id = at.session_state["train_job"]
    job = manager.get(job_id)
    assert job.kind == "train" and job.resource == "cpu"

    monitor = open_page("views/monitor.py")
    deadline = time.time() + 120
    seen_steps = set()
    while time.time() < deadline and manager.get(job_id).status in ("queued", "starting", "running"):
        monitor.run()
        assert not monitor.exception, [e.value for e in monitor.exception]
        bars = [p.text for p in monitor.get("progress")] if hasattr(monitor, "get") else []
        seen_steps.update(b for b in bars if b)
        time.sleep(1.5)
    final = manager.wait(job_id, timeout=120)
    assert final.status == "succeeded", final.error
    monitor.run()
    charts = monitor.get("plotly_chart")
    assert len(charts) >= 4
    assert len(seen_steps) >= 2  # the progress moved while we watched
