"""A real single-node Slurm cluster (munged + slurmctld + slurmd) for tests, everything inside one directory.

Use it from a test module with the session-scoped fixture (one cluster per pytest process, however many modules
import it; it is not in tests/conftest.py, so each module imports it):

    from tests.slurm_support import slurm_env  # noqa: F401

    def test_something(slurm_env):
        env = {**os.environ, **slurm_env}
        subprocess.run(["sbatch", "--parsable", str(script)], env=env, ...)

or directly, for a private cluster: ``with slurm_cluster(tmp_path) as env: ...``.

The yielded dict holds only strings:

- ``SLURM_CONF``: the only variable Slurm's clients (sbatch, squeue, scontrol, scancel, sinfo) need.  They find
  the cluster's munge socket through ``AuthInfo=socket=...`` in that slurm.conf, so no munge variable is needed.
- ``FTLAB_SLURM_JOBCOMP``: the jobcomp/filetxt file, one line per finished job (format below).
- ``FTLAB_SLURM_MUNGE_SOCKET``: the munge socket, for munge's own tools (``munge --socket=...``); libmunge reads
  no environment variable for it.
- ``FTLAB_SLURM_DIR``: the cluster's directory; ``FTLAB_SLURM_PARTITION``: ``debug``; ``FTLAB_SLURM_NODE``: the node.

Nothing touches /etc or /var: slurm.conf, plugstack.conf, the munge key, state, spool, logs, pid files, the munge
socket and the jobcomp file all live under ``base_dir``; the ports are fresh free TCP ports, so a stale cluster
from a killed earlier run can't collide with a new one.  The daemons get SIGTERM if the process that started them
dies (PR_SET_PDEATHSIG, so start the cluster from the main thread), and a new cluster first ends the leftovers of
earlier ones whose owner process is gone (found by the FTLAB_SLURM_TEST_CLUSTER marker in their environment).

What a job sees (checked by tests/test_slurm_cluster.py): sbatch's default ``--export=ALL`` hands the job the
submitter's whole environment, PATH included (so ``subprocess.run(["sbatch", ...], env=...)`` decides it), plus
SLURM_JOB_ID, SLURM_CONF (this cluster's) and the other SLURM_* variables.  ``--export=NONE`` instead gives it the
user's login environment (SLURM_GET_USER_ENV=1, as from `su - root`): the submitter's variables and PATH entries
are gone; ``--export=VAR,...`` is that login environment plus the named variables.  The daemons' own environment
never reaches a job.  So a job should run the venv's python by absolute path (sys.executable), not via PATH.
A job sits PENDING with Reason=None for about 1 s (2 s for the first) before it runs; its ``--output`` file
appears only once it starts; finished, it leaves squeue at once but ``scontrol show job`` keeps it for MinJobAge.
munged runs with ``--force`` because pytest's temp dirs are 0700 and munged otherwise wants every directory above
its socket world-executable.

The jobcomp file (JobCompType=jobcomp/filetxt, Slurm 22.05) gets one line per job once it has ended (it does not
exist before the first job ends), space-separated ``Key=Value`` fields, e.g. (each one line, wrapped here):

    JobId=2 UserId=root(0) GroupId=root(0) Name=ftlab-fail JobState=FAILED Partition=debug TimeLimit=UNLIMITED
    StartTime=2026-12-02T01:18:35 EndTime=2026-12-02T01:18:35 NodeList=vm NodeCnt=1 ProcCnt=1 WorkDir=/tmp/x
    ReservationName= Tres=cpu=1,mem=1000M,node=1,billing=1 Account= QOS= WcKey= Cluster=unknown
    SubmitTime=2026-12-02T01:18:34 EligibleTime=2026-12-02T01:18:34 DerivedExitCode=0:0 ExitCode=3:0

    JobId=5 UserId=root(0) GroupId=root(0) Name=ftlab-cancel JobState=CANCELLED Partition=debug TimeLimit=10
    StartTime=2026-12-02T01:18:40 EndTime=2026-12-02T01:18:40 NodeList=vm NodeCnt=1 ProcCnt=1 WorkDir=/tmp/x
    ReservationName= Tres=cpu=1,mem=1000M,node=1,billing=1 Account= QOS= WcKey= Cluster=unknown
    SubmitTime=2026-12-02T01:18:39 EligibleTime=2026-12-02T01:18:39 DerivedExitCode=0:0 ExitCode=0:0

ExitCode is ``<exit status>:<signal>``.  Traps: TimeLimit is in minutes here (``00:10:00`` in scontrol); Cluster is
always ``unknown``; a cancelled job's jobcomp ExitCode is ``0:0`` while ``scontrol show job`` says ``0:15``; a job
cancelled while still PENDING gets a line too (StartTime=EndTime=cancel time, NodeList=(null)).  Values have no
spaces (a job name with spaces would break the split); ``parse_jobcomp`` reads the file into dicts.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.browser_support import stop_process

INSTALL_HINT = "make test installs them: apt-get install slurmctld slurmd slurm-client munge"
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
DAEMONS = ("munged", "slurmctld", "slurmd")
MARKER = "FTLAB_SLURM_TEST_CLUSTER"
OWNER = "FTLAB_SLURM_TEST_OWNER"
START_TIMEOUT = 60.0
# Unix socket paths (munge's, and slurmd's per-step sockets in its spool) must stay under 108 bytes.
MAX_BASE_LEN = 80


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _find(name: str) -> str | None:
    # /usr/sbin holds the daemons and is often not on a non-login PATH.
    candidates = (f"/usr/sbin/{name}", f"/usr/bin/{name}")
    return shutil.which(name) or next((p for p in candidates if os.access(p, os.X_OK)), None)


def slurm_binaries() -> dict[str, str]:
    """The path of every client and daemon; RuntimeError naming the install command if any is missing."""
    found = {name: _find(name) for name in CLIENTS + DAEMONS}
    missing = sorted(name for name, path in found.items() if not path)
    if missing:
        raise RuntimeError(f"Slurm/munge binaries missing ({', '.join(missing)}); {INSTALL_HINT}")
    return found  # type: ignore[return-value]


def _mem_total_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _short_hostname() -> str:
    return subprocess.run(["hostname", "-s"], capture_output=True, text=True, check=True).stdout.strip()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _marked_pids(value: str | None = None) -> list[tuple[int, dict[str, str]]]:
    """Processes (daemons, slurmstepd) started by a slurm_cluster: those whose environment holds MARKER."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            env = _environ_of(int(entry.name))
            if MARKER in env and (value is None or env[MARKER] == value):
                found.append((int(entry.name), env))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie counts as gone.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def _end_pids(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after grace; then wait (briefly) until PID 1 has reaped them, so no zombie lingers."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    _wait_reaped(pids)


def _wait_reaped(pids: list[int], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.05)


def _wait_no_slurm_zombies(timeout: float = 3.0) -> None:
    """Wait (only wait) until PID 1 has reaped exited slurmstepds/daemons: a slurmstepd is double-forked, so its
    zombie belongs to PID 1, which on some machines reaps only every ~2 s, and `pgrep -a slurm` would list it."""
    names = {"slurmstepd", "slurmd", "slurmctld", "slurmscriptd", "munged"}

    def zombies() -> bool:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    comm, rest = (entry / "stat").read_text().split(" (", 1)[1].rsplit(")", 1)
                    if rest.split()[0] == "Z" and comm in names:
                        return True
        return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and zombies():
        time.sleep(0.1)


def _with_descendants(pids: list[int]) -> list[int]:
    """pids plus every process below them (a job's own processes carry no marker: they sit under slurmstepd)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid not in out and pid != os.getpid():
            out.append(pid)
            todo.extend(children.get(pid, []))
    return out


def reap_stale_clusters() -> list[int]:
    """End the daemons, slurmstepds and job processes of earlier clusters whose owner process is dead (a test run
    killed with SIGKILL: PR_SET_PDEATHSIG stops the daemons, but a running job's slurmstepd outlives slurmd)."""
    stale = _with_descendants([pid for pid, env in _marked_pids() if not _alive(int(env.get(OWNER, "0") or 0))])
    _end_pids(stale, grace=1.0)  # slurmstepd ignores SIGTERM; nothing graceful is left to wait for
    return stale


def write_config(base_dir: Path) -> dict[str, Path | str | int]:
    """Write slurm.conf, plugstack.conf and a munge key under base_dir; return the paths and settings used."""
    base_dir = Path(base_dir).resolve()
    if len(str(base_dir)) > MAX_BASE_LEN:
        raise ValueError(f"slurm_cluster base_dir is too long for unix socket paths (max {MAX_BASE_LEN}): {base_dir}")
    node = _short_hostname()
    etc, state, spool, log, run = (base_dir / n for n in ("etc", "state", "spool", "log", "run"))
    munge_key_dir, munge_run = base_dir / "munge-key", base_dir / "munge-run"
    for d in (etc, state, spool, log, run, munge_run):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)
    munge_key_dir.mkdir(parents=True, exist_ok=True)
    munge_key_dir.chmod(0o700)
    key = munge_key_dir / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    ctld_port, slurmd_port = free_port(), free_port()
    while slurmd_port == ctld_port:
        slurmd_port = free_port()
    cpus = os.cpu_count() or 1
    real_mem = max(256, int(_mem_total_mib() * 0.9))
    munge_socket = munge_run / "munge.socket.2"
    jobcomp = log / "jobcomp.txt"
    plugstack = etc / "plugstack.conf"
    plugstack.write_text("")  # keeps Slurm away from /etc/slurm/plugstack.conf
    cluster_name = "ftlab" + secrets.token_hex(3)
    conf = etc / "slurm.conf"
    conf.write_text(f"""\
# Written by tests/slurm_support.py: a single-node test cluster, everything under {base_dir}
ClusterName={cluster_name}
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={run}/slurmctld.pid
SlurmdPidFile={run}/slurmd.pid
SlurmctldLogFile={log}/slurmctld.log
SlurmdLogFile={log}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig={plugstack}
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={jobcomp}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
# Finished jobs stay visible to `scontrol show job` for 10 minutes (there is no slurmdbd, so no sacct).
MinJobAge=600
ReturnToService=2
# Seconds between SIGTERM and SIGKILL when a job is cancelled or runs out of time.
KillWait=5
InactiveLimit=0
Waittime=0
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={real_mem} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
""")
    return {"base_dir": base_dir, "conf": conf, "node": node, "cpus": cpus, "real_mem": real_mem,
            "munge_key": key, "munge_socket": munge_socket, "munge_run": munge_run, "jobcomp": jobcomp,
            "log": log, "run": run, "ctld_port": ctld_port, "slurmd_port": slurmd_port, "cluster": cluster_name}


def _logs(log_dir: Path, tail: int = 40) -> str:
    out = []
    for f in sorted(log_dir.glob("*.log")):
        lines = f.read_text(errors="replace").splitlines()[-tail:]
        out.append(f"--- {f.name} ---\n" + "\n".join(lines))
    return "\n".join(out)


@contextlib.contextmanager
def slurm_cluster(base_dir: Path, timeout: float = START_TIMEOUT) -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd on a fresh config under base_dir; yield the client env; stop them all."""
    bins = slurm_binaries()
    if os.geteuid() != 0:
        raise RuntimeError("slurm_cluster runs slurmd, which must run as root (SlurmUser=SlurmdUser=root)")
    reap_stale_clusters()
    cfg = write_config(Path(base_dir))
    base, log, conf = cfg["base_dir"], cfg["log"], str(cfg["conf"])
    token = f"{base}:{secrets.token_hex(4)}"
    daemon_env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SQUEUE_"))}
    daemon_env.update({"SLURM_CONF": conf, MARKER: token, OWNER: str(os.getpid())})
    client_env = {"SLURM_CONF": conf, "FTLAB_SLURM_JOBCOMP": str(cfg["jobcomp"]),
                  "FTLAB_SLURM_MUNGE_SOCKET": str(cfg["munge_socket"]), "FTLAB_SLURM_DIR": str(base),
                  "FTLAB_SLURM_PARTITION": "debug", "FTLAB_SLURM_NODE": str(cfg["node"])}
    run_env = {**{k: v for k, v in daemon_env.items() if k not in (MARKER, OWNER)}, **client_env}
    procs: list[tuple[str, subprocess.Popen]] = []
    outputs = []

    def start(name: str, argv: list[str]) -> None:
        out = open(log / f"{name}.out", "wb")
        outputs.append(out)
        procs.append((name, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                             env=daemon_env, cwd=base, preexec_fn=_die_with_parent)))

    def fail(what: str) -> None:
        dead = [f"{n} exited {p.returncode}: {(log / f'{n}.out').read_text(errors='replace')[-2000:]}"
                for n, p in procs if p.poll() is not None]
        raise RuntimeError(f"Slurm test cluster under {base}: {what}\n" + "\n".join(dead) + "\n" + _logs(log))

    def wait_for(what: str, ok) -> None:
        deadline = time.monotonic() + timeout
        while not ok():
            if any(p.poll() is not None for _, p in procs):
                fail(f"a daemon died while waiting for {what}")
            if time.monotonic() > deadline:
                fail(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.2)

    def sinfo_states() -> str:
        r = subprocess.run([bins["sinfo"], "-h", "-o", "%t"], env=run_env, capture_output=True, text=True, timeout=20)
        return r.stdout.strip() if r.returncode == 0 else ""

    try:
        start("munged", [bins["munged"], "--foreground", "--force", f"--socket={cfg['munge_socket']}",
                         f"--key-file={cfg['munge_key']}", f"--pid-file={cfg['run']}/munged.pid",
                         f"--log-file={log}/munged.log", f"--seed-file={cfg['munge_run']}/munged.seed",
                         "--num-threads=2"])
        wait_for("the munge socket", Path(cfg["munge_socket"]).exists)
        start("slurmctld", [bins["slurmctld"], "-D", "-f", conf])
        start("slurmd", [bins["slurmd"], "-D", "-N", str(cfg["node"]), "-f", conf])
        wait_for("sinfo to report the node idle", lambda: sinfo_states() == "idle")
        yield client_env
    finally:
        try:
            _stop_jobs(bins, run_env, token)
        finally:
            for name, proc in reversed(procs):  # slurmd, slurmctld, munged
                stop_process(proc)
            # A slurmstepd (and its job) that outlived the cancel, or anything else forked off these daemons.
            _end_pids(_with_descendants([pid for pid, _ in _marked_pids(token)]), grace=2.0)
            _wait_no_slurm_zombies()
            for out in outputs:
                out.close()


def _stop_jobs(bins: dict[str, str], env: dict[str, str], token: str, grace: float = 15.0) -> None:
    """Cancel every job still queued or running; wait (bounded) until squeue is empty and this cluster's
    slurmstepds have exited, so stopping slurmd orphans nothing."""
    def squeue() -> list[str]:
        r = subprocess.run([bins["squeue"], "-h", "-o", "%i %T"], env=env, capture_output=True, text=True, timeout=10)
        return [line for line in r.stdout.splitlines() if line.strip()] if r.returncode == 0 else []

    def stepds() -> list[int]:
        return [pid for pid, _ in _marked_pids(token) if _alive(pid) and _cmdline(pid).startswith(b"slurmstepd")]

    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        if squeue():
            subprocess.run([bins["scancel"], "--user", str(os.getuid())], env=env, capture_output=True, timeout=10)
            while time.monotonic() < deadline and squeue():
                time.sleep(0.1)
    left = stepds()
    while time.monotonic() < deadline and stepds():
        time.sleep(0.1)
    _wait_reaped(left)


# ---- helpers for tests ------------------------------------------------------------------------------------------

def show_job(job_id: str, env: dict[str, str]) -> dict[str, str]:
    """`scontrol -o show job ID` as a dict ({} when the job is unknown, e.g. after MinJobAge)."""
    r = subprocess.run(["scontrol", "-o", "show", "job", str(job_id)], env=env, capture_output=True, text=True,
                       timeout=10)
    if r.returncode != 0:
        return {}
    return parse_fields(r.stdout.strip())


def parse_fields(line: str) -> dict[str, str]:
    """Split a `Key=Value Key=Value` line (scontrol -o, jobcomp/filetxt) into a dict; values have no spaces,
    except that scontrol prints Command= and similar paths verbatim, so a token without '=' joins the last value."""
    fields: dict[str, str] = {}
    last = None
    for token in line.split(" "):
        key, sep, value = token.partition("=")
        if sep and key and (key[0].isupper() or key[0].isdigit()):
            fields[key] = value
            last = key
        elif last is not None and token:
            fields[last] += " " + token
    return fields


def parse_jobcomp(path: Path | str) -> list[dict[str, str]]:
    """The jobcomp/filetxt file as one dict per finished job (oldest first); [] if no job has finished yet."""
    p = Path(path)
    if not p.exists():
        return []
    return [parse_fields(line) for line in p.read_text().splitlines() if line.strip()]


def wait_job(job_id: str, env: dict[str, str], states: set[str], timeout: float = 20.0) -> dict[str, str]:
    """Poll `scontrol show job` until JobState is one of states; return the fields; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    info: dict[str, str] = {}
    while time.monotonic() < deadline:
        info = show_job(job_id, env)
        if info.get("JobState") in states:
            return info
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not in {sorted(states)} after {timeout}s: {info}")


_SHARED: dict[str, object] = {}


def shared_slurm_env(config: pytest.Config, make_dir) -> dict[str, str]:
    """Start one cluster per pytest session (in make_dir()) the first time it is asked for; stop it at session end.

    A fixture imported into several test modules becomes one fixture definition per module, so a plain
    session-scoped fixture would start one cluster per module; this keeps a single one for the whole process."""
    if "error" in _SHARED:
        raise RuntimeError(f"the Slurm test cluster failed to start earlier in this session: {_SHARED['error']}")
    if "env" not in _SHARED:
        stack = contextlib.ExitStack()
        try:
            env = stack.enter_context(slurm_cluster(make_dir()))
        except Exception as exc:
            _SHARED["error"] = exc
            raise

        def stop() -> None:
            _SHARED.clear()
            stack.close()

        _SHARED["env"] = env
        config.add_cleanup(stop)
    return dict(_SHARED["env"])  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def slurm_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The env vars a Slurm client needs for the session's one real cluster (merge them over os.environ).

    Test modules get it with `from tests.slurm_support import slurm_env  # noqa: F401` (tests/conftest.py does not
    import it)."""
    return shared_slurm_env(request.config, lambda: tmp_path_factory.mktemp("slurm"))
