"""What only a browser shows (issue 15), on one dashboard, clicked through as a new user would: Home offers the
demo data beside one's own; every page icon is a Material icon (no emoji, which a browser without an emoji font
draws as boxes) and there is no Deploy button; the Monitor's job picker follows a job from starting to running,
its "Compare runs" chart grows while the run logs, and its metrics fit their columns; Evaluate shows each number
once, scores an uploaded predictions file and starts from a sample with a time estimate; the Playground shows a
teacher's plain-JSON reply under the teacher's name; the Data page says what an import dropped, names its own
option for bad labels, offers the dataset just made, selects a split's new version (once), shows summaries as
words and checks leakage as a job; forms keep their choices across pages; the queue and memory tables read
well; and a first tiny run's loss curve goes down."""
import json
import re
import subprocess

import pandas as pd
import pytest
from playwright.sync_api import expect

from backend.config import state_path
from backend.data import store
from backend.data.demo import DEMO_DATASETS, create_demo_datasets
from backend.data.splits import PRESETS as SPLIT_PRESETS
from backend.evaluation.predictions import score_predictions
from backend.jobs import manager
from tests.browser_support import chromium_page, dashboard, field, go, grid_rows, idle, type_into, wide
from tests.support import isolated_state, wait_for
from tests.test_browser_pipeline import choose, metric, open_tab, wait_for_status
from tests.test_pages_forms import orgaccess_csv
from tests.test_pages_truth import (PlainChatServer, fake_job, fake_orgaccess_evaluation, loss_records,
                                    orgaccess_predictions, set_status)

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


# The "Loss" chart of the Monitor's live view: the values of its training-loss curve.
LOSS_CURVE = """() => {
    const title = c => String((c.layout && c.layout.title && (c.layout.title.text || c.layout.title)) || '')
        .replace(/<[^>]*>/g, '');
    const chart = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
        .find(c => title(c) === 'Loss');
    const loss = chart && (chart.data || []).find(t => t.name === 'loss');
    return loss ? Array.from(loss.y) : [];
}"""
LEARN_STEPS, LEARN_RATIO = 40, 0.7  # a first tiny run (full fine-tuning) on demo-guard: last loss <= 0.7 x first


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One dashboard and one browser; the lab holds one dataset of the user's own (the demo is loaded from Home)."""
    with isolated_state(tmp_path_factory, "browser-truth") as state:
        with store.VersionWriter("mine", "generic", "import") as writer:
            writer.write(pd.DataFrame({"id": ["a", "b"], "prompt": ["x", "y"], "label": ["1", "2"]}))
            writer.commit()
        sleepers: list[subprocess.Popen] = []
        with dashboard(state) as url, chromium_page() as page:
            yield {"url": url, "page": page, "sleepers": sleepers}
        for proc in sleepers:  # only the processes this module started
            proc.kill()
            proc.wait(5)


@pytest.fixture()
def demo(lab):
    """The lab with the demo datasets (Home's button loads them; this is for a test run on its own)."""
    create_demo_datasets()
    return lab


def running_job(lab, **options) -> str:
    """A training job the job system sees running (its process a sleeper this module stops)."""
    proc = subprocess.Popen(["sleep", "600"])
    lab["sleepers"].append(proc)
    return fake_job("train", "running", pid=proc.pid, **options)


def visit(page, url: str, path: str, title: str) -> None:
    """A fresh session on one page (a page.goto starts a new session; go() keeps the session)."""
    page.goto(f"{url}/{path}")
    page.get_by_role("heading", name=re.compile(title)).first.wait_for()
    idle(page)


def visible_metric_labels(page) -> list[str]:
    return [t.strip() for t in page.get_by_test_id("stMetricLabel").filter(visible=True).all_inner_texts()]


def dataframe_with(page, column: str):
    """The visible st.dataframe that has a column named `column`."""
    return page.get_by_test_id("stDataFrame").filter(
        has=page.locator("th", has_text=re.compile(rf"^{re.escape(column)}$"))).filter(visible=True)


def test_home_offers_the_demo_data_beside_own_data(lab):
    page = lab["page"]
    visit(page, lab["url"], "", "Finetune Lab")
    assert [r["dataset"] for r in grid_rows(page.get_by_test_id("stDataFrame"))] == ["mine"]
    load = page.get_by_role("button", name="Load demo data")
    expect(load).to_be_enabled()  # own data exists, the demo does not: it is still offered
    load.click()
    page.get_by_text(re.compile(r"^Demo data is loaded: ")).wait_for(timeout=90_000)
    idle(page)
    expect(load).to_be_disabled()  # nothing left to load
    assert {r["dataset"] for r in grid_rows(page.get_by_test_id("stDataFrame"))} == {"mine", *DEMO_DATASETS}


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
    page.get_by_test_id("stHeader").wait_for(state="attached")  # Streamlit's header, with no Deploy button
    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)


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


def test_evaluate_shows_each_number_once_scores_a_file_and_starts_from_a_sample(demo, tmp_path):
    page, url = demo["page"], demo["url"]
    fake_orgaccess_evaluation()
    visit(page, url, "evaluate", "Evaluate")
    open_tab(page, "Results")
    # the results draw after the evaluation picker's rerun: wait for them, on a busy machine too
    expect(page.get_by_test_id("stMetricLabel").filter(visible=True).filter(has_text="macro_f1").first).to_be_visible(
        timeout=30_000)
    labels = visible_metric_labels(page)
    assert labels[:3] == ["macro_f1", "accuracy", "unparseable"] and labels.count("macro_f1") == 1, labels

    # a predictions file made elsewhere, scored in the page as the CLI scores it
    open_tab(page, "Predictions file")
    upload = tmp_path / "generated_predictions.jsonl"
    upload.write_bytes(orgaccess_predictions())
    expected = score_predictions(upload, "orgaccess")
    page.get_by_test_id("stFileUploader").filter(visible=True).locator("input[type=file]").set_input_files(str(upload))
    page.get_by_test_id("stFileChip").and_(page.get_by_label(re.compile(rf"^{re.escape(upload.name)}, "))).wait_for()
    idle(page)
    choose(page, "Recipe", "orgaccess")
    page.get_by_role("button", name="Score file").click()
    page.get_by_test_id("stMarkdown").filter(has_text="generated_predictions.jsonl scored as orgaccess · 12 rows") \
        .filter(visible=True).wait_for()
    assert metric(page, "macro_f1") == f"{expected['macro_f1']:.4f}"
    assert metric(page, "accuracy") == f"{expected['accuracy']:.4f}"
    expect(page.get_by_test_id("stPlotlyChart").filter(visible=True)).to_have_count(1)  # its confusion matrix

    # a new evaluation starts from a sample, with the time it will take said before launch
    open_tab(page, "New evaluation")
    choose(page, "Dataset", "demo-orgaccess (orgaccess)")
    page.get_by_test_id("stRadio").locator("label").filter(has_text="A teacher endpoint").click()
    idle(page)
    type_into(page, "Base URL (empty = OpenAI)", "http://127.0.0.1:9/v1")
    expect(field(page, "Only the first N rows (0 = all)")).to_have_value("50")
    estimate = page.get_by_test_id("stAlert").filter(has_text="new tokens").filter(visible=True)
    expect(estimate).to_have_text(re.compile(r"Roughly .+ for 50 rows at up to \d+ new tokens"), timeout=30_000)
    idle(page)  # the dataset's suggested max tokens and its estimate come from the same, settled, run
    tokens = int(field(page, "Max new tokens").input_value())
    assert tokens < 512
    expect(estimate).to_have_text(re.compile(rf"Roughly .+ for 50 rows at up to {tokens} new tokens"))


def test_playground_shows_a_plain_json_reply_under_the_teachers_name(demo):
    page, url = demo["page"], demo["url"]
    boxed = running_job(demo, title="a run in the Model A box")
    (state_path("runs") / boxed / "artifacts" / "run.json").write_text(json.dumps({"base_model": "/nowhere/tiny"}))
    try:
        with PlainChatServer() as server:
            visit(page, url, "playground", "Playground")
            expect(field(page, "Model A")).to_have_value(f"tiny (base of {boxed})")
            type_into(page, "…or a model reference", f"teacher:plain-model@{server.base_url}")
            box = page.get_by_test_id("stChatInputTextArea")
            box.fill("hello")
            box.press("Enter")
            page.get_by_test_id("stChatMessage").filter(has_text="Hello from a plain JSON reply.").wait_for()
            idle(page)
            assert server.requests and server.requests[0]["stream"] is True  # streamed request, plain JSON answer
        captions = [t.strip() for t in page.get_by_test_id("stCaptionContainer").all_inner_texts()]
        assert f"teacher plain-model @ {server.base_url}" in captions, captions  # the teacher called, not Model A
        expect(page.get_by_test_id("stAlert")).to_have_count(0)
    finally:
        set_status(boxed, "cancelled")


def test_data_page_says_what_import_split_and_leakage_did(demo, tmp_path):
    page, url = demo["page"], demo["url"]
    source = orgaccess_csv(tmp_path / "org.csv")  # 12 rows, 2 with the label "approve"
    visit(page, url, "data", "Data")
    choose(page, "Recipe", "orgaccess: OrgAccess permissions (full / partial / rejected)")
    type_into(page, "Dataset name", "org")
    page.get_by_test_id("stRadio").locator("label").filter(has_text="Path on the server").click()
    idle(page)
    paths = field(page, "Paths (one per line: files or folders)")
    paths.fill(source)
    paths.press("Control+Enter")
    idle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    error = page.get_by_test_id("stAlert").filter(has_text="labels outside full/partial/rejected").filter(visible=True)
    expect(error).to_contain_text("approve (2)")
    expect(error).to_contain_text("choose drop or keep under 'Bad labels' above")  # this form's option,
    expect(error).not_to_contain_text("--on-bad-label")  # not the CLI's flag
    page.get_by_test_id("stRadio").filter(has_text="Bad labels").locator("label").filter(
        has_text=re.compile(r"^drop$")).click()
    idle(page)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text(re.compile(r"^Imported org@1: 10 rows, 2 dropped, 2 with bad labels")).wait_for()
    expect(page.get_by_test_id("stAlert").filter(has_text="2 rows dropped").filter(visible=True)).to_have_count(1)

    # the dataset just made is the one Export and Split offer
    for tab in ("Export", "Split"):
        open_tab(page, tab)
        expect(field(page, "Dataset")).to_have_value("org (orgaccess)")
    choose(page, "Preset", f"orgaccess: {SPLIT_PRESETS['orgaccess']}")
    page.get_by_role("button", name="Create split").click()
    page.get_by_text(re.compile(r"^Created org@2: train 6, validation 1, easy_test 3")).wait_for()
    expect(field(page, "Version")).to_have_value("v2 · split")  # the new version, not v1
    page.get_by_role("button", name="Create split").click()
    page.get_by_text(re.compile(r"^org@2 is already split this way")).wait_for()
    expect(field(page, "Version")).to_have_value("v2 · split")
    assert [v["version"] for d in store.list_datasets() if d["name"] == "org" for v in d["versions"]] == [1, 2]

    open_tab(page, "Browse")
    expect(field(page, "Version")).to_have_value("v2 · split")
    summary = page.get_by_test_id("stExpander").filter(has_text="Summary of this version").filter(visible=True)
    summary.locator("summary").click()
    lines = summary.get_by_test_id("stMarkdown").first.inner_text()
    assert "Splits: train 6 · validation 1 · easy_test 3" in lines and "{" not in lines, lines
    expect(summary.get_by_test_id("stJson")).to_have_count(0)  # words and tables, not a collapsed {...}
    balance = {r[""]: r for r in grid_rows(summary.get_by_test_id("stDataFrame").first)}
    assert balance["easy_test"]["full"] == "1", balance

    # leakage: a job with its progress on the page, not a wait inside it
    open_tab(page, "Leakage")
    expect(field(page, "Version")).to_have_value("v2 · split")
    page.get_by_role("button", name="Check leakage").click()
    wait_for(lambda: manager.list_jobs(kind="leakage"), timeout=30)
    [job] = manager.list_jobs(kind="leakage")
    page.get_by_test_id("stMarkdown").filter(has_text=job.id).filter(visible=True).first.wait_for()
    wait_for_status(page, "succeeded", timeout=180_000)
    idle(page)
    expect(page.get_by_test_id("stProgress").filter(visible=True)).to_have_text(re.compile(r"(\d+) / \1"))
    assert metric(page, "Rows compared") == "6 · 4"


def test_forms_keep_choices_tables_read_well_and_a_first_tiny_run_learns(demo):
    page, url = demo["page"], demo["url"]
    waiting = running_job(demo, title="just started")  # running, no step reported yet
    visit(page, url, "data", "Data")
    open_tab(page, "Curate")
    choose(page, "Dataset", "demo-saige (saige)")
    before = metric(page, "Rows kept")
    slider = page.locator('input[type=range][aria-label="Max harm"]').filter(visible=True)
    start = slider.input_value()
    slider.focus()
    for _ in range(15):
        page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("stMetric").filter(has_text="Rows kept").filter(visible=True)).not_to_have_text(
        re.compile(re.escape(before)))
    idle(page)
    moved, kept = slider.input_value(), metric(page, "Rows kept")
    assert moved != start

    go(page, "Jobs")  # away, and a look at the queue: no "None" for a job that has reported no step yet
    with wide(page):  # every column in view
        jobs = {r["id"]: r for r in grid_rows(dataframe_with(page, "progress"))}
    assert jobs[waiting]["progress"] == "" and not [r for r in jobs.values() if "None" in r.values()], jobs
    go(page, "Data")
    open_tab(page, "Curate")  # the sliders kept their place, and so the count
    expect(field(page, "Dataset")).to_have_value("demo-saige (saige)")
    expect(slider).to_have_value(moved)
    assert metric(page, "Rows kept") == kept

    go(page, "Train")  # the dataset chosen on the Data page; the tiny model's parts in MB or KB, not 0 GB
    dataset = "Dataset (a trace version where the recipe has traces)"
    expect(field(page, dataset)).to_have_value("demo-saige (saige)")
    [memory] = grid_rows(dataframe_with(page, "weights"))
    for part in ("weights", "gradients", "optimizer"):
        assert re.fullmatch(r"[\d.]+ (MB|KB)", memory[part]) and float(memory[part].split()[0]) > 0, memory
    queue = {r["job"]: r for r in grid_rows(dataframe_with(page, "steps"))}
    assert queue[waiting]["steps"] == "" and not [r for r in queue.values() if "None" in r.values()], queue
    choose(page, dataset, "demo-guard (guard)")
    type_into(page, "max_steps", str(LEARN_STEPS))
    go(page, "Models")
    go(page, "Train")  # the Train form kept its dataset and steps
    expect(field(page, dataset)).to_have_value("demo-guard (guard)")
    expect(field(page, "max_steps")).to_have_value(str(LEARN_STEPS))
    command = page.get_by_test_id("stCode").filter(has_text="train launch")
    expect(command).to_contain_text("--preset tiny --dataset demo-guard@1")
    expect(command).to_contain_text(f"max_steps={LEARN_STEPS}")
    set_status(waiting, "cancelled")

    # the first tiny run, launched with the preset's settings: its Monitor curve goes down
    known = {j.id for j in manager.list_jobs(kind="train")}
    page.get_by_role("button", name="Launch training").click()
    page.get_by_text(re.compile(r"^Started \S+-train-")).wait_for()
    [run] = [j.id for j in manager.list_jobs(kind="train") if j.id not in known]
    page.get_by_role("link", name="Watch it on the Monitor page").click()
    expect(field(page, "Training job")).to_have_value(re.compile(rf"^{run} · "))
    wait_for_status(page, "succeeded", timeout=240_000)
    idle(page)
    page.wait_for_function(f"() => ({LOSS_CURVE})().length === {LEARN_STEPS}", timeout=30_000)
    losses = page.evaluate(LOSS_CURVE)
    assert losses[-1] <= LEARN_RATIO * losses[0], f"loss {losses[0]:.2f} -> {losses[-1]:.2f} in {LEARN_STEPS} steps"
