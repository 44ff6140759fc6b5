"""State on a shared server: private files, names matched whole, no links out of the state dir, nothing
left by killed writers, delete and import never interleave, and the CLI ends every input with a clean error."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from backend.data import store
from backend.data.importers import import_dataset
from backend.errors import LabError
from tests.browser_support import ROOT


def cli(state: Path, *args: str) -> tuple[int, dict]:
    env = {**os.environ, "FTLAB_STATE": str(state), "FTLAB_USER": "tester"}
    proc = subprocess.run([sys.executable, "-m", "backend", *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def write_csv(path: Path, rows: int = 3) -> Path:
    pd.DataFrame({"prompt": [f"p{i}" for i in range(rows)], "response": [f"r{i}" for i in range(rows)]}).to_csv(
        path, index=False)
    return path


def test_state_dir_and_db_are_private(state):
    store.list_datasets()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "lab.db").stat().st_mode) == 0o600


def test_state_mode_can_be_shared_with_a_group(tmp_path, monkeypatch):
    monkeypatch.setenv("FTLAB_STATE", str(tmp_path / "shared-state"))
    monkeypatch.setenv("FTLAB_STATE_MODE", "0750")
    store.list_datasets()
    assert stat.S_IMODE((tmp_path / "shared-state").stat().st_mode) == 0o750
    monkeypatch.setenv("FTLAB_STATE_MODE", "0077")
    monkeypatch.setenv("FTLAB_STATE", str(tmp_path / "other"))
    with pytest.raises(LabError, match="rwx for the owner"):
        store.list_datasets()


@pytest.mark.parametrize("name", ["ok\n", "ok\nmore", "a/b", "../x", "", ".hidden"])
def test_names_are_matched_whole(state, name):
    with pytest.raises(LabError, match="not allowed"):
        store.validate_name(name)


def test_cli_refuses_a_name_with_a_trailing_newline(state, tmp_path):
    code, out = cli(state, "data", "import", "--recipe", "generic", "--name", "ok\n",
                    str(write_csv(tmp_path / "a.csv")))
    assert code == 2 and "not allowed" in out["error"]
    assert store.list_datasets() == []


def test_a_link_planted_in_the_state_dir_is_refused(state, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (state / "datasets").mkdir(parents=True)
    (state / "datasets" / "victim").symlink_to(outside)
    with pytest.raises(LabError, match="symbolic link"):
        import_dataset("generic", "victim", [write_csv(tmp_path / "a.csv")])
    assert list(outside.iterdir()) == []
    (state / "exports").symlink_to(outside)
    from backend.config import state_path

    with pytest.raises(LabError, match="symbolic link"):
        state_path("exports", "x")


def test_killed_writers_leave_nothing_behind(state, tmp_path):
    import_dataset("generic", "first", [write_csv(tmp_path / "a.csv")])
    tmp = state / "datasets" / store.TMP
    host = socket.gethostname().replace("-", "_")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp / f"{host}-{dead.pid}-deadbeef"
    live = tmp / f"{host}-{os.getpid()}-cafe"
    other_host = tmp / f"elsewhere-{dead.pid}-beef"
    for folder in (stale, live, other_host):
        folder.mkdir(parents=True)
        (folder / "rows.parquet").write_bytes(b"x" * 1000)
    store._swept.clear()  # a fresh process
    import_dataset("generic", "second", [write_csv(tmp_path / "b.csv")])
    assert not stale.exists()
    assert live.exists() and other_host.exists()  # still being written here / by a process on another node


RACER = """
import sys, pandas as pd
from backend.data.importers import import_dataset
from backend.data.store import delete_dataset
from backend.errors import LabError
role, csv, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(rounds):
    try:
        import_dataset("generic", "raced", [csv]) if role == "import" else delete_dataset("raced")
    except LabError:
        pass  # NotFound when nothing is there to delete: fine; anything else is a bug and ends the process
"""


def test_delete_and_import_never_interleave(state, tmp_path):
    csv = write_csv(tmp_path / "a.csv")
    env = {**os.environ, "FTLAB_STATE": str(state), "FTLAB_USER": "tester", "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", RACER, role, str(csv), "40"], env=env, cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for role in ("import", "delete", "import")]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    for dataset in store.list_datasets():
        for version in dataset["versions"]:
            assert Path(version["path"], "rows.parquet").exists(), version
    assert not list((state / "datasets" / store.TRASH).iterdir())


def test_cli_ends_hostile_input_with_a_clean_error(state, tmp_path):
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    code, out = cli(state, "data", "import", "--recipe", "generic", "--name", "deep", str(nested))
    assert code == 2 and out["error"]
    code, out = cli(state, "data", "export", "nothing-here", "--format", "messages-jsonl", "--out",
                    str(tmp_path / "x.jsonl"))
    assert code == 2 and "nothing-here" in out["error"]


def test_only_the_owner_adds_versions_to_a_dataset(state, tmp_path):
    from backend.users import PermissionDenied, acting_as

    csv = write_csv(tmp_path / "a.csv")
    with acting_as("alice"):
        import_dataset("generic", "alice-data", [csv])
    with acting_as("bob"):
        with pytest.raises(PermissionDenied, match="belongs to alice"):
            import_dataset("generic", "alice-data", [csv])
        import_dataset("generic", "bob-data", [csv])  # his own name is fine
    env_code, out = cli(state, "data", "filter", "alice-data", "--out", "alice-data", "--where", "prompt!=p0")
    assert env_code == 2 and "belongs to alice" in out["error"]  # the CLI acts as 'tester'
    code, out = cli(state, "data", "filter", "alice-data", "--out", "tester-data", "--where", "prompt!=p0")
    assert code == 0 and out["rows"] == 2
    assert [v["version"] for v in next(d for d in store.list_datasets() if d["name"] == "alice-data")["versions"]] == [1]


def test_an_unwritable_output_is_a_clean_error(state, tmp_path):
    import_dataset("generic", "small", [write_csv(tmp_path / "a.csv")])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out = cli(state, "data", "export", "small", "--format", "messages-jsonl", "--out",
                    str(blocker / "x.jsonl"))
    assert code == 2 and str(blocker) in out["error"]
