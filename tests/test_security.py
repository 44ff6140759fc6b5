"""Security: upload names stay inside the state dir, uploads have a size limit, no process starts through a
shell, and after a full run (traces with a key, training, evaluation, export) no key is in the DB, files or logs."""
import ast
import io
import os
import subprocess
import sys

import pytest

from backend import user_secrets
from backend.data.uploads import new_upload_dir, safe_filename, save_upload
from backend.errors import LabError
from backend.users import acting_as
from tests.browser_support import ROOT
from tests.openai_server import FakeOpenAI
from tests.trace_support import make_guard_responder

ENV_KEY = "sk-envkey-7f3a9c1e5b2d4f6a8c0e"
OWN_KEY = "sk-ownkey-1b3d5f7a9c2e4a6c8e0b"
SOURCES = [ROOT / "app.py", *(ROOT / "backend").rglob("*.py"), *(ROOT / "ui").rglob("*.py"),
           *(ROOT / "pages").rglob("*.py")]


@pytest.mark.parametrize("name", ["../../etc/passwd", "..", "/abs/path/x.csv", "..\\..\\win.csv", "a/../../b.csv",
                                  "nul\x00byte.csv", "", "   ", ".hidden", "x" * 400 + ".csv"])
def test_upload_names_cannot_escape(state, name):
    folder = new_upload_dir()
    saved = save_upload(folder, name, io.BytesIO(b"prompt,response\nhi,there\n"))
    assert saved.parent == folder and saved.resolve().is_relative_to(state.resolve())
    assert saved.read_bytes().startswith(b"prompt")
    assert "/" not in safe_filename(name) and ".." not in safe_filename(name) and len(safe_filename(name)) <= 128


def test_upload_size_limit_leaves_nothing(state, monkeypatch):
    monkeypatch.setenv("FTLAB_MAX_UPLOAD_MB", "1")
    folder = new_upload_dir()
    with pytest.raises(LabError, match=r"big\.csv: larger than the upload limit of 1 MB"):
        save_upload(folder, "big.csv", io.BytesIO(b"x" * (1024 * 1024 + 1)))
    assert list(folder.iterdir()) == []
    assert save_upload(folder, "fits.csv", io.BytesIO(b"x" * (1024 * 1024))).stat().st_size == 1024 * 1024


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_no_process_is_started_through_a_shell():
    offenders = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        for call in _calls(tree):
            name = ast.unparse(call.func)
            if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
                offenders.append(f"{path}:{call.lineno} {name}")
            for kw in call.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    offenders.append(f"{path}:{call.lineno} shell={ast.unparse(kw.value)}")
            if name.startswith("subprocess.") and call.args and isinstance(call.args[0], (ast.Constant, ast.JoinedStr)):
                offenders.append(f"{path}:{call.lineno} {name} with a command string")
    assert offenders == []


def cli(state, *args, env=None):
    out = subprocess.run([sys.executable, "-m", "backend", *args], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "FTLAB_STATE": str(state), "FTLAB_GPUS": "", **(env or {})})
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def test_no_key_lands_in_db_files_or_logs_after_a_full_run(state, monkeypatch):
    monkeypatch.setenv("FTLAB_SECRETS", str(state.parent / "none.toml"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    printed = cli(state, "data", "demo")
    with acting_as("tester"):
        user_secrets.save_secret("TEACHER_KEY", OWN_KEY)
    with FakeOpenAI(responder=make_guard_responder(), api_key=ENV_KEY) as env_server, \
            FakeOpenAI(responder=make_guard_responder(), api_key=OWN_KEY) as own_server:
        printed += cli(state, "traces", "run", "demo-guard", "--teacher", "gpt-4o-mini", "--base-url",
                       env_server.base_url, "--limit", "6", "--wait", env={"OPENAI_API_KEY": ENV_KEY})
        # the user's own saved key, read by the job process acting for its owner
        printed += cli(state, "traces", "run", "demo-guard-traces", "--teacher", "gpt-4o-mini", "--base-url",
                       own_server.base_url, "--api-key-env", "TEACHER_KEY", "--limit", "4", "--out", "own-traces",
                       "--wait")
        # each server answers only its own key (401 otherwise), so paid requests prove which key was sent
        assert len(env_server.paid_requests()) >= 6 and len(own_server.paid_requests()) >= 4
        printed += cli(state, "train", "launch", "--preset", "tiny", "--dataset", "demo-guard-traces",
                       "--set", "max_steps=2", "--wait", env={"OPENAI_API_KEY": ENV_KEY})
        printed += cli(state, "eval", "run", "demo-guard", "--teacher", "gpt-4o-mini", "--base-url",
                       env_server.base_url, "--limit", "3", "--wait", env={"OPENAI_API_KEY": ENV_KEY})
    assert "succeeded" in printed
    found = []
    store = state / "secrets"
    for path in state.rglob("*"):
        if path.is_file() and store not in path.parents:
            data = path.read_bytes()
            found += [f"{path}: {k[:10]}" for k in (ENV_KEY, OWN_KEY) if k.encode() in data]
    assert found == []
    assert ENV_KEY not in printed and OWN_KEY not in printed
    assert any(p.name == "lab.db" for p in state.iterdir())  # the scan covered the DB (and its WAL)
