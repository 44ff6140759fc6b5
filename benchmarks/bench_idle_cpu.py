"""Benchmark: the dashboard server's CPU while one browser tab sits on a page and nothing runs.

    python benchmarks/bench_idle_cpu.py [--seconds 10] [--settle 3] [--pages home,jobs,monitor] [--no-job]

Starts `streamlit run app.py` three times on a throw-away FTLAB_STATE holding the demo datasets and one
finished tiny training run (so Monitor and Jobs show a job):

    configured   .streamlit/config.toml as it is (no file watcher)
    watcher      --server.fileWatcherType auto: the watcher on, still blind to the config's blacklist
                 (.venv, state, ...): what a developer gets
    old          --server.fileWatcherType auto and no blacklist: the configuration before the fix

For each server, Debian's Chromium (Playwright) opens each page in turn, waits until the script run is over
and --settle seconds more, then the server process's CPU time is read over --seconds: CPU% of one core.
Printed per page: the three servers side by side and old/configured. The goal is < 2% of a core on every
page with the configured settings; the exit code says whether it was met.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
PAGES = ["home", "data", "retrieval", "traces", "train", "monitor", "evaluate", "playground", "models", "jobs"]
GOAL_PERCENT = 2.0
SERVERS = {
    "configured": [],
    "watcher": ["--server.fileWatcherType", "auto"],
    "old": ["--server.fileWatcherType", "auto", "--server.folderWatchBlacklist", "/nonexistent-ftlab-bench"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_state(state: Path, with_job: bool) -> None:
    """Demo datasets and (with_job) one finished 2-step tiny run, in this process's FTLAB_STATE."""
    from backend.data.demo import create_demo_datasets
    from backend.jobs import manager
    from backend.training.launch import launch_training
    from backend.training.spec import preset_spec

    create_demo_datasets()
    if with_job:
        spec = preset_spec("tiny", "demo-guard", ["max_steps=2", "save_steps=2", "eval_steps=0",
                                                  "tiny_hidden_size=32", "tiny_layers=1"])
        job = manager.wait(launch_training(spec).id, timeout=600)
        if job.status != "succeeded":
            raise SystemExit(f"the setup training run failed: {job.error}")


def start_server(state: Path, extra: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), *extra],
        cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "FTLAB_STATE": str(state)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the dashboard did not start: {log.read_text()}")
            time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def idle_cpu(page, url: str, server: psutil.Process, name: str, settle: float, seconds: float) -> float:
    """CPU% of one core the server spent over `seconds` while the tab showed page `name`."""
    page.goto(f"{url}/" if name == "home" else f"{url}/{name}")
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=120_000)
    page.wait_for_timeout(settle * 1000)
    before, start = cpu_seconds(server), time.perf_counter()
    page.wait_for_timeout(seconds * 1000)  # the tab stays open and connected; nothing is clicked
    return 100 * (cpu_seconds(server) - before) / (time.perf_counter() - start)


def measure(state: Path, label: str, extra: list[str], pages: list[str], settle: float, seconds: float) -> dict:
    from playwright.sync_api import sync_playwright

    proc, url = start_server(state, extra, state.parent / f"streamlit-{label}.log")
    try:
        server = psutil.Process(proc.pid)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                return {name: idle_cpu(page, url, server, name, settle, seconds) for name in pages}
            finally:
                browser.close()
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring window per page")
    parser.add_argument("--settle", type=float, default=3.0, help="wait after the page has rendered")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated page names")
    parser.add_argument("--servers", default=",".join(SERVERS), help="which of configured, watcher, old")
    parser.add_argument("--no-job", action="store_true", help="skip the finished training run in the state")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print("Debian chromium is missing: make browser", file=sys.stderr)
        return 2
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state"
        os.environ["FTLAB_STATE"] = str(state)
        os.environ.setdefault("FTLAB_GPUS", "")
        started = time.perf_counter()
        prepare_state(state, with_job=not args.no_job)
        print(f"state ready in {time.perf_counter() - started:.0f} s; {len(pages)} pages x {len(servers)} servers, "
              f"{args.seconds:g} s each after {args.settle:g} s to settle; CPU% of one core, server process only")
        results = {}
        for label in servers:
            results[label] = measure(state, label, SERVERS[label], pages, args.settle, args.seconds)
            print(f"  {label}: " + ", ".join(f"{p} {v:.1f}%" for p, v in results[label].items()), flush=True)
    print(f"\n{'page':<11}" + "".join(f"{label:>12}" for label in servers)
          + (f"{'old/configured':>16}" if {"old", "configured"} <= set(servers) else ""))
    for name in pages:
        row = f"{name:<11}" + "".join(f"{results[label][name]:>11.1f}%" for label in servers)
        if {"old", "configured"} <= set(servers):
            row += f"{results['old'][name] / max(results['configured'][name], 0.05):>15.0f}x"
        print(row)
    if "configured" not in results:
        return 0
    worst = max(results["configured"].values())
    print(f"configured: worst page {worst:.1f}% of a core (goal < {GOAL_PERCENT:g}%)")
    return 0 if worst < GOAL_PERCENT else 1


if __name__ == "__main__":
    sys.exit(main())
