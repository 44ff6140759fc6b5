"""The real single-node Slurm test cluster (tests/slurm_support.py): sbatch, squeue, scontrol, scancel, jobcomp."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests import slurm_support
from tests.browser_support import ROOT
from tests.slurm_support import MARKER, parse_jobcomp, show_job, slurm_cluster, wait_job
from tests.slurm_support import slurm_env  # noqa: F401  (the session's one cluster)

DONE = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL",
        "DEADLINE"}


def run(argv, env, **kw):
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=True, **kw)


def sbatch(script: Path, env, *args) -> str:
    return run(["sbatch", "--parsable", *args, str(script)], env).stdout.strip().split(";")[0]


def squeue_row(job_id: str, env) -> str:
    return run(["squeue", "-h", "-j", job_id, "-o", "%i|%j|%T|%t|%r|%R"], env).stdout.strip()


def write_script(path: Path, body: str, **sbatch_opts) -> Path:
    lines = ["#!/bin/bash"] + [f"#SBATCH --{k.replace('_', '-')}={v}" for k, v in sbatch_opts.items()]
    path.write_text("\n".join(lines) + "\n" + textwrap.dedent(body))
    return path


def wait_until(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {timeout}s")


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture()
def env(slurm_env):
    return {**os.environ, **slurm_env}


def test_cluster_is_up_with_one_idle_debug_node(env, slurm_env):
    assert Path(slurm_env["SLURM_CONF"]).is_file()
    assert Path(slurm_env["FTLAB_SLURM_MUNGE_SOCKET"]).is_socket()
    assert run(["sinfo", "-h", "-o", "%P|%a|%l|%D|%t|%N"], env).stdout.split() == [
        f"debug*|up|infinite|1|idle|{slurm_env['FTLAB_SLURM_NODE']}"]
    node = run(["scontrol", "-o", "show", "node"], env).stdout
    assert f"CPUTot={os.cpu_count()}" in node and "State=IDLE" in node
    # Everything the cluster writes lives in its own directory, never /etc or /var.
    conf = Path(slurm_env["SLURM_CONF"]).read_text()
    paths = [line.split("=", 1)[1] for line in conf.splitlines()
             if line.split("=", 1)[0] in {"StateSaveLocation", "SlurmdSpoolDir", "SlurmctldPidFile", "SlurmdPidFile",
                                          "SlurmctldLogFile", "SlurmdLogFile", "JobCompLoc", "PlugStackConfig"}]
    assert len(paths) == 8 and all(p.startswith(slurm_env["FTLAB_SLURM_DIR"]) for p in paths)


def test_sbatch_script_runs_to_completed_with_its_output_file(env, slurm_env, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    script = write_script(tmp_path / "job.sh", """\
        echo "hello from $SLURM_JOB_ID on $(hostname -s)"
        echo "cwd=$(pwd) cpus=$SLURM_CPUS_PER_TASK mem=$SLURM_MEM_PER_NODE"
        sleep 0.5
        """, job_name="ftlab-ok", output="slurm-%j.out", chdir=str(work), time="1", cpus_per_task="1", mem="100M")
    job_id = sbatch(script, env)
    assert job_id.isdigit()

    # Right after submission it is queued (PD, Reason None) or already running (R) in squeue.
    row = squeue_row(job_id, env)
    assert row.split("|")[:2] == [job_id, "ftlab-ok"] and row.split("|")[2] in {"PENDING", "RUNNING"}, row

    info = wait_job(job_id, env, DONE)
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0" and info["Reason"] == "None", info
    out = work / f"slurm-{job_id}.out"
    assert info["StdOut"] == str(out) and info["WorkDir"] == str(work)
    assert info["NodeList"] == slurm_env["FTLAB_SLURM_NODE"] and info["JobName"] == "ftlab-ok"
    assert info["TimeLimit"] == "00:01:00" and info["NumCPUs"] == "1" and "mem=100M" in info["TRES"]
    assert out.read_text().splitlines() == [f"hello from {job_id} on {slurm_env['FTLAB_SLURM_NODE']}",
                                            f"cwd={work} cpus=1 mem=100"]
    # Finished, it leaves squeue but stays visible to scontrol (MinJobAge=600).
    assert squeue_row(job_id, env) == ""
    assert show_job(job_id, env)["JobState"] == "COMPLETED"
    assert show_job("999999", env) == {}


def test_failing_script_is_failed_with_its_exit_code(env, tmp_path):
    script = write_script(tmp_path / "fail.sh", "echo about to fail >&2\nexit 3\n",
                          job_name="ftlab-fail", output=str(tmp_path / "fail.out"), chdir=str(tmp_path))
    job_id = sbatch(script, env)
    info = wait_job(job_id, env, DONE)
    assert (info["JobState"], info["ExitCode"], info["Reason"]) == ("FAILED", "3:0", "NonZeroExitCode")
    # Without --error, stderr goes to the --output file too.
    assert info["StdErr"] == info["StdOut"] == str(tmp_path / "fail.out")
    assert (tmp_path / "fail.out").read_text() == "about to fail\n"


def test_scancel_of_a_running_sleep_job_is_cancelled_and_kills_it(env, tmp_path):
    out, pids = tmp_path / "long.out", tmp_path / "pids"
    script = write_script(tmp_path / "long.sh", f"""\
        sleep 300 &
        echo "$$ $!" > {pids}
        echo started
        wait
        """, job_name="ftlab-cancel", output=str(out), chdir=str(tmp_path), time="10")
    job_id = sbatch(script, env)
    running = wait_job(job_id, env, {"RUNNING"} | DONE)
    assert running["JobState"] == "RUNNING" and running["Reason"] == "None" and running["ExitCode"] == "0:0"
    assert running["NodeList"] == env["FTLAB_SLURM_NODE"] and running["BatchHost"] == env["FTLAB_SLURM_NODE"]
    assert squeue_row(job_id, env).split("|")[2:] == ["RUNNING", "R", "None", env["FTLAB_SLURM_NODE"]]
    # The --output file appears only once the job has started.
    wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, what="the job's pid file")
    shell_pid, sleep_pid = map(int, pids.read_text().split())
    assert pid_alive(sleep_pid) and out.exists()

    run(["scancel", job_id], env)
    info = wait_job(job_id, env, DONE)
    assert (info["JobState"], info["ExitCode"], info["Reason"]) == ("CANCELLED", "0:15", "None"), info
    wait_until(lambda: not pid_alive(shell_pid) and not pid_alive(sleep_pid), what="the job's processes ending")
    assert f"*** JOB {job_id} ON {env['FTLAB_SLURM_NODE']} CANCELLED AT" in out.read_text()
    assert squeue_row(job_id, env) == ""
    # jobcomp records it too, but with ExitCode 0:0 where scontrol says 0:15 (the signal).
    row = wait_until(lambda: [r for r in parse_jobcomp(env["FTLAB_SLURM_JOBCOMP"]) if r["JobId"] == job_id],
                     what="the jobcomp line")[0]
    assert (row["JobState"], row["ExitCode"], row["TimeLimit"]) == ("CANCELLED", "0:0", "10")


def test_held_job_is_pending_until_cancelled(env, tmp_path):
    script = write_script(tmp_path / "held.sh", "true\n", job_name="ftlab-held", output=str(tmp_path / "held.out"))
    job_id = sbatch(script, env, "--hold")
    info = show_job(job_id, env)
    assert (info["JobState"], info["Reason"], info["NodeList"]) == ("PENDING", "JobHeldUser", ""), info
    assert squeue_row(job_id, env) == f"{job_id}|ftlab-held|PENDING|PD|JobHeldUser|(JobHeldUser)"
    run(["scancel", job_id], env)
    info = wait_job(job_id, env, DONE)
    assert info["JobState"] == "CANCELLED" and info["NodeList"] == "" and not (tmp_path / "held.out").exists()
    row = wait_until(lambda: [r for r in parse_jobcomp(env["FTLAB_SLURM_JOBCOMP"]) if r["JobId"] == job_id],
                     what="the jobcomp line")[0]
    assert (row["JobState"], row["NodeList"], row["StartTime"]) == ("CANCELLED", "(null)", row["EndTime"]), row


def test_jobcomp_file_has_one_line_per_finished_job(env, slurm_env, tmp_path):
    script = write_script(tmp_path / "c.sh", "exit 0\n", job_name="ftlab-jobcomp", output=str(tmp_path / "c.out"),
                          chdir=str(tmp_path))
    job_id = sbatch(script, env)
    assert wait_job(job_id, env, DONE)["JobState"] == "COMPLETED"
    rows = wait_until(lambda: [r for r in parse_jobcomp(slurm_env["FTLAB_SLURM_JOBCOMP"]) if r["JobId"] == job_id],
                      what="the jobcomp line")
    assert len(rows) == 1
    row = rows[0]
    assert (row["Name"], row["JobState"], row["ExitCode"], row["Partition"]) == ("ftlab-jobcomp", "COMPLETED", "0:0",
                                                                                  "debug")
    assert row["NodeList"] == slurm_env["FTLAB_SLURM_NODE"] and row["WorkDir"] == str(tmp_path)
    assert row["UserId"] == "root(0)" and row["StartTime"] <= row["EndTime"]
    assert set(row) >= {"SubmitTime", "EligibleTime", "TimeLimit", "Tres", "DerivedExitCode", "ProcCnt", "NodeCnt"}


def test_job_environment_follows_sbatch_export(env, slurm_env, tmp_path):
    """--export=ALL (the default) hands the job the submitter's whole environment, PATH included; --export=NONE
    gives it root's login environment instead (SLURM_GET_USER_ENV=1): the submitter's variables and PATH are lost."""
    probe_bin = tmp_path / "bin"
    submit_env = {**env, "FTLAB_PROBE": "xyz", "PATH": f"{probe_bin}:{env['PATH']}"}
    script = write_script(tmp_path / "env.sh", 'echo "probe=${FTLAB_PROBE-unset}"\necho "path=$PATH"\n'
                          'echo "conf=$SLURM_CONF"\necho "export=${SLURM_EXPORT_ENV-unset}"\n', chdir=str(tmp_path))
    all_id = sbatch(script, submit_env, f"--output={tmp_path}/all.out")
    none_id = sbatch(script, submit_env, "--export=NONE", f"--output={tmp_path}/none.out")
    for job_id in (all_id, none_id):
        assert wait_job(job_id, env, DONE)["JobState"] == "COMPLETED"
    got_all = dict(line.split("=", 1) for line in (tmp_path / "all.out").read_text().splitlines())
    got_none = dict(line.split("=", 1) for line in (tmp_path / "none.out").read_text().splitlines())
    assert got_all["probe"] == "xyz" and got_all["path"].startswith(f"{probe_bin}:")
    assert got_none["probe"] == "unset" and str(probe_bin) not in got_none["path"] and got_none["export"] == "NONE"
    # Either way the job sees this cluster's slurm.conf, so it can run scontrol/squeue itself.
    assert got_all["conf"] == got_none["conf"] == slurm_env["SLURM_CONF"]


def test_second_private_cluster_runs_beside_the_shared_one_and_stops_cleanly(env, slurm_env, tmp_path_factory):
    base = tmp_path_factory.mktemp("c2")
    with slurm_cluster(base) as env2:
        env2 = {**os.environ, **env2}
        assert env2["SLURM_CONF"] != slurm_env["SLURM_CONF"]
        script = write_script(base / "s.sh", "sleep 300\n", output=str(base / "s.out"), chdir=str(base))
        job_id = sbatch(script, env2)
        assert wait_job(job_id, env2, {"RUNNING"} | DONE)["JobState"] == "RUNNING"
        # Job ids are per cluster: the shared one doesn't know this job (or has a different one under that id).
        assert show_job(job_id, env).get("WorkDir") != str(base)
        ours = slurm_support._with_descendants(
            [pid for pid, e in slurm_support._marked_pids() if e[MARKER].startswith(f"{base}:")])
        assert len(ours) >= 5  # munged, slurmctld (+ slurmscriptd), slurmd, slurmstepd, bash, sleep
    # Leaving the block cancelled the running job and stopped every daemon of that cluster, nothing else.
    wait_until(lambda: not any(pid_alive(p) for p in ours), timeout=5, what="the private cluster's processes ending")
    assert run(["sinfo", "-h", "-o", "%t"], env).stdout.strip() == "idle"


def test_killed_owner_leaves_daemons_dying_and_reap_ends_the_orphaned_job(tmp_path_factory):
    base = tmp_path_factory.mktemp("k")
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""\
        import os, subprocess, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from tests.slurm_support import slurm_cluster, wait_job
        base = Path({str(base)!r})
        with slurm_cluster(base) as env:
            env = {{**os.environ, **env}}
            (base / "s.sh").write_text("#!/bin/bash\\nsleep 300 &\\necho $! > sleep.pid\\nwait\\n")
            job = subprocess.run(["sbatch", "--parsable", "-D", str(base), "-o", "s.out", str(base / "s.sh")],
                                 env=env, capture_output=True, text=True, check=True).stdout.strip()
            wait_job(job, env, {{"RUNNING"}})
            deadline = time.monotonic() + 15
            while not ((base / "sleep.pid").exists() and (base / "sleep.pid").read_text().strip()):
                assert time.monotonic() < deadline, "the job never wrote sleep.pid"
                time.sleep(0.05)
            print("ready", flush=True)
            time.sleep(300)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "ready"
        marked = [pid for pid, e in slurm_support._marked_pids() if e[MARKER].startswith(f"{base}:")]
        daemons = [pid for pid in marked if not slurm_support._cmdline(pid).startswith(b"slurmstepd")]
        job_tree = slurm_support._with_descendants([pid for pid in marked if pid not in daemons])
        assert len(daemons) >= 4 and len(job_tree) >= 3  # munged, slurmctld, slurmscriptd, slurmd; stepd, bash, sleep
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        # PR_SET_PDEATHSIG stops the daemons; the job's slurmstepd, bash and sleep outlive them ...
        wait_until(lambda: not any(pid_alive(p) for p in daemons), timeout=15, what="the daemons ending")
        assert all(pid_alive(p) for p in job_tree)
        # ... until the next cluster's start (or this) reaps the marked processes of owners that are gone.
        assert set(job_tree) <= set(slurm_support.reap_stale_clusters())
        wait_until(lambda: not any(pid_alive(p) for p in job_tree), timeout=10, what="the orphaned job ending")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        slurm_support.reap_stale_clusters()


def test_missing_binaries_say_how_to_install(monkeypatch):
    monkeypatch.setattr(slurm_support, "_find", lambda name: None if name == "slurmd" else f"/usr/bin/{name}")
    with pytest.raises(RuntimeError, match="make test installs them: apt-get install slurmctld slurmd slurm-client "
                                           "munge") as err:
        slurm_support.slurm_binaries()
    assert "slurmd" in str(err.value)
