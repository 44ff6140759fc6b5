"""Every command README.md's "Command line" table lists, run as a real subprocess with --json (issue 12).

Testing the backend function behind a command is not enough: argparse sits in between (`traces run
--teacher gpt-4o-mini` once sent the model "g", because the code iterated over the string argparse gave).

1. README's command table and the CLI's parser name the same commands, both ways.
2. One scenario, in the order a person works, on one fresh state: each step runs `python -m backend ...
   --json` and asserts on the JSON what the command says it does. Steps are separate tests (in file order)
   sharing the state, so one broken command fails its step, not the whole file.
3. The last test checks that every README command ran here (and succeeded) or in a test named in ELSEWHERE.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from backend.cli import build_parser
from tests.openai_server import FakeOpenAI
from tests.support import wait_for
from tests.trace_support import make_guard_responder

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
KEY = "sk-test-0123456789abcdefghij"
TEACHER = "gpt-4o-mini"

# README commands this file does not run, each run as a subprocess with --json by the named test (checked below).
ELSEWHERE: dict[str, str] = {
    "eval predictions": "tests/test_eval_guard.py::test_cli_scores_a_llamafactory_file",
}


# ---------------------------------------------------------------- README's table against the parser

def readme_section() -> str:
    text = README.read_text()
    start = text.index("## Command line")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def readme_commands() -> set[str]:
    """'group command' for each command in the table's first column; `jobs cancel\\|retry JOB` names two,
    a cell may hold several `...` spans, and a group without subcommands (chat) is just 'group'."""
    commands = set()
    for line in readme_section().splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells[0] == "command":  # the header
            continue
        for span in re.findall(r"`([^`]+)`", cells[0]):
            words = span.split()
            if len(words) > 1 and re.fullmatch(r"[a-z]+(\\\|[a-z]+)*", words[1]):
                commands.update(f"{words[0]} {name}" for name in words[1].split("\\|"))
            else:
                commands.add(words[0])
    return commands


def readme_json_keys() -> dict[str, set[str]]:
    """The JSON keys the table's last column promises, for the first command of each row: the backticked names
    of its first clause and of a `with --wait` clause (the scenario waits), without parenthesised details."""
    promised = {}
    for line in readme_section().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if not line.startswith("|") or line.startswith("|---") or cells[0] == "command":
            continue
        words = re.findall(r"`([^`]+)`", cells[0])[0].split()
        command = words[0] if words[0] == "chat" else f"{words[0]} {words[1].split(chr(92))[0]}"
        clauses = re.sub(r"\([^)]*\)", "", cells[-1]).split(";")
        keys = [k for i, c in enumerate(clauses) if i == 0 or "--wait" in c for k in re.findall(r"`([a-z_0-9]+)`", c)]
        promised[command] = set(keys)
    return promised


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def parser_commands() -> dict[str, argparse.ArgumentParser]:
    """'group command' (or 'group' when it has no subcommands) -> its parser."""
    commands = {}
    for group, group_parser in _subparsers(build_parser()).items():
        subs = _subparsers(group_parser)
        commands.update({f"{group} {name}": p for name, p in subs.items()} if subs else {group: group_parser})
    return commands


def command_of(argv: list[str]) -> str:
    """The 'group command' an argv runs."""
    return argv[0] if argv[0] == "chat" else f"{argv[0]} {argv[1]}"


def test_readme_table_names_exactly_the_cli_commands():
    documented, implemented = readme_commands(), set(parser_commands())
    assert {"data import", "jobs cancel", "jobs log", "eval show", "chat", "models export"} <= documented  # parsing
    assert sorted(implemented - documented) == [], "commands the CLI has but README's table does not list"
    assert sorted(documented - implemented) == [], "commands README's table lists but the CLI does not have"


def test_every_command_takes_json():
    """README: `--json` prints one JSON object for scripts; every command accepts it."""
    missing = [name for name, p in parser_commands().items()
               if not any("--json" in a.option_strings for a in p._actions)]
    assert missing == []


def test_readme_examples_parse():
    examples = re.findall(r"^python -m backend (.+)$", readme_section(), flags=re.M)
    assert len(examples) >= 4
    parser = build_parser()
    for example in examples:
        args = parser.parse_args(shlex.split(example))
        assert callable(args.func), example


# ---------------------------------------------------------------- the scenario

@dataclass
class Lab:
    state: Path
    tmp: Path
    env: dict[str, str]
    server: FakeOpenAI
    ran: dict[str, float] = field(default_factory=dict)  # 'group command' -> wall seconds of its successful runs
    cpu: dict[str, float] = field(default_factory=dict)  # their CLI processes' CPU seconds (not their jobs')
    keys: dict[str, set[str]] = field(default_factory=dict)  # 'group command' -> every key its JSON had
    ids: dict = field(default_factory=dict)

    def cli(self, *args: str, rc: int = 0, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
        """Run `python -m backend ARGS --json`; check the exit code and that stdout is one strict JSON object."""
        started, cpu = time.time(), _children_cpu()
        out = subprocess.run([sys.executable, "-m", "backend", *args, "--json"], cwd=ROOT, capture_output=True,
                             text=True, env={**self.env, **(env or {})}, timeout=timeout)
        seconds, cpu = time.time() - started, _children_cpu() - cpu
        shown = f"{' '.join(args)} -> rc {out.returncode}\nstdout: {out.stdout[-3000:]}\nstderr: {out.stderr[-3000:]}"
        assert out.returncode == rc, shown
        try:
            payload = json.loads(out.stdout, parse_constant=_not_json)
        except ValueError as exc:
            raise AssertionError(f"stdout is not one JSON object ({exc}): {shown}") from None
        assert isinstance(payload, dict), shown
        if rc == 0:
            command = command_of(list(args))
            self.ran[command] = self.ran.get(command, 0.0) + seconds
            self.cpu[command] = self.cpu.get(command, 0.0) + cpu
            self.keys.setdefault(command, set()).update(payload)
        return payload


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON (RFC 8259); jq and JSON.parse reject it")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli-readme")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTLAB_")}
    env.update(FTLAB_STATE=str(base / "state"), FTLAB_USER="tester", FTLAB_GPUS="", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", OPENAI_API_KEY=KEY, FTLAB_SECRETS=str(base / "secrets.toml"))
    with FakeOpenAI(responder=make_guard_responder(), api_key=KEY) as server:
        lab = Lab(state=base / "state", tmp=base, env=env, server=server)
        yield lab
    print(f"\nCLI: {sum(lab.ran.values()):.1f} s wall, {sum(lab.cpu.values()):.1f} s CPU in the CLI processes; "
          "per command (wall, CPU):",
          {k: (round(v, 1), round(lab.cpu[k], 1)) for k, v in sorted(lab.ran.items(), key=lambda kv: -kv[1])})


def _models(lab: Lab, since: int = 0) -> set[str]:
    return {r["body"].get("model") for r in lab.server.requests[since:]}


def _job_processes_gone(lab: Lab) -> None:
    """Wait until no job process of this state is alive: an ending job's runner starts queued jobs (with the
    default slots), which must not happen to the job a step keeps queued."""
    def alive() -> list:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            line = " ".join(proc.info["cmdline"] or [])
            if "backend.jobs.run" in line and str(lab.state) in line:
                found.append(proc)
        return found

    wait_for(lambda: not alive(), timeout=60)


# data ------------------------------------------------------------------------------------------------

def test_data_demo_list_show(lab):
    created = lab.cli("data", "demo")["created"]
    assert {c["ref"] for c in created} == {"demo-guard@1", "demo-saige@1", "demo-raft@1", "demo-orgaccess@1"}
    assert all(c["rows"] > 0 and c["parent"] is None for c in created)
    lab.ids["rows"] = {c["dataset"]: c["rows"] for c in created}
    listed = {d["name"]: d for d in lab.cli("data", "list")["datasets"]}
    assert set(listed) == set(lab.ids["rows"])
    guard = listed["demo-guard"]
    assert guard["recipe"] == "guard" and guard["owner"] == "tester" and guard["latest"] == 1
    assert [v["operation"] for v in guard["versions"]] == ["import"] and guard["rows"] == lab.ids["rows"]["demo-guard"]


def test_data_show(lab):
    shown = lab.cli("data", "show", "demo-guard@1", "--rows", "3")
    assert shown["ref"] == "demo-guard@1" and shown["recipe"] == "guard" and len(shown["sample"]) == 3
    assert {"prompt", "response", "prompt_harm_label"} <= set(shown["columns"]) <= set(shown["sample"][0]) | {"id"}
    assert shown["rows"] == shown["summary"]["rows"] == lab.ids["rows"]["demo-guard"]


def test_data_filter_split_dedup(lab):
    # README's example
    kept = lab.cli("data", "filter", "demo-saige", "--out", "saige-sft", "--max-harm", "0.25", "--min-buddhist", "6.5",
                   "--min-alignment", "good")
    assert kept["ref"] == "saige-sft@1" and kept["parent"] == "demo-saige@1" and kept["recipe"] == "saige"
    assert 0 < kept["kept"] == kept["rows"] < kept["of"] == lab.ids["rows"]["demo-saige"]
    lab.ids["saige-sft rows"] = kept["rows"]
    split = lab.cli("data", "split", "demo-guard", "--ratios", "0.8,0.1,0.1", "--seed", "0")
    total = lab.ids["rows"]["demo-guard"]
    assert split["ref"] == "demo-guard@2" and split["parent"] == "demo-guard@1"
    assert set(split["splits"]) == {"train", "validation", "test"} and sum(split["splits"].values()) == total
    assert split["splits"]["train"] == pytest.approx(0.8 * total, abs=2)
    assert all(set(labels) <= {"harmful", "unharmful"} for labels in split["balance"].values())
    lab.ids["splits"] = split["splits"]
    held_out = lab.cli("data", "filter", "demo-guard", "--out", "guard-held-out", "--where",
                       "split in validation,test", "prompt_len<=70")  # small: leakage embeds every row
    assert 0 < held_out["rows"] < split["splits"]["validation"] + split["splits"]["test"] and held_out["of"] == total
    deduped = lab.cli("data", "dedup", "demo-guard", "--out", "guard-dedup")
    assert deduped["ref"] == "guard-dedup@1" and deduped["total"] == total
    assert deduped["removed"] > 0 and deduped["kept"] == deduped["rows"] == total - deduped["removed"]
    assert 0 < len(deduped["examples"]) <= deduped["groups"] <= deduped["removed"]
    assert all(e["kept_id"] not in e["removed_ids"] for e in deduped["examples"])


def test_data_leakage(lab):
    report = lab.cli("data", "leakage", "guard-held-out", "--a", "validation", "--b", "test", "--wait", "--quiet")
    assert report["status"] == "succeeded" and report["job_id"]
    assert report["a"] == "validation" and report["b"] == "test" and report["threshold"] == 0.9
    assert report["exact"] == sum(p["kind"] == "exact" for p in report["pairs"])
    assert report["near"] == sum(p["kind"] == "near" for p in report["pairs"])
    assert all({p["a_split"], p["b_split"]} == {"validation", "test"} for p in report["pairs"])
    assert all(p["score"] >= 0.9 for p in report["pairs"])


def test_data_stats(lab):
    stats = lab.cli("data", "stats", "demo-guard", "--split", "test", "--max-seq-length", "160")
    assert stats["rows"] == lab.ids["splits"]["test"] and stats["max_seq_length"] == 160
    assert stats["encoding"] == "o200k_base" and 0 < stats["mean"] <= stats["max"] and stats["p95"] <= stats["max"]
    assert sum(stats["histogram"]["counts"]) == stats["rows"] and 0 <= stats["over"] <= stats["rows"]


def test_data_export_and_import(lab):
    path = lab.tmp / "saige_training_data.csv"
    exported = lab.cli("data", "export", "saige-sft", "--format", "mistral", "--out", str(path))
    assert exported["path"] == str(path) and exported["format"] == "mistral"
    assert exported["rows"] == lab.ids["saige-sft rows"] and exported["bytes"] == path.stat().st_size > 0
    assert path.read_text().startswith("text,") and "[INST]" in path.read_text()
    imported = lab.cli("data", "import", "--recipe", "generic", "--name", "saige-text", str(path),
                       "--map", "prompt=text")
    assert imported["ref"] == "saige-text@1" and imported["recipe"] == "generic"
    assert imported["rows"] == exported["rows"] and imported["summary"]["rows"] == exported["rows"]


# traces ----------------------------------------------------------------------------------------------

def test_traces_templates_prices_estimate(lab):
    templates = lab.cli("traces", "templates", "guard")["templates"]
    assert templates and all({"name", "hash", "system", "user"} <= set(t) for t in templates)
    prices = lab.cli("traces", "prices")
    assert prices["as_of"] and {TEACHER, "gpt-4o"} <= set(prices["models"])
    assert all(p["input"] > 0 and p["output"] > 0 for p in prices["models"].values() if p["input"])
    estimate = lab.cli("traces", "estimate", "demo-guard", "--teacher", TEACHER, "--teacher", "gpt-4o", "--limit", "3",
                       "--split", "test")
    assert [e["teacher"] for e in estimate["estimates"]] == [TEACHER, "gpt-4o"]
    assert estimate["requests"] == 3 and estimate["input_tokens"] > 0 and estimate["usd"] > 0
    cheap, dear = estimate["estimates"]
    assert cheap["input_tokens"] == dear["input_tokens"] and cheap["usd"] < dear["usd"]


def test_traces_run_sends_the_teacher_named(lab):
    before = len(lab.server.requests)
    traced = lab.cli("traces", "run", "demo-guard", "--teacher", TEACHER, "--base-url", lab.server.base_url,
                     "--split", "test", "--limit", "2", "--wait")
    assert _models(lab, before) == {TEACHER}  # not "g": argparse gives a string, not a list
    assert traced["status"] == "succeeded" and traced["done"] == 2 and traced["failed"] == 0
    assert traced["dataset"] == "demo-guard-traces@1" and traced["input_tokens"] > 0 and traced["usd"] > 0
    lab.ids["traces"] = traced["job_id"]


def test_traces_items(lab):
    job = lab.ids["traces"]
    page = lab.cli("traces", "items", job)
    assert page["ledger"]["done"] == 2 and len(page["items"]) == 2
    assert {i["status"] for i in page["items"]} == {"accepted"}
    item = page["items"][0]["item_id"]
    attempts = lab.cli("traces", "items", job, "--item", item)["attempts"]
    assert attempts and all(a["job_id"] == job and a["item_id"] == item for a in attempts)
    unknown = lab.cli("traces", "items", "no-such-job", rc=2)  # not an empty page: like `jobs show`, an error
    assert "no-such-job" in unknown["error"]


# train -----------------------------------------------------------------------------------------------

def test_train_presets_memory_launch(lab):
    presets = {p["name"]: p for p in lab.cli("train", "presets")["presets"]}
    assert presets["tiny"]["spec"]["base_model"] == "tiny"
    memory = lab.cli("train", "memory", "--preset", "tiny", "--dataset", "demo-guard", "--set", "batch_size=2")
    assert memory["total_gb"] > 0 and memory["devices"] == [] and "CPU" in memory["verdict"]
    assert "batch 2" in memory["assumptions"]
    trained = lab.cli("train", "launch", "--preset", "tiny", "--dataset", "demo-guard", "--set", "max_steps=2",
                      "--set", "save_steps=1", "--set", "batch_size=2", "--wait")
    assert trained["status"] == "succeeded" and trained["steps"] == 2 and trained["final_loss"] > 0
    assert Path(trained["adapter"]).is_dir() and trained["job_id"] in trained["adapter"]
    assert trained["command"].startswith("python -m backend train launch --preset tiny --dataset demo-guard")
    lab.ids["train"] = trained["job_id"]


# jobs ------------------------------------------------------------------------------------------------

def test_jobs_show_log(lab):
    job = lab.ids["train"]
    shown = lab.cli("jobs", "show", job)
    assert shown["id"] == job and shown["kind"] == "train" and shown["status"] == "succeeded"
    assert shown["owner"] == "tester" and shown["executor"] == "local" and shown["slurm_job_id"] is None
    assert shown["done"] == shown["total"] == 2
    log = lab.cli("jobs", "log", job)
    assert log["id"] == job and "step" in log["log"]


def test_jobs_cancel_resume_wait_retry_delete(lab):
    waiting = {"FTLAB_SLOTS": "api=0"}  # no slot for API jobs: the job stays queued
    _job_processes_gone(lab)
    queued = lab.cli("traces", "run", "demo-guard", "--teacher", TEACHER, "--base-url", lab.server.base_url,
                     "--split", "validation", "--limit", "2", "--out", "guard-val-traces", env=waiting)
    job = queued["job_id"]
    assert queued["status"] == "queued"
    shown = lab.cli("jobs", "show", job, env=waiting)
    assert shown["status"] == "queued" and shown["wait_reason"]
    queue = lab.cli("jobs", "queue", env=waiting)
    assert queue["users"] == [{"owner": "tester", "running": 0, "queued": 1, "gpus": 0}]
    assert queue["slots"]["api"] == 0 and queue["limits"] == {}
    cancelled = lab.cli("jobs", "cancel", job)
    assert cancelled["id"] == job and cancelled["status"] == "cancelled"
    resumed = lab.cli("jobs", "resume", job)
    assert resumed["id"] == job and resumed["status"] in ("queued", "starting", "running")
    before = len(lab.server.requests)
    done = lab.cli("jobs", "wait", job, "--timeout", "120")
    assert done["id"] == job and done["status"] == "succeeded" and done["result"]["dataset"] == "guard-val-traces@1"
    assert _models(lab, before) == {TEACHER}
    refused = lab.cli("jobs", "cancel", job, rc=2)  # README: an error prints {"error": ...}, exit non-zero
    assert set(refused) == {"error"} and job in refused["error"] and "succeeded" in refused["error"]
    _job_processes_gone(lab)
    retried = lab.cli("jobs", "retry", job, env=waiting)  # a new job with the same spec; it stays queued
    assert retried["id"] != job and retried["kind"] == "traces" and retried["status"] == "queued"
    assert json.loads((Path(retried["job_dir"]) / "spec.json").read_text())["out"] == "guard-val-traces"
    deleted = lab.cli("jobs", "delete", retried["id"])
    assert deleted == {"deleted": retried["id"]} and not Path(retried["job_dir"]).exists()
    jobs = {j["id"]: j for j in lab.cli("jobs", "list")["jobs"]}
    assert retried["id"] not in jobs and {job, lab.ids["train"], lab.ids["traces"]} <= set(jobs)
    assert jobs[lab.ids["train"]]["kind"] == "train" and jobs[job]["status"] == "succeeded"
    mine = lab.cli("jobs", "list", "--mine", "--kind", "train")["jobs"]
    assert [j["id"] for j in mine] == [lab.ids["train"]]


# eval ------------------------------------------------------------------------------------------------

def test_eval_run_list_show(lab):
    before = len(lab.server.requests)
    evaluated = lab.cli("eval", "run", "demo-guard", "--teacher", TEACHER, "--base-url", lab.server.base_url,
                        "--split", "test", "--limit", "2", "--wait")
    assert evaluated["status"] == "succeeded" and _models(lab, before) == {TEACHER}
    best = evaluated["best"]
    assert best["headline"] == "prompt_f1" and 0 <= best["headline_value"] <= 1 and len(evaluated["evaluations"]) == 1
    eval_id = evaluated["evaluations"][0]["id"]
    listed = lab.cli("eval", "list", "--dataset", "demo-guard")["evaluations"]
    assert [e["id"] for e in listed] == [eval_id] and listed[0]["headline"] == "prompt_f1"
    shown = lab.cli("eval", "show", eval_id, "--rows", "1")
    assert shown["id"] == eval_id and len(shown["predictions"]) == 1
    assert {"prompt", "label", "predict"} <= set(shown["predictions"][0])


# retrieval and RAFT ----------------------------------------------------------------------------------

STORIES = {  # a corpus in MSRS's data/story/ layout, small enough to embed in a second
    "GLASS_LIGHTHOUSE_1": "Mara keeps the glass lighthouse on Tern Island and polishes its great lens every dusk.",
    "GLASS_LIGHTHOUSE_2": "A storm cracks the lens; Mara rows to the mainland to buy amber glass from old Ivo.",
    "SALT_ORCHARD_1": "Beneath the salt cliffs Tomas grows pear trees that drink sea fog instead of rain.",
    "SALT_ORCHARD_2": "A blight turns the pears grey, and Tomas grafts branches from his grandmother's tree.",
    "PAPER_ROBOT_1": "Lin folds a robot out of newspaper, and at midnight it starts reading the headlines aloud.",
    "PAPER_ROBOT_2": "The paper robot gets soaked in the rain, so Lin irons it dry and it forgets every word.",
}
QUESTIONS = {
    "train": [("Who polishes the lens of the glass lighthouse on Tern Island?", "GLASS_LIGHTHOUSE_1"),
              ("What do the pear trees under the salt cliffs drink?", "SALT_ORCHARD_1"),
              ("What does the newspaper robot read at midnight?", "PAPER_ROBOT_1"),
              ("Where does Mara buy amber glass after the storm?", "GLASS_LIGHTHOUSE_2")],
    "test": [("How does Tomas save the grey pears from the blight?", "SALT_ORCHARD_2"),
             ("What happens to the paper robot after it is soaked in the rain?", "PAPER_ROBOT_2"),
             ("Which island has the glass lighthouse that Mara keeps?", "GLASS_LIGHTHOUSE_1"),
             ("Who folds a robot out of newspaper?", "PAPER_ROBOT_1")],
}


def write_story_corpus(folder: Path) -> Path:
    (folder / "documents").mkdir(parents=True)
    for doc_id, text in STORIES.items():
        (folder / "documents" / f"{doc_id}.txt").write_text(text + "\n")
    number = 0
    for split, questions in QUESTIONS.items():
        records = {}
        for question, gold in questions:
            records[str(number)] = {"query": question, "squality_query": question, "gold_documents": [gold],
                                    "answer": [STORIES[gold]]}
            number += 1
        (folder / f"queries_{split}.json").write_text(json.dumps(records))
    return folder


def test_index_build_search_evaluate_list(lab):
    corpus = write_story_corpus(lab.tmp / "story")
    imported = lab.cli("data", "import", "--recipe", "raft", "--name", "stories", str(corpus))
    assert imported["ref"] == "stories@1" and imported["rows"] == sum(map(len, QUESTIONS.values()))
    built = lab.cli("index", "build", "stories", "--chunk-size", "64", "--overlap", "8", "--name", "stories-idx",
                    "--wait")
    assert built["index"] == "stories-idx" and built["status"] == "succeeded" and built["job_id"]
    assert built["dataset_ref"] == "stories@1" and built["documents"] == len(STORIES) <= built["chunks"]
    found = lab.cli("index", "search", "stories-idx", "pear trees drinking sea fog", "--k", "3", "--mode", "bm25")
    assert found["mode"] == "bm25" and found["k"] == 3 and 1 <= len(found["results"]) <= 3  # BM25: matching ones
    assert found["results"][0]["doc_id"] == "SALT_ORCHARD_1" and "sea fog" in found["results"][0]["chunk"]
    report = lab.cli("index", "evaluate", "stories-idx", "--split", "test", "--k", "2", "--mode", "bm25")
    assert report["queries"] == len(report["per_query"]) == len(QUESTIONS["test"]) and report["k"] == 2
    assert report["recall"] >= 0.75 and all(0 <= report[m] <= 1 for m in ("precision", "ndcg", "map"))
    indexes = lab.cli("index", "list")["indexes"]
    assert [(m["name"], m["dataset_ref"], m["chunks"]) for m in indexes] == [("stories-idx", "stories@1",
                                                                              built["chunks"])]


def test_raft_build(lab):
    raft = lab.cli("raft", "build", "stories", "--distractors", "2", "--oracle-p", "0.5", "--seed", "1",
                   "--split", "train", "--out", "stories-raft")
    assert raft["dataset"] == "stories-raft" and raft["ref"] == "stories-raft@1"
    assert raft["rows"] == len(QUESTIONS["train"]) and raft["distractors_per_example"] == 2
    assert 0 <= raft["share_with_oracle"] <= 1


# chat and models -------------------------------------------------------------------------------------

def test_chat(lab):
    # a teacher endpoint: no model to load in this process (chatting with a run's model: test_playground.py)
    before = len(lab.server.requests)
    chatted = lab.cli("chat", f"teacher:{TEACHER}@{lab.server.base_url}", "Is this request harmful?", "--system",
                      "Answer briefly.", "--max-new-tokens", "300", "--temperature", "0")
    sent = lab.server.requests[before:]
    assert [r["body"]["model"] for r in sent] == [TEACHER]
    assert [m["role"] for m in sent[0]["body"]["messages"]] == ["system", "user"]
    assert chatted["reply"].startswith("# Task 1") and chatted["tokens"] > 0 and TEACHER in chatted["model"]


def test_models_list_export_delete(lab):
    job = lab.ids["train"]
    models = {m["id"]: m for m in lab.cli("models", "list")["models"]}  # the tiny preset fine-tunes every weight
    assert {f"{job}/model", f"{job}/checkpoint-1", f"{job}/checkpoint-2"} <= set(models)
    assert models[f"{job}/model"]["kind"] == "full" and models[f"{job}/model"]["dataset"].startswith("demo-guard")
    # the card only: merged and GGUF load torch in the job (test_models.py exports every format)
    exported = lab.cli("models", "export", f"{job}/model", "--formats", "card", "--wait")
    assert exported["status"] == "succeeded" and exported["model_id"] == f"{job}/model" and exported["job_id"]
    assert set(exported["outputs"]) == {"card"} and job in Path(exported["outputs"]["card"]).read_text()
    checkpoint = Path(models[f"{job}/checkpoint-1"]["path"])
    assert lab.cli("models", "delete", f"{job}/checkpoint-1") == {"deleted": [f"{job}/checkpoint-1"]}
    assert not checkpoint.exists()


def test_data_delete(lab):
    deleted = lab.cli("data", "delete", "saige-text")
    assert deleted == {"deleted": "saige-text", "versions": 1}


# ---------------------------------------------------------------- coverage

def test_every_readme_command_ran_as_a_subprocess_with_json(lab):
    for command, test in ELSEWHERE.items():  # keep the list honest: the named test runs it through the CLI
        path, _, name = test.partition("::")
        source = (ROOT / path).read_text()
        function = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == name)
        body = ast.get_source_segment(source, function)
        assert '"-m", "backend"' in source and "--json" in source, test
        assert ", ".join(f'"{w}"' for w in command.split()) in body, (command, test)
    missing = readme_commands() - set(lab.ran) - set(ELSEWHERE)
    assert sorted(missing) == [], "README commands no test runs as a subprocess with --json"


def test_readme_json_keys_are_in_the_output(lab):
    promised = readme_json_keys()
    assert promised["data split"] == {"splits", "balance"} and promised["jobs cancel"] == set()  # the parsing
    assert promised["traces run"] >= {"job_id", "status", "dataset"} and promised["eval list"] == {"evaluations"}
    absent = {command: sorted(keys - lab.keys[command]) for command, keys in promised.items()
              if command in lab.keys and not keys <= lab.keys[command]}
    assert absent == {}, "keys README's table promises that the command's --json output lacks"
