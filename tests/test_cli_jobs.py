"""The CLI's job commands end to end in subprocesses: launch, --wait, and the JSON the issues promise."""
import json
import os
import subprocess
import sys

from backend.data.demo import create_demo_datasets
from tests.browser_support import ROOT
from tests.openai_server import FakeOpenAI
from tests.trace_support import make_guard_responder

KEY = "sk-test-0123456789abcdefghij"


def cli(state, *args, env=None):
    out = subprocess.run([sys.executable, "-m", "backend", *args, "--json"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "FTLAB_STATE": str(state), "FTLAB_GPUS": "", **(env or {})})
    return out.returncode, json.loads(out.stdout)


def test_train_traces_and_eval_from_the_cli(state):
    create_demo_datasets()
    rc, trained = cli(state, "train", "launch", "--preset", "tiny", "--dataset", "demo-guard", "--set", "max_steps=3",
                      "--wait")
    assert rc == 0 and trained["status"] == "succeeded"
    assert trained["steps"] == 3 and trained["final_loss"] > 0 and trained["adapter"].endswith("model")  # full
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        rc, traced = cli(state, "traces", "run", "demo-guard", "--teacher", "gpt-4o-mini", "--base-url", server.base_url,
                         "--limit", "5", "--wait", env={"OPENAI_API_KEY": KEY})
    assert rc == 0 and traced["status"] == "succeeded"
    assert {"job_id", "done", "failed", "rejected", "input_tokens", "output_tokens", "usd", "dataset"} <= set(traced)
    assert traced["done"] == 5 and traced["dataset"] == "demo-guard-traces@1"
    rc, evaluated = cli(state, "eval", "run", "demo-guard", "--run", trained["job_id"], "--limit", "4",
                        "--max-new-tokens", "8", "--wait")
    assert rc == 0 and evaluated["best"]["headline"] == "prompt_f1"
    rc, refused = cli(state, "eval", "run", "demo-guard", "--base-model", "/no/such/model")
    assert rc == 2 and "no model folder at /no/such/model" in refused["error"]
