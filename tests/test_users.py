"""People on one server: ownership of jobs and datasets, admins, per-user limits with fair share, own API keys."""
import stat

import pytest

from backend import user_secrets
from backend.data import store
from backend.data.importers import import_dataset
from backend.jobs import manager
from backend.traces.teachers import Teacher, resolve_api_key
from backend.users import PermissionDenied, acting_as, current_user, is_admin
from tests.support import wait_for


@pytest.fixture()
def lab(state, monkeypatch):
    monkeypatch.setenv("FTLAB_JOB_PLUGINS", "tests.job_kinds")
    monkeypatch.setenv("FTLAB_ADMINS", "root-admin")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("FTLAB_SECRETS", str(state.parent / "no-secrets.toml"))
    return state


def test_acting_user_is_per_context_and_recorded_on_jobs(lab):
    assert current_user() == "tester"
    with acting_as("alice"):
        assert current_user() == "alice"
        job = manager.submit("count", {"n": 1, "delay": 0.01})
        with acting_as("bob"):
            assert current_user() == "bob"
        assert current_user() == "alice"
    assert current_user() == "tester"
    assert manager.get(job.id).owner == "alice"
    done = manager.wait(job.id, timeout=60)
    assert done.status == "succeeded"
    # the job process acted for its owner, not for whoever's environment started it
    assert "count" in manager.log_tail(job.id)


def test_only_owner_or_admin_cancels_and_deletes(lab, monkeypatch):
    monkeypatch.setenv("FTLAB_SLOTS", "cpu=1")
    with acting_as("alice"):
        blocker = manager.submit("count", {"n": 2000, "delay": 0.02})
        queued = manager.submit("count", {"n": 5, "delay": 0.01})
    assert manager.get(queued.id).status == "queued"
    with acting_as("bob"):
        everyone = {j.id for j in manager.list_jobs()}
        assert {blocker.id, queued.id} <= everyone  # everyone sees the queue
        assert manager.list_jobs(owner="bob") == []
        with pytest.raises(PermissionDenied, match="bob cannot cancel job .* belongs to alice"):
            manager.cancel(blocker.id)
        with pytest.raises(PermissionDenied, match="cannot delete"):
            manager.delete(queued.id)
        with pytest.raises(PermissionDenied, match="cannot resume"):
            manager.resume(queued.id)
    assert manager.get(blocker.id).status in ("starting", "running")
    with acting_as("root-admin"):
        assert is_admin()
        manager.cancel(queued.id)
    assert manager.get(queued.id).status == "cancelled"
    with acting_as("alice"):
        manager.cancel(blocker.id)
        assert manager.wait(blocker.id, timeout=30).status == "cancelled"
        manager.delete(queued.id)
    with pytest.raises(Exception, match="no job"):
        manager.get(queued.id)


def test_dataset_delete_is_the_owners(lab, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("prompt,response\nhi,hello\nbye,ciao\n")
    with acting_as("alice"):
        import_dataset("generic", "alice-data", [str(path)])
    with acting_as("bob"), pytest.raises(PermissionDenied, match="dataset alice-data"):
        store.delete_dataset("alice-data")
    assert store.resolve("alice-data").owner == "alice"
    with acting_as("alice"):
        assert store.delete_dataset("alice-data") == 1


def test_per_user_job_limit_and_fair_share(lab, monkeypatch):
    """Two slots, one job each at most per person: alice's second job waits while bob's starts, though alice
    queued first; the wait names the limit."""
    monkeypatch.setenv("FTLAB_SLOTS", "cpu=2")
    monkeypatch.setenv("FTLAB_USER_LIMITS", "jobs=1")
    with acting_as("alice"):
        a1 = manager.submit("count", {"n": 2000, "delay": 0.02})
        a2 = manager.submit("count", {"n": 2000, "delay": 0.02})
    with acting_as("bob"):
        b1 = manager.submit("count", {"n": 2000, "delay": 0.02})
    try:
        assert manager.get(a1.id).status in ("starting", "running")
        assert manager.get(b1.id).status in ("starting", "running")
        waiting = manager.get(a2.id)
        assert waiting.status == "queued"
        assert "alice already runs 1 job(s); the per-user limit is 1" in waiting.wait_reason
        summary = {u["owner"]: u for u in manager.queue_summary()["users"]}
        assert summary["alice"]["running"] == 1 and summary["alice"]["queued"] == 1
        assert summary["bob"]["running"] == 1
        with acting_as("alice"):
            manager.cancel(a1.id)
        wait_for(lambda: manager.get(a2.id).status in ("starting", "running"))  # the queue moved by itself
    finally:
        with acting_as("root-admin"):
            for job in (a1, a2, b1):
                if manager.get(job.id).status in ("queued", "starting", "running"):
                    manager.cancel(job.id)
            for job in (a1, a2, b1):
                manager.wait(job.id, timeout=30)


def test_fair_share_orders_waiting_jobs_by_running_count(lab, monkeypatch):
    """One slot: alice holds it and queued two more before bob queued one; when hers ends, bob's goes next
    (same running count, 0, but alice started a job within the hour)."""
    monkeypatch.setenv("FTLAB_SLOTS", "cpu=1")
    with acting_as("alice"):
        first = manager.submit("count", {"n": 2000, "delay": 0.02})
        later = [manager.submit("count", {"n": 2000, "delay": 0.02}) for _ in range(2)]
    with acting_as("bob"):
        bobs = manager.submit("count", {"n": 2000, "delay": 0.02})
    try:
        assert "queue is full" in manager.get(bobs.id).wait_reason
        with acting_as("alice"):
            manager.cancel(first.id)
        wait_for(lambda: manager.get(bobs.id).status in ("starting", "running"))
        assert all(manager.get(j.id).status == "queued" for j in later)
    finally:
        with acting_as("root-admin"):
            for job in (first, *later, bobs):
                if manager.get(job.id).status in ("queued", "starting", "running"):
                    manager.cancel(job.id)
            for job in (first, *later, bobs):
                manager.wait(job.id, timeout=30)


def test_per_user_gpu_limit(lab, monkeypatch):
    monkeypatch.setenv("FTLAB_GPUS", "0,1")
    monkeypatch.setenv("FTLAB_SLOTS", "gpu=2")
    monkeypatch.setenv("FTLAB_USER_LIMITS", "gpus=1")
    with acting_as("alice"):
        one = manager.submit("count", {"n": 2000, "delay": 0.02}, gpus=1, resource="gpu")
        two = manager.submit("count", {"n": 5, "delay": 0.02}, gpus=1, resource="gpu")
    try:
        assert manager.get(one.id).gpu_ids == "0"
        assert manager.get(two.id).status == "queued"
        assert "alice holds 1 GPU(s); the per-user limit is 1" in manager.get(two.id).wait_reason
    finally:
        with acting_as("alice"):
            for job in (one, two):
                manager.cancel(job.id)
            manager.wait(one.id, timeout=30)


def test_own_api_keys_stay_with_their_owner(lab):
    teacher = Teacher(model="gpt-4o-mini", api_key_env="OPENAI_API_KEY")
    with acting_as("alice"):
        user_secrets.save_secret("OPENAI_API_KEY", "sk-alice-0123456789abcdef")
        assert user_secrets.secret_names() == ["OPENAI_API_KEY"]
        assert resolve_api_key(teacher) == "sk-alice-0123456789abcdef"
    with acting_as("bob"):
        assert user_secrets.secret_names() == []
        assert user_secrets.get_secret("OPENAI_API_KEY") is None
        assert resolve_api_key(teacher) is None
    store_files = list((lab / "secrets").iterdir())
    assert len(store_files) == 1 and "alice" not in store_files[0].name  # the file name is a hash, not a path
    assert stat.S_IMODE(store_files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((lab / "secrets").stat().st_mode) == 0o700
    with acting_as("alice"):
        assert user_secrets.delete_secret("OPENAI_API_KEY")
        assert resolve_api_key(teacher) is None
    with pytest.raises(Exception, match="environment-variable style name"):
        user_secrets.save_secret("../../etc/passwd", "x")


def test_cli_refuses_someone_elses_job_and_shows_the_queue(lab, monkeypatch):
    import json
    import os
    import subprocess
    import sys

    from tests.browser_support import ROOT

    monkeypatch.setenv("FTLAB_SLOTS", "cpu=0")  # no slots: the job waits, here and in the CLI's processes
    with acting_as("alice"):
        job = manager.submit("count", {"n": 5})
    env = {**os.environ, "FTLAB_USER": "bob"}
    out = subprocess.run([sys.executable, "-m", "backend", "jobs", "cancel", job.id, "--json"], cwd=ROOT,
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "bob cannot cancel job" in json.loads(out.stdout)["error"]
    out = subprocess.run([sys.executable, "-m", "backend", "jobs", "queue", "--json"], cwd=ROOT, capture_output=True,
                         text=True, env={**env, "FTLAB_USER_LIMITS": "jobs=3"})
    queue = json.loads(out.stdout)
    assert queue["users"] == [{"owner": "alice", "running": 0, "queued": 1, "gpus": 0}]
    assert queue["limits"] == {"jobs": 3}
    assert manager.get(job.id).status == "queued"
