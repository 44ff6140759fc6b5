"""A real dashboard process and Debian's Chromium driven by Playwright (never `playwright install`)."""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def dashboard(state_dir: Path, env: dict | None = None) -> Iterator[str]:
    """Start `streamlit run app.py` on a free loopback port; yield its URL; stop it afterwards."""
    port = free_port()
    log = open(state_dir.parent / f"streamlit-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "FTLAB_STATE": str(state_dir), **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"dashboard did not start: {(state_dir.parent / f'streamlit-{port}.log').read_text()}")
                time.sleep(0.3)
        yield url
    finally:
        stop_process(proc)
        log.close()


@contextlib.contextmanager
def chromium_page() -> Iterator["object"]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (make test installs it: apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()


# ---- Streamlit helpers for a page in Chromium ----------------------------------------------------------------

def idle(page, timeout: float = 60_000) -> None:
    """Wait until no script run is in flight (fragments tick every 2 s, so this is a moment, not a state)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def field(page, label: str):
    """The visible widget labelled `label` (each Data tab has its own "Dataset"; hidden tabs stay in the DOM)."""
    return page.get_by_label(label, exact=True).filter(visible=True)


def type_into(page, label: str, value: str) -> None:
    """Fill a text or number input and commit it with Enter, then let the rerun finish."""
    from playwright.sync_api import expect

    box = field(page, label)
    box.fill(value)
    box.press("Enter")
    expect(box).to_have_value(value)
    idle(page)


def go(page, title: str) -> None:
    """Open a page from the sidebar, as a user does (the session and its state carry over)."""
    page.get_by_test_id("stSidebarNavLink").filter(has_text=title).click()
    page.get_by_role("heading", name=re.compile(title)).first.wait_for()
    idle(page)


# The rows a st.dataframe shows: its grid draws on a canvas, so read the accessible table the grid keeps beside
# it (header text -> cell text; the rows in view only, which is every row of a small table).
_GRID_ROWS = """(e) => {
    const table = e.querySelector('table[role=grid]');
    if (!table) return null;
    const head = [...table.querySelectorAll('thead th')].map(h => h.innerText.trim());
    return [...table.querySelectorAll('tbody tr')].map(r => Object.fromEntries(
        [...r.querySelectorAll('td')].map((c, i) => [head[i], c.innerText.trim()])));
}"""


@contextlib.contextmanager
def wide(page, width: int = 2600) -> Iterator[None]:
    """A wider window for a while: a dataframe's grid keeps only the columns in view in its accessible table."""
    size = page.viewport_size
    page.set_viewport_size({"width": width, "height": size["height"]})
    try:
        yield
    finally:
        page.set_viewport_size(size)


def grid_rows(frame, timeout: float = 15_000) -> list[dict]:
    """What a user reads in the st.dataframe `frame` (a locator), row by row, once it has drawn its rows."""
    frame.locator("table[role=grid] tbody tr").first.wait_for(state="attached", timeout=timeout)
    return frame.evaluate(_GRID_ROWS)
