"""The whole pipeline in a real browser, clicked through as a user would: upload an OrgAccess CSV on the Data
page, filter it, split it, estimate the teacher's cost and generate rationales with a local OpenAI-compatible
server, train the tiny model on the traced rows, watch its loss chart grow on the Monitor page, evaluate the
run on the test splits and open a confusion-matrix cell to read its examples.

Every step goes through the dashboard; the backend is only read, to check what the UI did. A screenshot of
each step goes to the test's tmp dir, and to docs/screenshots/ too when FTLAB_SCREENSHOTS=1 (how the
committed PNGs are made: FTLAB_SCREENSHOTS=1 python -m pytest -q tests/test_browser_pipeline.py).

The recipe is OrgAccess (seed 003's 3-class confusion matrix and per-difficulty splits).
"""
from __future__ import annotations

import csv
import json
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from backend.data import store
from backend.data.splits import PRESETS as SPLIT_PRESETS
from backend.evaluation.runner import list_evaluations, load_results
from backend.jobs import manager
from backend.traces.estimate import estimate_cost
from backend.traces.teachers import Teacher
from tests.browser_support import ROOT, chromium_page, dashboard, field, go, idle, type_into
from tests.openai_server import FakeOpenAI, message_text

KEY = "sk-test-0123456789abcdefghij"
KEY_ENV = "FTLAB_PIPELINE_TEACHER_KEY"  # the dashboard, and the jobs it starts, read the teacher's key here
TEACHER = "gpt-4o-mini"
MAX_STEPS = 40
SHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 1000}
MAX_SHOT_HEIGHT = 2400  # a "full page" screenshot grows the viewport to the page's height, up to this

NAME = "orgaccess-sample"
FILTERED = f"{NAME}-filtered"
TRACED = f"{FILTERED}-traces"
LABELS = ("full", "partial", "rejected")
DEPARTMENTS = ("finance", "sales", "research", "legal")
GOLD_HINT = re.compile(r"The correct response type is (full|partial|rejected)")


# ---- the data and the teacher ------------------------------------------------------------------------------

def orgaccess_row(i: int, difficulty: str) -> dict:
    """One request whose answer follows from its permissions: reading inside one's department is full,
    sharing outside it is partial (collaboration is limited), deleting is rejected (read-only)."""
    label = LABELS[i % 3]
    department, other = DEPARTMENTS[i % 4], DEPARTMENTS[(i + 1) % 4]
    query = {"full": f"Show me the {department} report for week {i + 1}.",
             "partial": f"Share the {department} report for week {i + 1} with the {other} team.",
             "rejected": f"Delete the {department} records for week {i + 1}."}[label]
    rationale = {"full": "Reading reports is allowed in the user's own department.",
                 "partial": f"Reading is allowed, but collaboration with {other} is not: share a summary only.",
                 "rejected": "The user may only read; deleting records is not an allowed action."}[label]
    permissions = {"department": department, "access_level": "standard", "allowed_actions": ["read"],
                   "collaboration": "own department only"}
    return {"id": f"{difficulty}-{i}", "user_role": f"{department} analyst", "permissions": json.dumps(permissions),
            "query": query, "expected_response": label, "rationale": rationale, "difficulty": difficulty}


def write_orgaccess_file(path: Path) -> Path:
    """28 rows as CSV: 12 easy and 12 medium (4 of each label), and 4 hard ones for the filter to drop."""
    rows = [orgaccess_row(i, d) for d, n in (("easy", 12), ("medium", 12), ("hard", 4)) for i in range(n)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def rationale_teacher(body: dict) -> str:
    """The teacher: the response type its gold hint names, and a short rationale."""
    user = message_text([m for m in body["messages"] if m["role"] == "user"][-1])
    label = GOLD_HINT.findall(user)[-1]
    why = {"full": "reading in the user's own department is allowed",
           "partial": "reading is allowed but collaboration outside the department is not",
           "rejected": "the user may only read, and the query asks for more"}[label]
    return f"Response type: {label}\n\nRationale: the permissions say {why}."


# ---- Streamlit helpers -------------------------------------------------------------------------------------

def choose(page, label: str, option: str, attempts: int = 3) -> None:
    """Pick `option` (its exact text) in the selectbox labelled `label`; again if a rerun redrew the list."""
    for attempt in range(attempts):
        idle(page)
        box = field(page, label)
        box.click()
        box.fill(option)  # the option list is virtualised: typing brings the option into view
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=15_000)
            expect(box).to_have_value(option, timeout=15_000)
            break
        except (PlaywrightTimeoutError, AssertionError):
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
    idle(page)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    expect(page.get_by_role("tab", name=name, exact=True)).to_have_attribute("aria-selected", "true")
    idle(page)


def metric(page, label: str) -> str:
    box = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").filter(
        has_text=re.compile(rf"^{re.escape(label)}$"))).filter(visible=True)
    return box.get_by_test_id("stMetricValue").inner_text().strip()


def wait_for_status(page, status: str, timeout: float) -> None:
    """Wait for a job view (its markdown line '**title** · `id` · **status**') to show `status`."""
    page.locator('[data-testid="stMarkdown"] strong', has_text=re.compile(rf"^{status}$")).filter(
        visible=True).first.wait_for(timeout=timeout)


# What the Monitor page draws: points of the loss curve in the "Loss" chart, the progress text, job status.
MONITOR_VIEW = """() => {
    const title = c => String((c.layout && c.layout.title && (c.layout.title.text || c.layout.title)) || '')
        .replace(/<[^>]*>/g, '');  // Streamlit's theme wraps titles in <b>
    const chart = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
        .find(c => title(c) === 'Loss');
    const loss = chart && (chart.data || []).find(t => t.name === 'loss');
    const bar = document.querySelector('[data-testid="stProgress"]');
    return {points: loss ? loss.x.length : 0, lastStep: loss && loss.x.length ? loss.x[loss.x.length - 1] : null,
            progress: bar ? bar.innerText : '',
            strong: [...document.querySelectorAll('[data-testid="stMarkdown"] strong')].map(s => s.innerText)};
}"""

PAGE_HEIGHT = """() => Math.max(document.documentElement.scrollHeight,
    ...['stMain', 'stAppViewContainer'].map(id => (document.querySelector(`[data-testid="${id}"]`) || {}).scrollHeight || 0))"""


class Screenshots:
    """Whole-page PNGs into tmp/screenshots, and into docs/screenshots when FTLAB_SCREENSHOTS=1."""

    def __init__(self, tmp: Path):
        self.dirs = [tmp / "screenshots"] + ([SHOTS] if os.environ.get("FTLAB_SCREENSHOTS") == "1" else [])
        for folder in self.dirs:
            folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, page, name: str) -> None:
        idle(page)
        # Streamlit scrolls inside its main container, so full_page alone stops at the viewport: grow the
        # viewport to the content's height for the shot, then put it back.
        height = min(MAX_SHOT_HEIGHT, max(VIEWPORT["height"], page.evaluate(PAGE_HEIGHT)))
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        try:
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            data = page.screenshot(full_page=True)
        finally:
            page.set_viewport_size(VIEWPORT)
        for folder in self.dirs:
            (folder / name).write_bytes(data)
        self.taken.append(self.dirs[0] / name)


# ---- the test ----------------------------------------------------------------------------------------------

def test_whole_pipeline_in_browser(state, tmp_path, monkeypatch):
    started = time.time()

    def mark(step: str) -> None:
        print(f"{time.time() - started:6.1f} s  {step}")

    shot = Screenshots(tmp_path)
    source = write_orgaccess_file(tmp_path / f"{NAME}.csv")
    monkeypatch.setenv("FTLAB_GPUS", "")  # this process's backend reads see the same (no-GPU) inventory
    env = {KEY_ENV: KEY, "FTLAB_GPUS": ""}
    with FakeOpenAI(responder=rationale_teacher, api_key=KEY) as server, \
            dashboard(state, env) as url, chromium_page() as page:
        page.set_default_timeout(60_000)
        try:
            run_pipeline(page, url, server, source, shot, mark)
        except BaseException:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
    mark("done")
    for png in shot.taken:
        assert png.stat().st_size < 400_000, f"{png.name} is {png.stat().st_size:,} bytes"


def run_pipeline(page, url: str, server: FakeOpenAI, source: Path, shot: Screenshots, mark) -> None:
    mark("1. import")
    # 1. import: open the dashboard at Home, as a user does, then upload the CSV on the Data page's Import tab.
    page.goto(url)
    page.get_by_role("heading", name=re.compile("Finetune Lab")).first.wait_for()
    idle(page)
    go(page, "Data")
    choose(page, "Recipe", "orgaccess: OrgAccess permissions (full / partial / rejected)")
    type_into(page, "Dataset name", NAME)
    idle(page)  # the name's rerun must end first: a file given to the uploader while it redraws can be lost
    chip = page.get_by_test_id("stFileChip").and_(page.get_by_label(re.compile(rf"^{re.escape(source.name)}, ")))
    for _ in range(3):
        page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(source))
        try:
            chip.wait_for(timeout=20_000)
            break
        except PlaywrightTimeoutError:  # a rerun swallowed it on a busy machine: give it again
            idle(page)
    chip.wait_for()
    idle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text(f"Imported {NAME}@1: 28 rows").wait_for()
    imported = store.resolve(NAME)
    assert imported.rows == 28 and imported.recipe == "orgaccess"

    mark("2. filter")
    # 2. filter (Curate tab): leave the hard rows out, save the rest as a new dataset
    open_tab(page, "Curate")
    page.get_by_text("Rows kept").wait_for()
    assert metric(page, "Rows kept") == "28 of 28"
    choose(page, "Column", "difficulty")
    choose(page, "Test", "!=")
    type_into(page, "Value", "hard")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_test_id("stCode").filter(has_text="difficulty!=hard").wait_for()
    expect(page.get_by_test_id("stMetric").filter(has_text="Rows kept")).to_contain_text("24 of 28")
    assert field(page, "Save as dataset").input_value() == FILTERED
    page.get_by_role("button", name="Save filtered dataset").click()
    page.get_by_text(f"Saved {FILTERED}@1: 24 rows.").wait_for()
    shot(page, "01-data-filter.png")
    filtered = store.resolve(FILTERED)
    assert filtered.rows == 24 and filtered.parent == f"{NAME}@1"
    assert set(store.load_frame(filtered.ref)["difficulty"]) == {"easy", "medium"}

    mark("3. split")
    # 3. split: the OrgAccess preset (per difficulty: train/validation pool and easy_test/medium_test)
    open_tab(page, "Split")
    choose(page, "Dataset", f"{FILTERED} (orgaccess)")
    choose(page, "Preset", f"orgaccess: {SPLIT_PRESETS['orgaccess']}")
    expect(field(page, "Group by")).to_be_disabled()  # the preset sets its own groups
    page.get_by_role("button", name="Create split").click()
    page.get_by_text(re.compile(rf"^Created {FILTERED}@2: train \d+, validation \d+, easy_test \d+")).wait_for()
    page.get_by_text(f"Split preview of {FILTERED}@2").wait_for()
    shot(page, "02-split.png")
    split = store.resolve(f"{FILTERED}@2")
    splits = {name: n for name, n in split.summary["splits"].items() if n}
    assert splits == {"train": 12, "validation": 4, "easy_test": 4, "medium_test": 4}, splits

    mark("4. estimate")
    # 4. cost estimate: three teachers at the local server; the key comes from the dashboard's environment
    go(page, "Traces")
    choose(page, "Dataset", f"{FILTERED} (orgaccess)")
    expect(field(page, "Version")).to_have_value("v2 · split")
    type_into(page, "Base URL (empty = OpenAI)", server.base_url)
    type_into(page, "API key variable", KEY_ENV)
    page.get_by_text(f"Key: {KEY[:3]}…{KEY[-4:]}").wait_for()  # masked, but found
    open_tab(page, "Estimate")
    page.get_by_text(re.compile(r"Prices as of .*input tokens counted exactly")).wait_for()
    expect(page.get_by_test_id("stDataFrame").filter(visible=True)).to_have_count(1)
    shot(page, "03-estimate.png")
    assert server.requests == []  # estimating spends nothing

    mark("5. traces")
    # 5. traces: run gpt-4o-mini on every row, wait in the UI until the job succeeds, browse what it wrote
    open_tab(page, "Run")
    choose(page, "Teacher to run", f"{TEACHER} @ {server.base_url}")
    expect(field(page, "Output dataset")).to_have_value(TRACED)  # named after the dataset chosen
    page.get_by_role("button", name="Start trace job").click()
    wait_for_status(page, "succeeded", timeout=180_000)
    idle(page)
    [trace_job] = manager.list_jobs(kind="traces")
    assert trace_job.status == "succeeded", trace_job.error
    open_tab(page, "Browse traces")
    page.get_by_test_id("stExpander").filter(has_text="Attempt 1").get_by_text("Response type:").first.wait_for()
    assert metric(page, "accepted (per item)") == "24 of 24" and metric(page, "agreement (per attempt)") == "100%"
    shot(page, "04-traces.png")
    usage = server.usage_totals()
    [estimate] = estimate_cost(split.ref, [Teacher(model=TEACHER, base_url=server.base_url, api_key_env=KEY_ENV)],
                               template="rationale", include_gold=True)
    # what the Estimate tab showed (the run keeps it) is what the job then paid for its input
    assert manager.spec(trace_job.id)["estimate_usd"] == pytest.approx(estimate.usd)
    # easy-i and medium-i ask the same thing: each distinct prompt is paid once, as the estimate said
    assert usage["requests"] == estimate.requests == 12 and estimate.repeated_prompts == 12
    assert usage["prompt_tokens"] == estimate.input_tokens
    traced = store.resolve(TRACED)
    frame = store.load_frame(traced.ref)
    assert len(frame) == 24 and frame["trace"].str.startswith("Response type: ").all()
    assert traced.parent == split.ref and set(frame["split"]) == set(splits)

    mark("6. train")
    # 6. train: the tiny preset on the traced rows. Full fine-tuning of a wider tiny model (hidden 256) for 40
    # steps of 4 accumulated batches: ~15 s of steps on 2 cores, so the Monitor's 2 s ticks see the chart grow.
    go(page, "Train")
    expect(field(page, "Preset")).to_have_value(re.compile(r"^tiny"))
    choose(page, "Dataset (a trace version where the recipe has traces)", f"{TRACED} (orgaccess)")
    settings = {"learning_rate": "0.001", "max_steps": str(MAX_STEPS), "grad_accum": "4"}
    choose(page, "method", "full")
    for name, value in settings.items():
        type_into(page, name, value)
    page.get_by_test_id("stExpander").filter(has_text="Tiny model").locator("summary").click()
    type_into(page, "tiny_hidden_size", "256")
    command = page.get_by_test_id("stCode").filter(has_text="train launch")
    expect(command).to_contain_text(f"--preset tiny --dataset {TRACED}@1")
    for setting in ("learning_rate=0.001", f"max_steps={MAX_STEPS}", "grad_accum=4",
                    "tiny_hidden_size=256"):
        expect(command).to_contain_text(setting)
    page.get_by_role("button", name="Launch training").click()
    page.get_by_text(re.compile(r"^Started \S+-train-")).wait_for()
    shot(page, "05-train.png")
    [train_job] = manager.list_jobs(kind="train")
    launched = manager.spec(train_job.id)
    assert {k: launched[k] for k in ("dataset", "method", "max_steps", "grad_accum", "tiny_hidden_size")} == {
        "dataset": f"{TRACED}@1", "method": "full", "max_steps": MAX_STEPS, "grad_accum": 4, "tiny_hidden_size": 256}

    mark("7. monitor")
    # 7. monitor: the live loss chart gains points between two looks while the job is running
    page.get_by_role("link", name="Watch it on the Monitor page").click()
    page.get_by_role("heading", name=re.compile("Monitor")).first.wait_for()
    running: list[dict] = []
    deadline = time.time() + 240
    while time.time() < deadline:
        view = page.evaluate(MONITOR_VIEW)
        if "running" in view["strong"] and view["points"]:
            running.append(view)
            if view["points"] > running[0]["points"]:
                break
        elif any(s in view["strong"] for s in ("succeeded", "failed", "cancelled", "lost")):
            break
        page.wait_for_timeout(250)  # polling interval, not an assertion
    first, last = (running[0], running[-1]) if running else ({}, {})
    assert len(running) >= 2 and last["points"] > first["points"] and last["lastStep"] > first["lastStep"], (
        f"the loss chart did not grow while the job ran: {running}")
    print(f"loss chart while running: {first['points']} points ({first['progress']}), "
          f"then {last['points']} ({last['progress']})")
    # For the screenshot, let the curve get halfway (or the job end, whichever comes first).
    page.wait_for_function(f"""() => {{ const v = ({MONITOR_VIEW})();
        return v.points >= {MAX_STEPS // 2} || !v.strong.includes('running'); }}""", timeout=240_000)
    shot(page, "06-monitor-loss.png")
    wait_for_status(page, "succeeded", timeout=240_000)
    idle(page)
    expect(page.get_by_test_id("stProgress").first).to_contain_text(f"step {MAX_STEPS} / {MAX_STEPS}")
    final = page.evaluate(MONITOR_VIEW)
    assert final["points"] == MAX_STEPS and final["lastStep"] == MAX_STEPS
    done = manager.get(train_job.id)
    assert done.status == "succeeded" and done.result["steps"] == MAX_STEPS, done.error

    mark("8. evaluate")
    # 8. evaluate: the run's final model on the test splits
    go(page, "Evaluate")
    choose(page, "Dataset", f"{TRACED} (orgaccess)")
    # the default, every *test* split, is what we want; the traced version still lists its splits
    expect(field(page, "Rows")).to_have_value("(test splits, else all rows)")
    assert set(store.resolve(TRACED).summary["splits"]) == {"train", "validation", "easy_test", "medium_test"}
    expect(page.get_by_role("radio", name="A training run")).to_be_checked()
    choose(page, "Run", train_job.id)
    expect(field(page, "Checkpoint")).to_have_value("final")
    type_into(page, "Max new tokens", "40")
    page.get_by_role("button", name="Start evaluation").click()
    wait_for_status(page, "succeeded", timeout=240_000)
    idle(page)
    [evaluation] = list_evaluations(train_job=train_job.id)
    results, predictions = load_results(evaluation["id"])
    assert evaluation["split"] == "easy_test,medium_test" and evaluation["checkpoint"] == "final"
    confusion = results["metrics"]["confusion"]
    assert len(predictions) == 8 and sum(map(sum, confusion["matrix"])) == 8

    mark("9. confusion cell")
    # 9. the Results tab: click a confusion-matrix cell, read the examples behind it
    open_tab(page, "Results")
    labels, columns, matrix = confusion["labels"], confusion["columns"], confusion["matrix"]
    assert labels == list(LABELS)
    markers = page.locator('[data-testid="stPlotlyChart"] .scatterlayer .points path.point')
    expect(markers).to_have_count(len(labels) * len(columns))
    expect(field(page, "Gold")).to_have_value(labels[0])  # before a click: the first cell
    expect(field(page, "Predicted")).to_have_value(columns[0])
    # The fullest cell of the "partial" row: never the first cell, so only the click can select it.
    row = labels.index("partial")
    col = max(range(len(columns)), key=lambda c: matrix[row][c])
    count, gold, predicted = matrix[row][col], labels[row], columns[col]
    assert count > 0
    # Plotly hit-tests clicks on its drag layer, which lies over the markers: click where the marker is.
    box = markers.nth(row * len(columns) + col).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("""(i) => {
        const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        const selected = plot && plot.data[0].selectedpoints;
        return selected && selected.length === 1 && selected[0] === i; }""", arg=row * len(columns) + col)
    idle(page)
    expect(field(page, "Gold")).to_have_value(gold)  # the click moved both boxes
    expect(field(page, "Predicted")).to_have_value(predicted)
    page.get_by_text(f"{count} example(s)", exact=True).wait_for()
    examples = page.get_by_test_id("stExpander").filter(has_text=f"gold {{'expected_response': '{gold}'}}")
    expect(examples).to_have_count(count)
    examples.first.locator("summary").click()
    opened = examples.first
    expect(opened).to_contain_text("Model output (reasoning and answer)")
    expect(opened).to_contain_text("Teacher's trace")
    expect(opened).to_contain_text(f"Response type: {gold}")  # the teacher's trace of that row
    shot(page, "07-evaluate-confusion.png")
    in_cell = [p for p in predictions if p["gold"]["expected_response"] == gold
               and (p["parsed"]["expected_response"] or "(unparseable)") == predicted]
    assert len(in_cell) == count
    expect(opened).to_contain_text(in_cell[0]["id"])  # the cell's first example, opened
