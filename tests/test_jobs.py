"""The job system with real detached processes: run, cancel, kill -9, resume, queue slots."""
import os
import signal

import psutil
import pytest

from backend.errors import LabError
from backend.jobs import manager
from backend.jobs.files import JsonlTail
from tests.support import wait_for


@pytest.fixture()
def jobs_env(state, monkeypatch):
    monkeypatch.setenv("FTLAB_JOB_PLUGINS", "tests.job_kinds")
    monkeypatch.setenv("FTLAB_SLOTS", "cpu=1")
    return state


def test_job_runs_detached_and_succeeds(jobs_env):
    job = manager.submit("count", {"n": 5, "delay": 0.01}, title="five")
    final = manager.wait(job.id, timeout=60)
    assert final.status == "succeeded"
    assert final.result == {"position": 5}
    assert final.progress["done"] == 5 and final.progress["total"] == 5
    assert os.path.exists(os.path.join(final.job_dir, "spec.json"))
    assert "succeeded" in manager.log_tail(job.id)
    assert final.owner == "tester" and final.attempts == 1


def test_cancel_saves_and_resume_continues(jobs_env):
    job = manager.submit("count", {"n": 400, "delay": 0.02})
    wait_for(lambda: (manager.get(job.id).progress or {}).get("done", 0) >= 5)
    manager.cancel(job.id)
    final = manager.wait(job.id, timeout=30)
    assert final.status == "cancelled"
    stopped_at = final.result["position"]
    assert 5 <= stopped_at < 400
    resumed = manager.resume(job.id)
    wait_for(lambda: (manager.get(job.id).progress or {}).get("done", 0) > stopped_at)
    manager.cancel(job.id)
    again = manager.wait(job.id, timeout=30)
    assert again.attempts == 2
    log = manager.log_tail(job.id)
    assert f"starting at {stopped_at}" in log  # continued, not restarted from 0
    assert resumed.id == job.id


def test_kill_9_is_reconciled_as_lost(jobs_env):
    job = manager.submit("count", {"n": 1000, "delay": 0.02})
    wait_for(lambda: manager.get(job.id).status == "running")
    pid = manager.get(job.id).pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    manager.reconcile()
    lost = manager.get(job.id)
    assert lost.status == "lost"
    assert "without recording a final status" in lost.error


def test_failure_is_recorded_with_reason(jobs_env):
    job = manager.submit("count", {"n": 10, "delay": 0.01, "fail_at": 3})
    final = manager.wait(job.id, timeout=60)
    assert final.status == "failed"
    assert "asked to fail at 3" in final.error
    retried = manager.retry(job.id)
    assert retried.id != job.id


def test_queue_respects_slots(jobs_env):
    first = manager.submit("count", {"n": 30, "delay": 0.03})
    second = manager.submit("count", {"n": 2, "delay": 0.01})
    assert manager.get(second.id).status == "queued"
    wait_for(lambda: manager.get(first.id).status == "running")
    assert manager.get(second.id).status == "queued"
    assert manager.wait(second.id, timeout=60).status == "succeeded"
    assert manager.get(first.id).status == "succeeded"  # the second only started after the first ended


def test_delete_and_guards(jobs_env):
    job = manager.submit("count", {"n": 1000, "delay": 0.02})
    wait_for(lambda: manager.get(job.id).status == "running")
    with pytest.raises(LabError, match="cancel it before deleting"):
        manager.delete(job.id)
    with pytest.raises(LabError, match="only cancelled, failed or lost"):
        manager.resume(job.id)
    manager.cancel(job.id)
    manager.wait(job.id, timeout=30)
    manager.delete(job.id)
    assert manager.list_jobs() == []


def test_jsonl_tail_reads_new_bytes_and_waits_for_newline(tmp_path):
    path = tmp_path / "m.jsonl"
    tail = JsonlTail(path)
    assert tail.poll() == []
    path.write_text('{"step": 1}\n{"step": 2')
    assert tail.poll() == [{"step": 1}]
    with open(path, "a") as f:
        f.write('}\n{"step": 3}\n')
    assert tail.poll() == [{"step": 2}, {"step": 3}]
    assert [r["step"] for r in tail.records] == [1, 2, 3]


def test_gpu_jobs_get_their_own_devices_and_wait_for_free_ones(jobs_env, monkeypatch):
    monkeypatch.setenv("FTLAB_GPUS", "0,1,2")
    monkeypatch.setenv("FTLAB_SLOTS", "cpu=4")
    with pytest.raises(LabError, match="asks for 4 GPU"):
        manager.submit("count", {"n": 1}, gpus=4)
    first = manager.submit("count", {"n": 400, "delay": 0.02, "report_env": True}, gpus=2)
    second = manager.submit("count", {"n": 400, "delay": 0.02, "report_env": True}, gpus=2)
    wait_for(lambda: manager.get(first.id).status == "running")
    assert manager.get(first.id).gpu_ids == "0,1"
    assert manager.get(second.id).status == "queued"  # only one GPU left
    third = manager.submit("count", {"n": 3, "delay": 0.01, "report_env": True}, gpus=1)
    assert manager.wait(third.id, timeout=60).status == "succeeded"
    assert "CUDA_VISIBLE_DEVICES=2" in manager.log_tail(third.id)
    manager.cancel(first.id)
    manager.wait(first.id, timeout=30)
    wait_for(lambda: manager.get(second.id).status in ("running", "succeeded"))
    assert manager.get(second.id).gpu_ids == "0,1"
    manager.cancel(second.id)
    manager.wait(second.id, timeout=30)


def test_multi_gpu_jobs_launch_through_torchrun(tmp_path):
    argv = manager.runner_argv(tmp_path, 4)
    assert argv[1:4] == ["-m", "torch.distributed.run", "--standalone"] and "--nproc_per_node=4" in argv
    assert argv[-3:] == ["backend.jobs.run", str(tmp_path)] or argv[-2:] == ["backend.jobs.run", str(tmp_path)]
    assert manager.runner_argv(tmp_path, 1)[1:] == ["-m", "backend.jobs.run", str(tmp_path)]


def test_last_record_reads_only_the_end(tmp_path):
    from backend.jobs.files import last_record

    path = tmp_path / "progress.jsonl"
    assert last_record(path) is None
    path.write_text("".join(f'{{"done": {i}, "pad": "{"x" * 100}"}}\n' for i in range(5000)) + '{"done": 50')
    assert last_record(path, window=4096) == {"done": 4999, "pad": "x" * 100}  # the torn last line is skipped
