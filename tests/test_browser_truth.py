"""What only a browser shows (issue 15), on one dashboard: every page icon is a Material icon (no emoji, which
a browser without an emoji font draws as boxes); the Monitor's job picker follows a job from starting to
running, its "Compare runs" chart grows while the run logs, and its metrics fit their columns."""
import json
import re
import subprocess

import pytest
from playwright.sync_api import expect

from backend.config import state_path
from backend.data.demo import create_demo_datasets
from tests.browser_support import chromium_page, dashboard
from tests.support import isolated_state
from tests.test_pages_truth import fake_job, loss_records, set_status

EMOJI = re.compile("[\U0001F000-\U0001FFFF\u2600-\u27BF\u2B00-\u2BFF\u2300-\u23FF\uFE0F]")

# The "Training loss" chart of Compare runs: its traces' names and point counts.
OVERLAY = """() => {
    const title = c => String((c.layout && c.layout.title && (c.layout.title.text || c.layout.title)) || '')
        .replace(/<[^>]*>/g, '');
    const chart = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
        .find(c => title(c) === 'Training loss');
    return chart ? (chart.data || []).map(t => [t.name, t.x.length]) : null;
}"""

# Metric values whose text is wider than their box (cut off with an ellipsis).
CUT_OFF = """() => [...document.querySelectorAll('[data-testid="stMetricValue"]')]
    .filter(e => [e, ...e.querySelectorAll('*')].some(x => x.scrollWidth > x.clientWidth + 1))
    .map(e => e.innerText)"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with isolated_state(tmp_path_factory, "browser-truth") as state:
        create_demo_datasets()
        with dashboard(state) as url, chromium_page() as page:
            yield {"url": url, "page": page}


def test_every_page_icon_is_a_material_icon(lab):
    page = lab["page"]
    page.goto(lab["url"])
    page.get_by_role("heading", name=re.compile("Finetune Lab")).first.wait_for()
    links = page.get_by_test_id("stSidebarNavLink")
    assert links.count() == 10
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert not EMOJI.search(nav), nav
    for i in range(links.count()):
        assert links.nth(i).get_by_test_id("stIconMaterial").count() == 1, links.nth(i).inner_text()
    title = page.locator("h1").first
    icon = title.locator("span[role=img]")
    assert icon.count() == 1 and "Material Symbols" in icon.evaluate("e => getComputedStyle(e).fontFamily")
    assert not EMOJI.search(title.inner_text())
    assert page.evaluate("""() => [...document.fonts].some(f => f.family.includes('Material Symbols')
                                                                && f.status === 'loaded')""")  # served locally
    body = page.get_by_test_id("stMain").inner_text()
    assert not EMOJI.search(body), EMOJI.findall(body)  # Home's checklist too


def test_monitor_follows_a_job_from_starting_to_running_and_its_curve_grows(lab):
    page = lab["page"]
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        job_id = fake_job("train", "starting", pid=sleeper.pid, title="watched run")
        page.goto(f"{lab['url']}/monitor?job={job_id}")
        picker = page.get_by_label("Training job", exact=True)
        expect(picker).to_have_value(f"{job_id} · starting", timeout=30_000)
        set_status(job_id, "running")  # what the job process does once it is up
        expect(picker).to_have_value(f"{job_id} · running", timeout=15_000)  # the picker follows, no reload
        page.get_by_text(f"No training loss logged yet: {job_id} (running)").wait_for()
        assert page.evaluate(OVERLAY) is None  # no empty chart
        metrics = state_path("runs") / job_id / "metrics.jsonl"
        metrics.write_text("".join(json.dumps(r) + "\n" for r in loss_records(range(1, 6))))
        page.wait_for_function(f"() => {{ const d = ({OVERLAY})(); return d && d.length === 1 && d[0][1] === 5; }}",
                               timeout=15_000)
        with open(metrics, "a") as out:  # the run logs on: the comparison grows with it
            out.write("".join(json.dumps(r) + "\n" for r in loss_records(range(6, 11))))
        page.wait_for_function(f"() => {{ const d = ({OVERLAY})(); return d && d[0][1] === 10; }}", timeout=15_000)
        assert page.evaluate(OVERLAY) == [[job_id, 10]]

        page.get_by_test_id("stMetric").filter(has_text="Job memory").wait_for()
        page.get_by_test_id("stMetric").filter(has_text="Job CPU").wait_for()
        assert page.evaluate(CUT_OFF) == []  # every metric's value fits its column
        set_status(job_id, "cancelled")
    finally:
        sleeper.kill()
        sleeper.wait(5)
