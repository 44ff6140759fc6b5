"""Pages that say what is true (issue 15), in AppTest and at the backend: the Monitor's metrics fit and its
comparison draws only real curves; Evaluate shows each number once, scores an uploaded predictions file,
starts from a sample with a time estimate; a split selects its new version and is not stored twice; Home's
first screen comes from counts; the Playground shows a teacher's plain-JSON reply under the teacher's name;
the queue shows no "None"."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import psutil
import pytest

from backend.config import state_path
from backend.data import store
from backend.data.demo import create_demo_datasets
from backend.data.splits import split_dataset
from backend.errors import LabError
from backend.storage.db import connect, now_iso, transaction
from tests.browser_support import ROOT
from tests.support import isolated_state, open_page, split_demo_from_page

# ---- helpers shared with tests/test_browser_truth.py --------------------------------------------------------


def fake_job(kind: str, status: str, *, pid: int | None = None, metrics: list[dict] | None = None,
             progress: list[dict] | None = None, spec: dict | None = None, title: str | None = None) -> str:
    """A job row and folder as the job system leaves them, without running anything: a "running" job's process
    is `pid` (alive, so reconcile leaves it be)."""
    job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{uuid.uuid4().hex[:6]}"
    job_dir = state_path("runs") / job_id
    (job_dir / "artifacts").mkdir(parents=True)
    (job_dir / "spec.json").write_text(json.dumps({"kind": kind, **(spec or {})}))
    (job_dir / "status.json").write_text(json.dumps({"status": status}))
    for name, records in (("metrics.jsonl", metrics), ("progress.jsonl", progress)):
        if records:
            (job_dir / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    with connect() as db, transaction(db):
        db["jobs"].insert({
            "id": job_id, "kind": kind, "title": title or f"fake {kind}", "owner": "tester", "status": status,
            "resource": "cpu", "executor": "local", "pid": pid,
            "pid_started": psutil.Process(pid).create_time() if pid else None,
            "host": socket.gethostname() if pid else None, "spec_hash": "fake", "job_dir": str(job_dir),
            "attempts": 1, "created_at": now_iso(), "started_at": now_iso() if pid else None, "gpus": 0})
    return job_id


def loss_records(steps: range) -> list[dict]:
    return [{"ts": time.time(), "step": s, "loss": 3.0 - s / 100, "learning_rate": 0.001} for s in steps]


def set_status(job_id: str, status: str) -> None:
    with connect() as db, transaction(db):
        db.conn.execute("UPDATE jobs SET status=? WHERE id=?", (status, job_id))


class PlainChatServer:
    """An OpenAI-compatible endpoint that ignores stream=true: every chat request gets one JSON reply
    (mode "plain"), an error object with status 200 ("error") or an HTML page ("html")."""

    def __init__(self, mode: str = "plain", text: str = "Hello from a plain JSON reply.", tokens: int = 85):
        self.mode, self.text, self.tokens, self.requests = mode, text, tokens, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                server.requests.append(body)
                if server.mode == "html":
                    payload, kind = b"<html><body>502 Bad Gateway</body></html>", "text/html"
                elif server.mode == "error":
                    payload, kind = json.dumps({"error": {"message": "model is overloaded"}}).encode(), "application/json"
                else:
                    payload = json.dumps({
                        "id": "chatcmpl-plain", "object": "chat.completion", "created": 0, "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": server.text}}],
                        "usage": {"prompt_tokens": 12, "completion_tokens": server.tokens,
                                  "total_tokens": 12 + server.tokens}}).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "PlainChatServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def orgaccess_predictions(n: int = 12) -> bytes:
    """LLaMA-Factory's generated_predictions.jsonl for orgaccess: gold label words, answers in the recipe's form."""
    labels = ["full", "partial", "rejected"]
    lines = []
    for i in range(n):
        gold = labels[i % 3]
        said = gold if i % 4 else labels[(i + 1) % 3]
        lines.append(json.dumps({"prompt": f"query {i}", "label": gold, "predict": f"Response type: {said}\n\nRationale: x"}))
    return ("\n".join(lines) + "\n").encode()


# ---- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with isolated_state(tmp_path_factory, "truth", OPENAI_API_KEY="sk-test-0123456789abcdefghij") as state:
        create_demo_datasets()
        sleepers: list[subprocess.Popen] = []
        yield {"state": state, "sleepers": sleepers}
        for proc in sleepers:  # only the processes this module started
            proc.kill()
            proc.wait(5)


def sleeper(lab) -> int:
    proc = subprocess.Popen(["sleep", "600"])
    lab["sleepers"].append(proc)
    return proc.pid


def metric_labels(at) -> list[str]:
    return [m.label for m in at.metric]


def plotly_specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


# ---- data: split, versions, summaries -----------------------------------------------------------------------


def test_same_derivation_returns_the_existing_version(state):
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(40)], "prompt": [f"p {i}" for i in range(40)],
                          "label": ["a", "b"] * 20})
    for _ in range(2):  # imports always make a new version: re-importing refreshes a source
        with store.VersionWriter("rows", "generic", "import") as writer:
            writer.write(frame)
            writer.commit()
    first = split_dataset("rows@2", ratios={"train": 0.5, "test": 0.5})
    again = split_dataset("rows@2", ratios={"train": 0.5, "test": 0.5})
    assert (first.ref, again.ref) == ("rows@3", "rows@3")  # "Create split" twice: one version
    assert split_dataset("rows@3", ratios={"train": 0.5, "test": 0.5}).ref == "rows@3"  # re-splitting changes nothing
    other = split_dataset("rows@2", ratios={"train": 0.5, "test": 0.5}, seed=7)
    assert other.ref == "rows@4" and other.content_hash != first.content_hash
    assert [v["version"] for v in store.list_datasets()[0]["versions"]] == [1, 2, 3, 4]
    assert not list((state / "datasets" / ".tmp").iterdir())  # the discarded copy left nothing behind


def test_split_selects_its_new_version_and_a_second_click_adds_none(lab):
    at = split_demo_from_page()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.value.startswith("Created demo-orgaccess@2") for s in at.success)
    for key in ("data_split", "data_browse", "data_leak"):  # every tab of the page moved to the new version
        assert at.selectbox(key=f"{key}_dataset").value == "demo-orgaccess"
        assert at.selectbox(key=f"{key}_version_demo-orgaccess").value == 2
    assert any("Split preview of demo-orgaccess@2" in m.value for m in at.markdown)
    at.button(key="data_split_go").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("already split this way" in s.value for s in at.success)
    assert at.selectbox(key="data_split_version_demo-orgaccess").value == 2
    assert store.resolve("demo-orgaccess").version == 2

    # Browse shows the version's summary as words and a table, not a collapsed {...}
    assert not at.json
    assert any(e.label == "Summary of this version" for e in at.expander)
    shown = "\n".join(m.value for m in at.markdown)
    assert "**Splits**: train " in shown and "hard_test" in shown and "**Stratify**: expected_response" in shown
    assert "{" not in shown.split("**Splits**")[1].split("\n")[0]


def test_summary_parts_are_readable():
    from ui.data_sections import summary_parts

    lines, tables = summary_parts({"splits": {"train": 7000, "test": 3000}, "stratify": "label", "dropped": 0,
                                   "balance": {"train": {"a": 5, "b": 2}, "test": {"a": 2}},
                                   "skipped": ["x.json"], "empty": {}})
    assert lines == ["**Splits**: train 7,000 · test 3,000", "**Stratify**: label", "**Dropped**: 0",
                     "**Skipped**: x.json"]
    assert list(tables) == ["Balance"] and tables["Balance"].loc["test", "b"] == 0


# ---- home ---------------------------------------------------------------------------------------------------


def test_home_first_screen_comes_from_counts_and_offers_missing_demo_data(state):
    with store.VersionWriter("mine", "generic", "import") as writer:
        writer.write(pd.DataFrame({"id": ["a", "b"], "prompt": ["x", "y"], "label": ["1", "2"]}))
        writer.commit()

    def no_summaries(row):
        raise AssertionError("Home read every version's summary")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "_row_to_version", no_summaries)
        at = open_page("views/home.py")
    assert at.title[0].value == ":material/science: Finetune Lab"
    assert [m.value for m in at.metric] == ["0", "0", "0", "0"]  # guard, saige, raft, orgaccess: "mine" is generic
    load = next(b for b in at.button if b.label == "Load demo data")  # own data exists: the demo is still offered
    assert not load.disabled
    load.click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Demo data is loaded" in s.value for s in at.success)
    assert [m.value for m in at.metric] == ["1", "1", "1", "1"]
    assert next(b for b in at.button if b.label == "Load demo data").disabled  # nothing left to load

    from backend.home import overview

    counts = overview()
    assert counts["demo_missing"] == [] and counts["by_recipe"]["generic"] == 1 and counts["split_versions"] == 0
    assert {d["dataset"]: d["rows"] for d in counts["datasets"]}["demo-guard"] == store.resolve("demo-guard").rows


# ---- monitor ------------------------------------------------------------------------------------------------


def test_monitor_metrics_fit_and_compare_draws_only_real_curves(lab):
    waiting = fake_job("train", "running", pid=sleeper(lab), title="no loss yet")
    logging = fake_job("train", "running", pid=sleeper(lab), metrics=loss_records(range(1, 8)),
                       progress=[{"done": 7, "total": 20}], title="logging loss")
    at = open_page("views/monitor.py")
    at.selectbox(key="monitor_job").set_value(logging)
    at.multiselect(key="monitor_overlay").set_value([logging, waiting])
    at.run()
    labels = metric_labels(at)
    assert "Job memory" in labels and "Job CPU" in labels and "Job process" not in labels
    assert all(" · " not in m.value for m in at.metric), [m.value for m in at.metric]  # short values only
    [overlay] = [s for s in plotly_specs(at) if "Training loss" in json.dumps(s["layout"].get("title"))]
    assert [t["name"] for t in overlay["data"]] == [logging]  # no empty trace for the run without loss
    assert any(c.value == f"No training loss logged yet: {waiting} (running)" for c in at.caption)

    at.multiselect(key="monitor_overlay").set_value([waiting])
    at.run()
    assert not [s for s in plotly_specs(at) if "Training loss" in json.dumps(s["layout"].get("title"))]  # no empty chart
    set_status(waiting, "cancelled")
    set_status(logging, "cancelled")


# ---- evaluate -----------------------------------------------------------------------------------------------


def fake_orgaccess_evaluation() -> str:
    from backend.evaluation.runner import PREDICTIONS, RESULTS, eval_rows
    from backend.evaluation.scoring import score
    from backend.recipes import get_recipe

    version = store.resolve("demo-orgaccess@1")
    recipe = get_recipe("orgaccess")
    frame, _ = eval_rows(version, None, 9)
    rows = [recipe.plain_row(r) for r in frame.to_dict(orient="records")]
    texts = [f"Response type: {['full', 'partial', 'rejected'][i % 3]}" for i in range(len(rows))]
    scored = score("orgaccess", recipe, rows, texts)
    job_id = fake_job("eval", "succeeded", spec={"dataset": version.ref})
    folder = state_path("runs") / job_id / "artifacts"
    (folder / PREDICTIONS).write_text("".join(json.dumps({
        "id": str(i), "prompt": "q", "label": None, "predict": t, "parsed": p, "gold": recipe.gold_labels(r),
        "group": None, "trace": None}) + "\n" for i, (r, t, p) in enumerate(zip(rows, texts, scored["parsed"]))))
    (folder / RESULTS).write_text(json.dumps({"model": "fake", "checkpoint": None, "dataset": version.ref,
                                              "split": None, "headline": scored["headline"],
                                              "headline_value": scored["headline_value"], "metrics": scored["metrics"]}))
    eval_id = uuid.uuid4().hex[:12]
    with connect() as db, transaction(db):
        db["evaluations"].insert({
            "id": eval_id, "job_id": job_id, "dataset": version.ref, "dataset_hash": version.content_hash,
            "recipe": "orgaccess", "split": None, "model_label": "fake", "model_kind": "model", "train_job": None,
            "checkpoint": None, "headline": scored["headline"], "headline_value": scored["headline_value"],
            "results_path": str(folder / RESULTS), "owner": "tester", "created_at": now_iso()})
    return eval_id


def test_orgaccess_results_show_each_number_once(lab):
    eval_id = fake_orgaccess_evaluation()
    at = open_page("views/evaluate.py")
    at.selectbox(key="evaluate_result").set_value(eval_id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    labels = metric_labels(at)
    assert labels[:3] == ["macro_f1", "accuracy", "unparseable"] and len(labels) == len(set(labels))


def test_evaluate_scores_an_uploaded_predictions_file_like_the_cli(lab, tmp_path):
    from backend.evaluation.predictions import score_predictions

    content = orgaccess_predictions()
    path = tmp_path / "generated_predictions.jsonl"
    path.write_bytes(content)
    cli = json.loads(subprocess.run(
        [sys.executable, "-m", "backend", "eval", "predictions", str(path), "--recipe", "orgaccess", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    at = open_page("views/evaluate.py")
    assert at.button(key="evaluate_file_go").disabled
    at.file_uploader(key="evaluate_file_upload").upload("generated_predictions.jsonl", content)
    at.selectbox(key="evaluate_file_recipe").select("orgaccess")
    at.run()
    at.button(key="evaluate_file_go").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = {m.label: m.value for m in at.metric if m.label in ("macro_f1", "accuracy", "unparseable")}
    assert shown == {"macro_f1": f"{cli['macro_f1']:.4f}", "accuracy": f"{cli['accuracy']:.4f}",
                     "unparseable": str(cli["unparseable"])}
    assert any(s["layout"].get("xaxis", {}).get("title") for s in plotly_specs(at))  # the confusion matrix
    assert any("generated_predictions.jsonl" in m.value and "12 rows" in m.value for m in at.markdown)

    # guard: a task and GuardReasoner's own scoring, with a column mapping; the same numbers as the backend
    guard = [{"gold": "harmful" if i % 2 else "unharmful",
              "output": f"Answers:\nRequest: {'harmful' if i % 3 else 'unharmful'}"} for i in range(10)]
    guard_file = "".join(json.dumps(r) + "\n" for r in guard).encode()
    (tmp_path / "guard.jsonl").write_bytes(guard_file)
    expected = score_predictions(tmp_path / "guard.jsonl", "guard", task="prompt", paper_compatible=True,
                                 mapping={"label": "gold", "predict": "output"})
    at.file_uploader(key="evaluate_file_upload").set_value(("guard.jsonl", guard_file, "application/jsonl"))
    at.selectbox(key="evaluate_file_recipe").select("guard")
    at.run()
    at.checkbox(key="evaluate_file_paper").check()
    at.text_input(key="evaluate_file_map").input("label=gold, predict=output")
    at.run()
    at.button(key="evaluate_file_go").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["prompt_f1"] == f"{expected['f1']:.4f}"
    assert any("paper-compatible scoring" in m.value for m in at.markdown)
    at.text_input(key="evaluate_file_map").input("answer=output")
    at.run()
    at.button(key="evaluate_file_go").click()
    at.run()
    assert any("column mapping 'answer=output'" in e.value for e in at.error)


def test_evaluate_starts_from_a_sample_with_a_time_estimate(lab):
    from backend.evaluation.estimate import DEFAULT_ROWS, suggested_max_new_tokens

    at = open_page("views/evaluate.py")
    at.selectbox(key="evaluate_dataset").select("demo-orgaccess")
    at.run()
    at.radio(key="evaluate_source").set_value("A teacher endpoint")
    at.run()
    at.text_input(key="evaluate_teacher_url").input("http://127.0.0.1:9/v1")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    ref = f"demo-orgaccess@{at.selectbox(key='evaluate_version_demo-orgaccess').value}"
    assert at.number_input(key="evaluate_limit").value == DEFAULT_ROWS == 50
    suggested, _ = suggested_max_new_tokens(ref, None, "teacher")
    assert at.number_input(key="evaluate_max_tokens").value == suggested < 512
    [estimate] = [i.value for i in at.info if "new tokens" in i.value]
    assert estimate.startswith("Roughly ") and f"for 50 rows at up to {suggested} new tokens (a guess)" in estimate
    assert any(c.value.startswith("How: a guess: this endpoint has not been timed here yet") for c in at.caption)
    at.number_input(key="evaluate_max_tokens").set_value(40)
    at.run()
    assert at.number_input(key="evaluate_max_tokens").value == 40  # a typed value stays


def test_time_estimate_is_measured_from_an_earlier_evaluation(lab, tmp_path):
    from backend.evaluation.estimate import estimate_evaluation, suggested_max_new_tokens
    from backend.evaluation.runner import EvalRequest

    base = tmp_path / "base-model"
    base.mkdir()
    request = EvalRequest(dataset="demo-guard", base_model=str(base), limit=50, max_new_tokens=32)
    guess = estimate_evaluation(request)
    assert not guess.measured and guess.basis.startswith("a guess: this model has not been evaluated here yet")
    fake_job("eval", "succeeded", spec={
        "max_new_tokens": 64, "teacher": None,
        "models": [{"label": "base-model", "base": str(base), "adapter": None, "checkpoint": None}]},
        progress=[{"elapsed_s": 57.2, "done": 32, "total": 40, "model": "base-model"},
                  {"elapsed_s": 64.2, "done": 40, "total": 40, "model": "base-model"}])
    measured = estimate_evaluation(request)
    per_row = (64.2 - 57.2) / 8  # seconds per row at 64 tokens, after a start-up of 57.2 - 32 * per_row
    assert measured.measured and measured.rows == 50
    assert measured.seconds == pytest.approx((57.2 - 32 * per_row) + 50 * per_row * 32 / 64)
    assert "scored 40 rows at up to 64 new tokens in 64 s" in measured.basis
    assert suggested_max_new_tokens("demo-guard", None, "run")[0] < suggested_max_new_tokens("demo-guard", None, "teacher")[0]


# ---- playground ---------------------------------------------------------------------------------------------


def test_teacher_plain_json_reply_is_used_and_errors_are_raised(state):
    from backend.playground.chat import stream_reply
    from backend.playground.models import resolve_choice

    with PlainChatServer() as server:
        reply = stream_reply(resolve_choice(f"teacher:plain-model@{server.base_url}"),
                             [{"role": "user", "content": "hi"}])
        assert "".join(reply) == "Hello from a plain JSON reply."
        assert (reply.tokens, reply.finish_reason) == (85, "stop")
        assert server.requests[0]["stream"] is True
    for mode, message in (("error", "model is overloaded"), ("html", "neither a stream nor JSON")):
        with PlainChatServer(mode=mode) as server:
            with pytest.raises(LabError, match=message):
                "".join(stream_reply(resolve_choice(f"teacher:plain-model@{server.base_url}"),
                                     [{"role": "user", "content": "hi"}]))


def test_cli_chat_with_a_teacher_that_ignores_stream(state):
    with PlainChatServer() as server:
        out = subprocess.run([sys.executable, "-m", "backend", "chat", f"teacher:plain-model@{server.base_url}", "hi",
                              "--json"], cwd=ROOT, capture_output=True, text=True, check=True)
    payload = json.loads(out.stdout)
    assert payload["reply"] == "Hello from a plain JSON reply." and payload["tokens"] == 85


def test_playground_labels_the_reply_with_the_teacher_called(lab):
    running = fake_job("train", "running", pid=sleeper(lab), title="a run in the Model A box")
    (state_path("runs") / running / "artifacts" / "run.json").write_text(json.dumps({"base_model": "/nowhere/tiny"}))
    with PlainChatServer() as server:
        at = open_page("views/playground.py")
        assert at.selectbox(key="playground_a").value == f"tiny (base of {running})"
        at.text_input(key="playground_custom").input(f"teacher:plain-model@{server.base_url}")
        at.run()
        at.chat_input(key="playground_input").set_value("hello")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert f"teacher plain-model @ {server.base_url}" in [c.value for c in at.caption]
    assert any("Hello from a plain JSON reply." in m.value for m in at.markdown)
    set_status(running, "cancelled")


# ---- queue --------------------------------------------------------------------------------------------------


def test_queue_tables_show_no_none_for_steps(lab):
    fresh = fake_job("train", "running", pid=sleeper(lab), title="just started")
    stepping = fake_job("train", "running", pid=sleeper(lab), progress=[{"done": 3, "total": 60}], title="stepping")
    at = open_page("views/train.py")
    queue = at.dataframe[-1].value.set_index("job")
    assert queue.loc[fresh, "steps"] == "" and queue.loc[stepping, "steps"] == "3 / 60"
    assert not queue.isna().any().any()
    jobs = open_page("views/jobs.py").dataframe[0].value.set_index("id")
    assert jobs.loc[fresh, "progress"] == "" and jobs.loc[stepping, "progress"] == "3 / 60"
    for job_id in (fresh, stepping):
        set_status(job_id, "cancelled")
