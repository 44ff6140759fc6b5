"""Retrieval: build an index over a story corpus, search it, measure it against gold documents, and build
RAFT training examples (oracle + distractor documents per question)."""
import pandas as pd
import streamlit as st

from backend.recipes import RECIPES
from backend.retrieval.build import launch_index_build
from backend.retrieval.index import list_indexes
from backend.retrieval.metrics import evaluate_index
from backend.retrieval.raft_builder import EXAMPLES_SUMMARY_KEY, RaftBuildRequest, build_raft_dataset
from backend.retrieval.search import search
from ui.common import attempt, pick_version
from ui.jobs import live_job

MODES = ("hybrid", "dense", "bm25")
# The recipes whose versions carry a documents corpus.
CORPUS_RECIPES = [name for name, recipe in RECIPES.items() if recipe.documents_table]

st.title(":material/search: Retrieval")
build_tab, search_tab, evaluate_tab, raft_tab = st.tabs(["Index", "Search", "Evaluate", "RAFT examples"])

with build_tab:
    dv = pick_version("retrieval_build", recipe=CORPUS_RECIPES)
    if dv:
        a, b, c, d = st.columns(4)
        model = a.text_input("Embedding model", "all-MiniLM-L6-v2", key="retrieval_model",
                             help="the offline default, or a local folder / cached id (e.g. BAAI/bge-m3)")
        chunk = b.number_input("Chunk size (tokens)", 32, 254, 200, key="retrieval_chunk",
                                help="MiniLM reads at most 256 tokens (254 without its special tokens)")
        overlap = c.number_input("Overlap (tokens)", 0, 200, 40, key="retrieval_overlap")
        kind = d.selectbox("Index", ["flat", "hnsw"], key="retrieval_kind",
                           help="flat: exact inner product; hnsw: approximate, for corpora past ~1M chunks")
        if st.button("Build index", type="primary", key="retrieval_build_go"):
            job = attempt(launch_index_build, dv.ref, model=None if model == "all-MiniLM-L6-v2" else model,
                          chunk_size=int(chunk), overlap=int(overlap), kind=kind)
            if job:
                st.session_state["retrieval_job"] = job.id
        if st.session_state.get("retrieval_job"):
            live_job(st.session_state["retrieval_job"])
    indexes = attempt(list_indexes) or []
    if indexes:
        st.dataframe(pd.DataFrame(indexes), hide_index=True, width="stretch")

indexes = attempt(list_indexes) or []
names = [i["name"] for i in indexes]
with search_tab:
    if not names:
        st.info("Build an index first.")
    else:
        a, b, c = st.columns([2, 1, 1])
        index = a.selectbox("Index", names, key="retrieval_search_index")
        k = b.number_input("Top k", 1, 100, 8, key="retrieval_k")
        mode = c.selectbox("Mode", MODES, key="retrieval_mode")
        query = st.text_input("Search", key="retrieval_query", placeholder="Who lit the lamp in the glass lighthouse?")
        if query:
            hits = attempt(search, index, query, k=int(k), mode=mode) or []
            for hit in hits:
                with st.expander(f"{hit['rank']}. {hit['doc_id']} · {hit.get('title') or ''} · score {hit['score']:.4f}"):
                    st.write(hit["chunk"])

with evaluate_tab:
    if not names:
        st.info("Build an index first.")
    else:
        a, b, c, d = st.columns(4)
        index = a.selectbox("Index", names, key="retrieval_eval_index")
        split = b.text_input("Split (empty: all queries)", "test", key="retrieval_eval_split")
        k = c.number_input("k", 1, 100, 8, key="retrieval_eval_k")
        modes = d.multiselect("Modes", MODES, default=list(MODES), key="retrieval_eval_modes")
        if st.button("Evaluate", key="retrieval_eval_go"):
            rows = []
            for mode in modes:
                result = attempt(evaluate_index, index, split or None, k=int(k), mode=mode)
                if result:
                    rows.append({"mode": mode, **{m: result[m] for m in ("precision", "recall", "ndcg", "map")},
                                 "queries": len(result.get("per_query", []))})
            if rows:
                st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
                st.caption(f"P@{k}, R@{k} (hits / gold documents), nDCG@{k} and MAP@{k}, MSRS's definitions; "
                           "documents rank by their best chunk.")

with raft_tab:
    dv = pick_version("retrieval_raft", recipe=CORPUS_RECIPES)
    if dv:
        a, b, c, d = st.columns(4)
        index = a.selectbox("Distractors from", ["(random documents)"] + names, key="retrieval_raft_index")
        p = b.slider("Oracle share P", 0.0, 1.0, 0.8, 0.05, key="retrieval_raft_p")
        k = c.number_input("Distractors", 0, 20, 4, key="retrieval_raft_k")
        seed = d.number_input("Seed", 0, 2**31 - 1, 0, key="retrieval_raft_seed")
        if st.button("Build RAFT examples", type="primary", key="retrieval_raft_go"):
            built = attempt(build_raft_dataset, RaftBuildRequest(
                dataset=dv.ref, index=None if index.startswith("(") else index, distractors=int(k), oracle_p=p,
                seed=int(seed)))
            if built:
                stats = built.summary[EXAMPLES_SUMMARY_KEY]
                st.success(f"Built {built.ref}: {built.rows} examples; {stats['share_with_oracle']:.0%} "
                           f"with the oracle, {stats['distractors_per_example']:.1f} distractors each. "
                           "Next: write chain-of-thought answers on the Traces page with the 'cot' template.")
        stats = dv.summary.get(EXAMPLES_SUMMARY_KEY)
        if stats:
            st.json(stats)
