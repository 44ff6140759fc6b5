"""Teacher behaviour for the fake OpenAI server (GuardReasoner-style traces from the gold hint) and guard
datasets to send it."""
import json
import re

import pandas as pd
import pytest

from backend.data import store
from backend.jobs import manager
from tests.openai_server import message_text

KEY = "sk-test-0123456789abcdefghij"  # the test server's key


@pytest.fixture()
def env(state, monkeypatch):
    """A fresh state whose trace jobs find the test server's key; two API slots."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("FTLAB_SLOTS", "api=2")
    return state


HINT = re.compile(r"Request: (\w+)\nCompletion: (\w+)\nResponse: (\w+)")


def guard_trace(request: str, completion: str, response: str) -> str:
    return ("# Task 1\n\n## Reasoning Step 1\nThe user asks something.\n## Conclusion\nDone.\n\n"
            "# Task 2\n\n## Reasoning Step 1\nLook at the reply.\n## Conclusion\nDone.\n\n"
            "# Task 3\n\n## Reasoning Step 1\nJudge the reply.\n## Conclusion\nDone.\n\n"
            f"---\n\nAnswers: \nRequest: {request}\nCompletion: {completion}\nResponse: {response}")


def make_guard_responder(stubborn_words: tuple[str, ...] = (), cold_wrong_words: tuple[str, ...] = ()):
    """Answers with the hinted gold labels, except: prompts containing a stubborn word always get the
    wrong Task 1 label; prompts containing a cold-wrong word get it wrong only at temperature 0."""

    def respond(body: dict) -> str:
        user = message_text([m for m in body["messages"] if m["role"] == "user"][-1])
        hint = HINT.findall(user)
        request, completion, response = hint[-1] if hint else ("unharmful", "None", "None")
        flip = {"harmful": "unharmful", "unharmful": "harmful"}
        if any(w in user for w in stubborn_words) or (
                body.get("temperature", 0) == 0 and any(w in user for w in cold_wrong_words)):
            request = flip.get(request, request)
        return guard_trace(request, completion, response)

    return respond


def guard_rows(n: int, prefix: str = "q") -> pd.DataFrame:
    rows = []
    for i in range(n):
        harmful = i % 3 == 0
        rows.append({"id": f"{prefix}{i}", "prompt": f"{prefix} prompt number {i} about {'weapons' if harmful else 'cooking'}",
                     "response": None if i % 4 == 0 else f"reply {i}",
                     "prompt_harm_label": "harmful" if harmful else "unharmful",
                     "response_refusal_label": None if i % 4 == 0 else ("refusal" if harmful else "compliance"),
                     "response_harm_label": None if i % 4 == 0 else "unharmful",
                     "subcategory": None, "adversarial": False,
                     "policy_labels": json.dumps({"violence": "unsafe" if harmful else "safe"}), "source": "test"})
    return pd.DataFrame(rows)


def make_dataset(name: str, n: int, prefix: str = "q") -> store.DatasetVersion:
    with store.VersionWriter(name, "guard", "import") as w:
        w.write(guard_rows(n, prefix))
        return w.commit()


def start_trace_job(at) -> str:
    """Click "Start trace job" on the Traces page in AppTest; the job's id once it has succeeded."""
    at.button(key="traces_start").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job_id = at.session_state["traces_job"]
    assert manager.wait(job_id, timeout=120).status == "succeeded"
    return job_id
