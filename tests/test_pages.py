"""AppTest smoke tests: every page renders on an empty lab and on the demo data, without exceptions."""
import pytest
from streamlit.testing.v1 import AppTest

from backend.data.demo import create_demo_datasets
from tests.support import open_page, split_demo_from_page

PAGES = ["views/home.py", "views/data.py", "views/traces.py", "views/jobs.py", "views/train.py", "views/monitor.py", "views/evaluate.py", "views/retrieval.py", "views/playground.py", "views/models.py"]


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_on_empty_lab(state, page):
    at = open_page(page)
    if page == "views/home.py":
        assert any("Load demo data" in b.label for b in at.button)


def test_home_offers_demo_and_loads_it(state):
    at = open_page("views/home.py")
    next(b for b in at.button if b.label == "Load demo data").click()
    at.run()
    assert not at.exception
    assert any("Demo data is loaded" in s.value for s in at.success)


@pytest.fixture()
def demo(state):
    create_demo_datasets()
    return state


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_on_demo_data(demo, page):
    open_page(page)


def kept_metric(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Rows kept")


def test_saige_sliders_change_the_count(demo):
    at = open_page("views/data.py")
    at.selectbox(key="data_curate_dataset").select("demo-saige")
    at.run()
    before = kept_metric(at)
    at.slider(key="data_saige_max_harm").set_value(0.05)
    at.run()
    after = kept_metric(at)
    assert before != after
    kept_after = int(after.split(" of ")[0].replace(",", ""))
    kept_before = int(before.split(" of ")[0].replace(",", ""))
    assert kept_after < kept_before


def test_split_and_export_from_the_page(demo):
    at = split_demo_from_page()
    assert not at.exception
    assert any("train" in s.value and "hard_test" in s.value for s in at.success)


def test_text_length_filter_is_offered_and_filters(demo):
    at = open_page("views/data.py")
    at.selectbox(key="data_curate_dataset").select("demo-guard")
    at.run()
    before = int(kept_metric(at).split(" of ")[0].replace(",", ""))
    assert "prompt_len" in at.selectbox(key="data_filter_column").options  # pandas 3 text columns are not object
    at.selectbox(key="data_filter_column").select("prompt_len")
    at.selectbox(key="data_filter_op").select(">=")
    at.text_input(key="data_filter_value").input("80")
    at.button(key="data_filter_add").click()
    at.run()
    assert not at.exception
    assert int(kept_metric(at).split(" of ")[0].replace(",", "")) < before
