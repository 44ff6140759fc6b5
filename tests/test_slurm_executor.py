"""The Slurm executor against a real single-node cluster: a tiny training job runs there with live metrics,
cancelling works (running and pending), and state is recovered by a fresh process after the runner is killed."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backend.data.demo import create_demo_datasets
from backend.errors import LabError
from backend.jobs import manager, slurm
from backend.jobs.files import read_jsonl
from backend.jobs.slurm import SlurmOptions
from tests.browser_support import ROOT
from tests.slurm_support import show_job, slurm_env, wait_job  # noqa: F401
from tests.support import open_page, wait_for

SMALL = SlurmOptions(cpus=1, mem="1G", time="00:10:00")


@pytest.fixture()
def cluster(state, slurm_env, monkeypatch):  # noqa: F811
    for key, value in slurm_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FTLAB_JOB_PLUGINS", "tests.job_kinds")
    monkeypatch.setenv("FTLAB_GPUS", "")
    return slurm_env


def cli(*args):
    out = subprocess.run([sys.executable, "-m", "backend", *args, "--json"], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout, out.stderr
    return out.returncode, json.loads(out.stdout)


def test_tiny_training_runs_on_slurm_with_live_metrics(cluster):
    create_demo_datasets()
    rc, launched = cli("train", "launch", "--preset", "tiny", "--dataset", "demo-guard", "--set", "max_steps=12",
                       "--set", "logging_steps=1", "--executor", "slurm", "--cpus", "1", "--mem", "2G",
                       "--time", "00:15:00")
    assert rc == 0, launched
    job_id = launched["job_id"]
    rc, shown = cli("jobs", "show", job_id)
    assert shown["executor"] == "slurm" and shown["slurm_job_id"].isdigit()
    job_dir = Path(shown["job_dir"])
    script = (job_dir / slurm.SCRIPT).read_text()
    assert f"#SBATCH --chdir={job_dir}" in script and f"#SBATCH --output={job_dir / 'stdout.log'}" in script
    assert "#SBATCH --cpus-per-task=1" in script and "#SBATCH --mem=2G" in script and "--gres" not in script
    # metrics arrive in the shared job folder while Slurm runs the job
    wait_for(lambda: len(read_jsonl(job_dir / "metrics.jsonl")) >= 2, timeout=120)
    final = manager.wait(job_id, timeout=180)
    assert final.status == "succeeded", manager.log_tail(job_id)
    losses = [m["loss"] for m in read_jsonl(job_dir / "metrics.jsonl") if "loss" in m]
    assert len(losses) >= 6 and all(v > 0 for v in losses)
    assert final.result["steps"] == 12 and Path(final.result["adapter"]).is_dir()
    record = wait_job(final.slurm_job_id, cluster, {"COMPLETED", "FAILED"})  # the runner writes its status first
    assert record["JobState"] == "COMPLETED" and record["WorkDir"] == str(job_dir)
    assert f"job {job_id} succeeded" in manager.log_tail(job_id)


def test_cancel_running_and_pending_slurm_jobs(cluster, monkeypatch):
    running = manager.submit("count", {"n": 3000, "delay": 0.02}, title="slurm count", slurm_options=SMALL)
    pending = manager.submit("count", {"n": 5}, slurm_options=SlurmOptions(cpus=1, mem="1G", time="00:10:00",
                                                                           extra=("--begin=now+1hour",)))
    wait_for(lambda: (manager.get(running.id).progress or {}).get("done", 0) >= 10)
    assert manager.get(running.id).status == "running"
    waiting = manager.get(pending.id)
    wait_for(lambda: manager.reconcile() is not None and "BeginTime" in (manager.get(pending.id).wait_reason or ""),
             timeout=20)
    assert waiting.status == "queued"
    manager.cancel(running.id)
    final = manager.wait(running.id, timeout=60)
    assert final.status == "cancelled"
    assert 10 <= final.result["position"] < 3000  # it saved where it was and ended cleanly
    with pytest.raises(LabError, match="cancel it before deleting"):  # Slurm would still run it later
        manager.delete(pending.id)
    manager.cancel(pending.id)
    assert manager.wait(pending.id, timeout=30).status == "cancelled"
    assert wait_job(pending.slurm_job_id, cluster, {"CANCELLED"})["JobState"] == "CANCELLED"
    # once the controller forgets a job, its state comes from the jobcomp log named in the cluster's config
    monkeypatch.delenv("FTLAB_SLURM_JOBCOMP")
    assert slurm.jobcomp_path() == Path(cluster["FTLAB_SLURM_JOBCOMP"])
    wait_for(lambda: slurm.jobcomp_record(running.slurm_job_id) is not None)
    assert slurm.state_name(slurm.jobcomp_record(pending.slurm_job_id)) == "CANCELLED"


def test_state_recovered_by_a_fresh_process_after_the_runner_is_killed(cluster):
    job = manager.submit("count", {"n": 3000, "delay": 0.02}, slurm_options=SMALL)
    wait_for(lambda: (manager.get(job.id).progress or {}).get("done", 0) >= 5)
    rc, shown = cli("jobs", "show", job.id)  # a new process (a restarted dashboard) sees it running
    assert shown["status"] == "running" and shown["executor"] == "slurm"
    os.kill(manager.get(job.id).pid, signal.SIGKILL)  # the runner dies without a word (OOM killer, crash)
    wait_for(lambda: show_job(job.slurm_job_id, cluster)["JobState"] not in ("RUNNING", "COMPLETING"), timeout=30)
    rc, shown = cli("jobs", "show", job.id)
    assert shown["status"] == "failed"
    assert f"Slurm job {job.slurm_job_id} ended" in shown["error"] and "without recording a final status" in shown["error"]
    assert json.loads((Path(job.job_dir) / "status.json").read_text())["status"] == "failed"


def test_jobs_page_shows_a_slurm_job_like_a_local_one(cluster):
    job = manager.submit("count", {"n": 3, "delay": 0.01}, title="slurm page job", slurm_options=SMALL)
    manager.wait(job.id, timeout=60)
    at = open_page("views/jobs.py")
    text = " ".join(m.value for m in at.markdown)
    assert "slurm page job" in text and f"Slurm job {job.slurm_job_id}" in text and "succeeded" in text


def test_sbatch_script_for_several_gpus_uses_torchrun_inside_the_allocation(tmp_path):
    argv = manager.runner_argv(tmp_path, 2)
    script = slurm.sbatch_script("j1", tmp_path, argv, SlurmOptions(partition="gpu", gpus=2, mem="64G"), 2,
                                 {"FTLAB_STATE": "/shared/state"})
    assert "#SBATCH --gres=gpu:2" in script and "#SBATCH --partition=gpu" in script
    assert "--nproc_per_node=2" in script.splitlines()[-1] and script.splitlines()[-1].startswith("exec ")
    assert "export FTLAB_STATE=/shared/state" in script
    with pytest.raises(Exception, match="slurm mem must look like"):
        SlurmOptions(mem="lots")
    with pytest.raises(Exception, match="characters Slurm names never have"):
        SlurmOptions(partition="gpu; rm -rf /")


def test_train_page_launches_on_slurm(cluster):
    create_demo_datasets()
    at = open_page("views/train.py")
    at.selectbox(key="train_dataset").select("demo-guard")
    at.radio(key="train_executor").set_value("Slurm cluster")
    at.run()
    at.number_input(key="train_slurm_gpus").set_value(0)
    at.text_input(key="train_mem").input("2G")
    at.run()
    at.button(key="train_launch").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job = manager.get(at.session_state["train_job"])
    assert job.executor == "slurm" and job.slurm_job_id and job.gpus == 0
    script = (Path(job.job_dir) / slurm.SCRIPT).read_text()
    assert "#SBATCH --mem=2G" in script and "--gres" not in script
    manager.cancel(job.id)
    assert manager.wait(job.id, timeout=60).status == "cancelled"
