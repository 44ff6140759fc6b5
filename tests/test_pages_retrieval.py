"""The Retrieval page: build an index as a job, search it, evaluate it, build RAFT examples."""
from backend.data.demo import create_demo_datasets
from backend.data.store import resolve
from backend.jobs import manager
from tests.support import open_page


def test_build_search_evaluate_and_raft_from_the_page(state):
    create_demo_datasets()
    at = open_page("views/retrieval.py")
    at.button(key="retrieval_build_go").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job = manager.wait(at.session_state["retrieval_job"], timeout=300)
    assert job.status == "succeeded", job.error
    at.run()
    at.text_input(key="retrieval_query").set_value("Who is the lighthouse keeper in The Glass Lighthouse?")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("GLASS_LIGHTHOUSE" in e.label for e in at.expander)
    at.button(key="retrieval_eval_go").click()
    at.run()
    table = next(d.value for d in at.dataframe if "recall" in d.value.columns)
    assert list(table["mode"]) == ["hybrid", "dense", "bm25"] and table["recall"].between(0, 1).all()
    at.selectbox(key="retrieval_raft_index").set_value(at.selectbox(key="retrieval_raft_index").options[1])
    at.button(key="retrieval_raft_go").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    built = resolve("demo-raft-raft")
    assert built.summary["raft"]["distractors_per_example"] == 4.0
