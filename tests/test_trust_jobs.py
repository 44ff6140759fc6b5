"""Trust on a shared server, for jobs: which key leaves the machine (a header-logging server records every
Authorization header), what a job's environment holds, who owns templates, hostile numbers and output names
refused before anything is paid, and jobs that die of a full disk or of memory said as such."""
from __future__ import annotations

import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend import keys, user_secrets, users
from backend.data import store
from backend.errors import LabError
from backend.jobs import failures, manager
from backend.recipes import get_recipe
from backend.recipes.base import TraceTemplate
from backend.traces.engine import TraceRequest, launch_traces
from backend.traces.teachers import Teacher, describe_key, resolve_api_key
from backend.traces.templates import (
    MAX_RENDERED_CHARS,
    build_items,
    get_template,
    list_templates,
    save_template,
    template_entries,
)
from backend.users import acting_as
from tests.browser_support import ROOT
from tests.openai_server import FakeOpenAI
from tests.trace_support import make_dataset, make_guard_responder

DB_SECRET = "dbpw-Q7xZ9wK2mP4vR8tY1nB6cJ3hF5"
LAB_KEY = "sk-lab-W3eR5tY7uI9oP1aS2dF4gH6jK8"
OWN_KEY = "sk-own-Z1xC3vB5nM7qW9eR2tY4uI6oP8"
ENV_KEY = "sk-env-A2sD4fG6hJ8kL1zX3cV5bN7mQ9"
TOML_SECRET = "tomlpw-E4rT6yU8iO1pA3sD5fG7hJ9k"
TOML_LAB_KEY = "sk-toml-L2kJ4hG6fD8sA1qW3eR5tY7u"


def shows_part_of(text: str, secret: str, n: int = 5) -> bool:
    """Whether `text` holds any `n` characters in a row of `secret`."""
    return any(secret[i:i + n] in text for i in range(len(secret) - n + 1))


class LoggingOpenAI(FakeOpenAI):
    """The test OpenAI server, accepting any key, recording the Authorization header of every request."""

    def __init__(self, **kw):
        super().__init__(responder=make_guard_responder(), api_key=None, **kw)
        self.authorizations: list[str | None] = []

    def handle(self, method, path, headers, body):
        self.authorizations.append(headers.get("Authorization"))
        return super().handle(method, path, headers, body)

    def bearers(self) -> set[str]:
        return {(a or "").partition(" ")[2] for a in self.authorizations}


@pytest.fixture()
def lab(state, monkeypatch):
    for name in ("OPENAI_API_KEY", "FTLAB_TEACHER_KEYS", "FTLAB_MULTI_USER", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FTLAB_SECRETS", str(state.parent / "secrets.toml"))
    monkeypatch.setenv("FTLAB_GPUS", "")
    monkeypatch.setenv("FTLAB_JOB_PLUGINS", "tests.trust_job_kinds")
    make_dataset("g", 4)
    return state


def trace_job(server, api_key_env: str, out: str, temperature: float = 0.0):
    """A trace job of 2 requests; a temperature of its own keeps the completions cache from answering it."""
    teacher = Teacher(model="gpt-4o-mini", base_url=server.base_url, api_key_env=api_key_env)
    return launch_traces(TraceRequest(dataset="g", teacher=teacher, limit=2, out=out, temperature=temperature,
                                      max_rejects=0))


def finished(*jobs) -> None:
    for job in jobs:
        done = manager.wait(job.id, timeout=180)
        assert done.status == "succeeded", (done.status_line, manager.log_tail(job.id))


# -- 1. keys -----------------------------------------------------------------------------------------------
def test_key_rules_single_and_multi_user(lab, monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", DB_SECRET)
    monkeypatch.setenv("LAB_VLLM_KEY", LAB_KEY)
    monkeypatch.setenv("FTLAB_TEACHER_KEYS", "HTTP://VLLM.lab:8000/v1/=LAB_VLLM_KEY")
    lab_endpoint, evil = "http://vllm.lab:8000/v1", "http://evil.example/v1"
    # single-user (a laptop): everything in the environment is yours, under the name you give, as before
    assert resolve_api_key(Teacher(model="m", base_url=evil, api_key_env="DB_PASSWORD")) == DB_SECRET
    assert describe_key(Teacher(model="m", base_url=evil, api_key_env="DB_PASSWORD")) == "dbp…3hF5"
    monkeypatch.setenv("FTLAB_MULTI_USER", "1")
    assert users.multi_user()
    with acting_as("alice"):
        # a foreign variable, named for a URL she controls: nothing
        assert resolve_api_key(Teacher(model="m", base_url=evil, api_key_env="DB_PASSWORD")) is None
        # the allowlisted variable, for any other endpoint: nothing either
        assert resolve_api_key(Teacher(model="m", base_url=evil, api_key_env="LAB_VLLM_KEY")) is None
        # its own endpoint (case and trailing slash do not matter): the lab's key, whatever name she typed
        assert resolve_api_key(Teacher(model="m", base_url=lab_endpoint, api_key_env="DB_PASSWORD")) == LAB_KEY
        caption = describe_key(Teacher(model="m", base_url=lab_endpoint, api_key_env="X"))
        assert "allowlisted" in caption and not shows_part_of(caption, LAB_KEY)
        caption = describe_key(Teacher(model="m", base_url=evil, api_key_env="DB_PASSWORD"))
        assert caption.startswith("(none)") and not shows_part_of(caption, DB_SECRET)
        with pytest.raises(LabError, match="no API key for https://api.openai.com/v1: save your own"):
            launch_traces(TraceRequest(dataset="g", teacher=Teacher(model="gpt-4o-mini", api_key_env="DB_PASSWORD")))
        user_secrets.save_secret("MY_KEY", OWN_KEY)
        assert resolve_api_key(Teacher(model="m", base_url=evil, api_key_env="MY_KEY")) == OWN_KEY  # her own
        assert describe_key(Teacher(model="m", base_url=evil, api_key_env="MY_KEY")) == "your saved MY_KEY (sk-…6oP8)"
    with acting_as("bob"):
        assert resolve_api_key(Teacher(model="m", base_url=evil, api_key_env="MY_KEY")) is None  # not bob's
    monkeypatch.setenv("FTLAB_TEACHER_KEYS", "no-equals-sign")
    with pytest.raises(LabError, match="not URL=VARIABLE"):
        keys.allowlist()


def test_multi_user_jobs_send_only_own_or_allowlisted_keys(lab, monkeypatch):
    monkeypatch.setenv("FTLAB_MULTI_USER", "1")
    monkeypatch.setenv("DB_PASSWORD", DB_SECRET)
    monkeypatch.setenv("LAB_VLLM_KEY", LAB_KEY)
    with LoggingOpenAI() as evil, LoggingOpenAI() as lab_server:
        monkeypatch.setenv("FTLAB_TEACHER_KEYS", f"{lab_server.base_url}=LAB_VLLM_KEY")
        with acting_as("alice"):
            user_secrets.save_secret("MY_KEY", OWN_KEY)
            jobs = [trace_job(evil, "DB_PASSWORD", "a1", 0.0),  # a server variable she names: not sent
                    trace_job(evil, "LAB_VLLM_KEY", "a2", 0.1),  # the lab's key, to her URL: not sent
                    trace_job(lab_server, "DB_PASSWORD", "a3", 0.2),  # the lab's endpoint: its allowlisted key
                    trace_job(evil, "MY_KEY", "a4", 0.3)]  # her own saved key, wherever she likes
        finished(*jobs)
    assert evil.bearers() == {"not-needed", OWN_KEY} and len(evil.authorizations) == 6
    assert lab_server.bearers() == {LAB_KEY} and len(lab_server.authorizations) == 2


def test_a_dashboard_login_session_carries_the_rules_into_the_job(lab, monkeypatch):
    """No FTLAB_MULTI_USER, no [auth] in the file: only the session knows it came through a login. The job
    (its own process) still refuses secrets.toml's entries that are not allowlisted for its endpoint."""
    with LoggingOpenAI() as evil, LoggingOpenAI() as lab_server:
        Path(os.environ["FTLAB_SECRETS"]).write_text(
            f'DB_PASSWORD = "{TOML_SECRET}"\nLAB_KEY = "{TOML_LAB_KEY}"\n\n'
            f'[teacher_keys]\n"{lab_server.base_url}" = "LAB_KEY"\n')
        assert not users.multi_user()
        monkeypatch.setenv("FTLAB_SLOTS", "api=0")  # queued by the session, started by a process that knows nothing
        token = users._login.set(True)  # what ui.auth.gate does for a logged-in session
        try:
            with acting_as("alice@lab.test"):
                jobs = [trace_job(evil, "DB_PASSWORD", "b1", 0.4), trace_job(lab_server, "OPENAI_API_KEY", "b2", 0.5)]
        finally:
            users._login.reset(token)
        monkeypatch.setenv("FTLAB_SLOTS", "api=2")
        assert not users.multi_user() and set(manager.schedule()) == {j.id for j in jobs}
        finished(*jobs)
    assert evil.bearers() == {"not-needed"} and lab_server.bearers() == {TOML_LAB_KEY}


# -- 2. the job environment ----------------------------------------------------------------------------------
def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


def test_a_job_environment_holds_no_secret(lab, monkeypatch):
    secrets = {"OPENAI_API_KEY": ENV_KEY, "HF_TOKEN": "hf_secret_0123456789", "MY_DB_PASSWORD": DB_SECRET,
               "SOME_SETTING": "sk-looks-harmless-0123456789", "FTLAB_WEBHOOK_SECRET": "whsec-0123456789",
               "AWS_SECRET_ACCESS_KEY": "aws-0123456789abcdef"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    job = manager.submit("sleeper", {"seconds": 30})
    try:
        deadline = time.time() + 60
        while (running := manager.get(job.id)).status != "running" and time.time() < deadline:
            time.sleep(0.1)
        env = environ_of(running.pid)
        leaked = [n for n, v in env.items() if any(s in v for s in secrets.values())]
        assert leaked == []
        assert env["FTLAB_STATE"] == str(lab) and env["FTLAB_USER"] == "tester" and "PATH" in env
        assert env["FTLAB_JOB_PLUGINS"] == "tests.trust_job_kinds"
    finally:
        manager.cancel(job.id)
    assert manager.wait(job.id, timeout=60).status == "cancelled"


def test_a_job_that_downloads_a_model_gets_the_hub_token_outside_its_start_environment(lab, monkeypatch):
    """Gated models (Llama 3.x) need HF_TOKEN in the training job: handed over, set inside the process, and
    still absent from /proc/<pid>/environ (what `ps eww` shows)."""
    monkeypatch.setenv("HF_TOKEN", "hf_secret_0123456789")
    job = manager.submit("sleeper", {"seconds": 1.5, "base_model": "meta-llama/Llama-3.1-8B"})
    deadline = time.time() + 60
    while (running := manager.get(job.id)).status != "running" and time.time() < deadline:
        time.sleep(0.05)
    try:
        assert "hf_secret_0123456789" not in Path(f"/proc/{running.pid}/environ").read_text(errors="replace")
    except FileNotFoundError:
        pass  # it already ended: its result below still says what it saw
    done = manager.wait(job.id, timeout=60)
    assert done.status == "succeeded" and done.result["hf_token_seen"] is True


def test_an_environment_key_is_handed_over_and_never_in_the_job_environment(lab, monkeypatch):
    """Single-user: the key exported for the dashboard still works for its jobs, through a 0600 file the job
    deletes as it starts, even when a process without the key starts the queued job."""
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("FTLAB_SLOTS", "api=0")  # queued here; another process starts it
    with LoggingOpenAI() as server:
        job = trace_job(server, "OPENAI_API_KEY", "h1")
        assert manager.get(job.id).status == "queued"
        handover = lab / "secrets" / "jobs" / f"{job.id}.json"
        assert stat.S_IMODE(handover.stat().st_mode) == 0o600
        assert stat.S_IMODE(handover.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(handover.parent.parent.stat().st_mode) == 0o700
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        env.update(FTLAB_SLOTS="api=1", PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-m", "backend", "jobs", "wait", job.id, "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=240)
        assert json.loads(out.stdout)["status"] == "succeeded", out.stdout + out.stderr + manager.log_tail(job.id)
    assert server.bearers() == {ENV_KEY}
    assert not handover.exists()
    found = [str(p) for p in lab.rglob("*") if p.is_file() and "secrets" not in p.parts and ENV_KEY.encode() in p.read_bytes()]
    assert found == []


# -- 3./4. templates: owners, sharing, only plain fields ----------------------------------------------------
def guard_template(name: str, user: str = "Classify: {prompt}") -> TraceTemplate:
    return TraceTemplate(name=name, description="test", system="You judge.", user=user,
                         label_keys=("prompt_harm_label",))


def test_templates_belong_to_their_owner(lab):
    builtin = get_template("guard").name
    with acting_as("alice"):
        save_template("guard", guard_template("mine", "Alice private: {prompt}"))
        save_template("guard", guard_template("pub", "Alice shared: {prompt}"), shared=True)
        save_template("guard", guard_template(builtin, "Alice's own default: {prompt}"), shared=True)
        assert get_template("guard", builtin).user.startswith("Alice's own default")
    with acting_as("bob"):
        names = [t.name for t in list_templates("guard")]
        assert "mine" not in names and "alice:mine" not in names
        assert "alice:pub" in names and f"alice:{builtin}" in names
        assert get_template("guard").user != "Alice's own default: {prompt}"  # nobody replaces bob's default
        assert get_template("guard", builtin).user == get_recipe("guard").templates[0].user
        assert get_template("guard", "pub").user == "Alice shared: {prompt}"  # the one shared 'pub'
        with pytest.raises(LabError, match="no template 'mine'"):
            get_template("guard", "mine")
        save_template("guard", guard_template("pub", "Bob's: {prompt}"))  # his own, alice's untouched
        assert get_template("guard", "pub").user == "Bob's: {prompt}"
        assert get_template("guard", "alice:pub").user == "Alice shared: {prompt}"
    with acting_as("alice"):
        assert get_template("guard", "pub").user == "Alice shared: {prompt}"
        entries = {e["name"]: e for e in template_entries("guard")}
        assert entries["mine"]["owner"] == "alice" and not entries["mine"]["shared"]
    with acting_as("carol"):
        assert get_template("guard", "pub").user == "Alice shared: {prompt}"  # bob's 'pub' is his alone
    with acting_as("bob"):
        save_template("guard", guard_template("pub", "Bob's: {prompt}"), shared=True)
    with acting_as("carol"):
        with pytest.raises(LabError, match="several people share a template 'pub'"):
            get_template("guard", "pub")
        assert get_template("guard", "bob:pub").user == "Bob's: {prompt}"


@pytest.mark.parametrize("text", ["{prompt:>400000000}", "{prompt!r}", "{prompt.__class__}", "{prompt[0]}", "{0}",
                                  "{}", "{prompt:{prompt}}", "{unclosed"])
def test_templates_take_only_plain_fields(lab, text):
    with pytest.raises(LabError, match="refused"):
        save_template("guard", guard_template("bad", f"Classify {text}"))
    assert "bad" not in [t.name for t in list_templates("guard")]


@pytest.mark.parametrize("name", ["ok\n", "a/b", "../x", "", "x" * 65, "a b"])
def test_template_names_are_matched_whole(lab, name):
    with pytest.raises(LabError, match="template name"):
        save_template("guard", guard_template(name))


def test_old_saved_templates_are_checked_when_rendered_and_renders_are_capped(lab):
    legacy = lab / "templates" / "guard"
    legacy.mkdir(parents=True)
    bad = {**guard_template("wide").__dict__, "user": "{prompt:>400000000}"}
    (legacy / "wide.json").write_text(json.dumps({**bad, "label_keys": list(bad["label_keys"])}))
    template = get_template("guard", "wide")  # listed (as legacy:wide), refused when used
    assert template.name == "legacy:wide"
    with pytest.raises(LabError, match="format specs and conversions are not allowed"):
        build_items("g", template, limit=1)
    from tests.trace_support import guard_rows

    rows = guard_rows(1)
    rows["prompt"] = "x" * 100_000
    with store.VersionWriter("long-rows", "guard", "import") as writer:
        writer.write(rows)
        writer.commit()
    repeated = guard_template("repeated", "{prompt}" * (MAX_RENDERED_CHARS // 100_000 + 1))
    with pytest.raises(LabError, match="rendered prompt is over"):
        build_items("long-rows", repeated)
    assert build_items("g", guard_template("fine", "{{literal}} {prompt}"), limit=1)[0].messages[-1]["content"].startswith(
        "{literal} q prompt number 0")


# -- 6. every number checked at launch, through the CLI ----------------------------------------------------
DRIVER = """
import contextlib, io, json, sys
from backend.cli import main
results = []
for argv in json.loads(sys.stdin.read()):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(argv + ["--json"])
        except SystemExit as exc:
            code = exc.code
    results.append({"argv": argv, "code": code, "out": out.getvalue()})
print(json.dumps(results))
"""

HOSTILE_FLOATS = ["nan", "inf", "-inf", "-1", "-3", "1e309", "1e30"]
HOSTILE_INTS = ["nan", "inf", "-1", "-3", "1e309", str(10**30)]


def hostile(option: str, values: list[str], allowed: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(option, v) for v in values if v not in allowed]


def launch_cases(base_url: str) -> list[tuple[list[str], str]]:
    """(argv, the option the error must name) for every number a launch takes, with hostile values."""
    teacher = ["--teacher", "gpt-4o-mini", "--base-url", base_url]
    cases = []
    run = ["traces", "run", "g", *teacher]
    for option, values in {"--limit": HOSTILE_INTS + ["0"], "--budget-usd": HOSTILE_FLOATS,
                           "--temperature": HOSTILE_FLOATS + ["3"], "--rpm": HOSTILE_INTS,
                           "--tpm": HOSTILE_INTS, "--concurrency": HOSTILE_INTS + ["0"],
                           "--timeout": HOSTILE_FLOATS + ["0"], "--max-tokens": HOSTILE_INTS + ["0"],
                           "--max-rejects": HOSTILE_INTS, "--batch-poll": HOSTILE_FLOATS + ["0"]}.items():
        cases += [([*run, option, v], option) for v in values]
    estimate = ["traces", "estimate", "g", *teacher]
    cases += [([*estimate, "--output-tokens", v], "--output-tokens") for v in HOSTILE_FLOATS if v != "1e30"]
    cases += [([*estimate, "--output-tokens", "-100"], "--output-tokens"),
              ([*estimate, "--cached-fraction", "nan"], "--cached-fraction"),
              ([*estimate, "--limit", "-3"], "--limit")]
    evaluate = ["eval", "run", "g", *teacher]
    for option, values in {"--max-new-tokens": HOSTILE_INTS + ["0"], "--temperature": HOSTILE_FLOATS,
                           "--batch-size": HOSTILE_INTS + ["0"], "--limit": ["-3", "0", "nan"],
                           "--budget-usd": ["nan", "-1", "inf"], "--rpm": ["-1"], "--concurrency": ["0"],
                           "--timeout": ["nan", "-1"]}.items():
        cases += [([*evaluate, option, v], option) for v in values]
    train = ["train", "launch", "--preset", "tiny-lora", "--dataset", "g"]
    for key, values in {"epochs": ["nan", "inf", "-1", "1e309"], "max_steps": ["-5", "-3", str(10**30), "nan"],
                        "gpus": ["-2", "nan", str(10**30)], "tiny_hidden_size": ["-64", "0", str(10**30)],
                        "tiny_layers": ["0", "-1"], "seed": ["-1", str(2**40)], "learning_rate": ["nan", "0", "-1", "inf"],
                        "lora_r": ["0", "-1"], "batch_size": ["0", "-1"], "grad_accum": ["0"],
                        "max_seq_length": ["0", "-1"], "warmup_ratio": ["nan", "-1", "2"],
                        "lora_dropout": ["nan", "1.5"], "weight_decay": ["-1", "inf"], "save_steps": ["0"],
                        "eval_steps": ["-1"], "logging_steps": ["0"]}.items():
        cases += [([*train, "--set", f"{key}={v}"], key) for v in values]
    cases += [([*train, "--executor", "slurm", "--slurm-gpus", v], "--slurm-gpus") for v in ("-1", "nan", str(10**30))]
    cases += [([*train, "--executor", "slurm", "--cpus", v], "--cpus") for v in ("0", "-1", "nan")]
    cases += [(["raft", "build", "r", "--seed", "-1"], "--seed"), (["raft", "build", "r", "--oracle-p", "nan"], "oracle_p"),
              (["raft", "build", "r", "--oracle-p", "2"], "oracle_p"), (["raft", "build", "r", "--distractors", "-1"], "distractors"),
              (["raft", "build", "r", "--distractors", str(10**30)], "distractors"),
              (["index", "build", "r", "--chunk-size", "0"], "--chunk-size"),
              (["index", "build", "r", "--chunk-size", str(10**30)], "--chunk-size"),
              (["index", "build", "r", "--overlap", "-1"], "--overlap"),
              (["data", "split", "g", "--ratios", "0.5,0.5", "--seed", "-1"], "seed"),
              (["chat", f"teacher:gpt-4o-mini@{base_url}", "hi", "--temperature", "nan"], "temperature"),
              (["chat", f"teacher:gpt-4o-mini@{base_url}", "hi", "--max-new-tokens", "-1"], "max_new_tokens")]
    return cases


def raft_dataset():
    import pandas as pd

    with store.VersionWriter("r", "raft", "import") as writer:
        writer.write(pd.DataFrame({"id": ["q1"], "query": ["who?"], "answer": ["a"], "gold_documents": ['["d1"]']}))
        writer.write(pd.DataFrame({"doc_id": ["d1", "d2"], "title": ["t1", "t2"], "text": ["one", "two"]}),
                     table="documents")
        return writer.commit()


def test_hostile_numbers_are_refused_before_any_job_or_request(lab, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    raft_dataset()
    with LoggingOpenAI() as server:
        cases = launch_cases(server.base_url)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps([argv for argv, _ in cases]), cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        results = json.loads(out.stdout.splitlines()[-1])
        bad = []
        for (argv, option), result in zip(cases, results):
            try:
                error = json.loads(result["out"].strip().splitlines()[-1])["error"]
            except (ValueError, IndexError, KeyError):
                bad.append((argv, result))
                continue
            named = option in error or option.lstrip("-").replace("-", "_") in error
            if result["code"] != 2 or not named or "Traceback" in error:
                bad.append((argv, result["code"], error))
        assert bad == [], bad[:10]
        # a few through the real command line, end to end
        for argv, option in [(["traces", "run", "g", "--teacher", "gpt-4o-mini", "--base-url", server.base_url,
                               "--budget-usd", "nan"], "--budget-usd"),
                              (["train", "launch", "--preset", "tiny-lora", "--dataset", "g", "--set", "epochs=nan"],
                               "epochs"),
                              (["traces", "run", "g", "--teacher", "gpt-4o-mini", "--base-url", server.base_url,
                                "--rpm", "-1"], "--rpm")]:
            proc = subprocess.run([sys.executable, "-m", "backend", *argv, "--json"], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 2 and option in json.loads(proc.stdout)["error"], proc.stdout + proc.stderr
            assert "Traceback" not in proc.stderr
        assert server.authorizations == []  # nothing was sent, nothing paid
    assert manager.list_jobs() == []


def cli(user: str, *argv: str) -> tuple[int, dict]:
    """`python -m backend ARGV --json` as `user`: its exit code and JSON answer (never a traceback)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FTLAB_USER": user}
    proc = subprocess.run([sys.executable, "-m", "backend", *argv, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


# -- 7. output names checked before the first request ------------------------------------------------------
def test_output_names_are_checked_before_the_first_request(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    with acting_as("alice"):
        make_dataset("alice-data", 3, "a")
    raft_dataset()

    with LoggingOpenAI() as server:
        teacher = ["--teacher", "gpt-4o-mini", "--base-url", server.base_url]
        code, out = cli("bob", "traces", "run", "g", *teacher, "--limit", "4", "--out", "../../x")
        assert code == 2 and "not allowed" in out["error"]
        code, out = cli("bob", "traces", "run", "g", *teacher, "--out", "alice-data")
        assert code == 2 and "belongs to alice" in out["error"]
        code, out = cli("tester", "traces", "run", "g", *teacher, "--out", "r")  # its own raft dataset: another recipe
        assert code == 2 and "recipe 'raft'" in out["error"]
        assert server.authorizations == []
    assert manager.list_jobs() == []
    code, out = cli("bob", "raft", "build", "r", "--out", "../x")
    assert code == 2 and "not allowed" in out["error"]
    code, out = cli("bob", "data", "filter", "g", "--out", "alice-data", "--where", "prompt!=x")
    assert code == 2 and "belongs to alice" in out["error"]
    code, out = cli("bob", "data", "dedup", "alice-data")  # a new version of alice's own dataset
    assert code == 2 and "belongs to alice" in out["error"]
    assert [d["name"] for d in store.list_datasets()] == ["alice-data", "g", "r"]


# -- 8. two users through the command line ---------------------------------------------------------------
def test_two_users_through_the_cli(lab, monkeypatch):
    with acting_as("alice"):
        make_dataset("alice-data", 3, "a")
        save_template("guard", guard_template("private-one"))
        save_template("guard", guard_template("for-all"), shared=True)
        job = manager.submit("sleeper", {"seconds": 60})
    try:
        code, out = cli("bob", "data", "delete", "alice-data")
        assert code == 2 and "belongs to alice" in out["error"]
        code, out = cli("bob", "jobs", "cancel", job.id)
        assert code == 2 and "bob cannot cancel" in out["error"]
        code, out = cli("bob", "jobs", "delete", job.id)
        assert code == 2 and "cannot delete" in out["error"]
        code, out = cli("bob", "traces", "templates", "guard")
        listed = {t["name"]: t for t in out["templates"]}
        assert "alice:for-all" in listed and listed["alice:for-all"]["owner"] == "alice"
        assert not any("private-one" in name for name in listed)
        code, out = cli("alice", "traces", "templates", "guard")
        assert {"private-one", "for-all"} <= {t["name"] for t in out["templates"]}
        code, out = cli("alice", "jobs", "cancel", job.id)
        assert code == 0
    finally:
        if manager.get(job.id).status in ("queued", "starting", "running"):
            manager.cancel(job.id)
    assert manager.wait(job.id, timeout=60).status == "cancelled"
    code, out = cli("alice", "data", "delete", "alice-data")
    assert code == 0


# -- 5. a full disk, no memory, the OOM killer ------------------------------------------------------------
def limited_files(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited by the job: writes past the limit fail (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_fails_a_training_job_with_the_reason(lab):
    """Training with a file size limit (as a full disk does, writes fail) ends failed: "disk full: ...", and the CLI
    that launched it says so in its JSON; a CLI command that itself hits the limit prints {"error": "disk full..."}."""
    from backend.data.demo import create_demo_datasets

    create_demo_datasets()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "backend", "train", "launch", "--preset", "tiny", "--dataset",
                           "demo-guard", "--set", "max_steps=3", "--set", "save_steps=2", "--set", "eval_steps=0",
                           "--wait", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          preexec_fn=limited_files(2 * 2**20))
    out = json.loads(proc.stdout)
    assert proc.returncode == 1 and out["status"] == "failed", proc.stdout + proc.stderr
    assert out["error"].startswith("disk full"), out["error"]
    job = manager.get(out["job_id"])
    assert job.status == "failed" and job.error == out["error"]
    status = json.loads((Path(job.job_dir) / "status.json").read_text())
    assert status["status"] == "failed" and status["error"].startswith("disk full")
    big = lab.parent / "big.csv"
    big.write_text("prompt,response\n" + "".join(f"p{i} {'x' * 200},r{i}\n" for i in range(20_000)))
    proc = subprocess.run([sys.executable, "-m", "backend", "data", "import", "--recipe", "generic", "--name", "big",
                           str(big), "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=limited_files(256 * 1024))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["error"].startswith("disk full"), proc.stdout


def test_memory_error_fails_the_job_with_the_reason(lab):
    job = manager.submit("hog", {})
    done = manager.wait(job.id, timeout=120)
    assert done.status == "failed" and done.error.startswith("out of memory (MemoryError)"), done.status_line


def test_a_kernel_oom_kill_is_recognised(lab):
    """SIGKILL (what the OOM killer sends) after the memory high-water mark reached the limit: failed, 'killed
    by the kernel (out of memory?)'; the same kill with little memory in use stays 'lost'."""
    jobs = [manager.submit("sleeper", {"seconds": 60}) for _ in range(2)]
    for job in jobs:
        deadline = time.time() + 60
        while manager.get(job.id).status != "running" and time.time() < deadline:
            time.sleep(0.1)
        memory = Path(job.job_dir) / failures.MEMORY
        deadline = time.time() + 30
        while not memory.exists() and time.time() < deadline:
            time.sleep(0.1)
        record = json.loads(memory.read_text())
        assert record["pid"] == manager.get(job.id).pid and record["peak_rss_bytes"] > 0 and record["limit_bytes"] > 0
    for job in jobs:
        pid = manager.get(job.id).pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 30
        while not (Path(job.job_dir) / failures.EXIT).exists() and time.time() < deadline:
            time.sleep(0.05)
        assert json.loads((Path(job.job_dir) / failures.EXIT).read_text())["returncode"] == -signal.SIGKILL
    # the first had grown to its limit before the kill (as the sampler would have recorded it)
    memory = Path(jobs[0].job_dir) / failures.MEMORY
    record = json.loads(memory.read_text())
    memory.write_text(json.dumps({**record, "peak_rss_bytes": int(record["limit_bytes"] * 0.97)}))
    manager.reconcile()
    oom, plain = manager.get(jobs[0].id), manager.get(jobs[1].id)
    assert oom.status == "failed" and oom.error.startswith("killed by the kernel (out of memory?)"), oom.error
    assert "ended by SIGKILL" in oom.error
    assert plain.status == "lost" and "killed by SIGKILL" in plain.error and "without recording a final status" in plain.error
