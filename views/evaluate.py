"""Evaluate: score a model or a teacher on a split (a sample first, with the time it will take); score a
predictions file made elsewhere; see where it is wrong and why; compare runs."""
from pathlib import Path

import pandas as pd
import streamlit as st

from backend.errors import LabError
from backend.evaluation.estimate import DEFAULT_ROWS, estimate_evaluation, suggested_max_new_tokens
from backend.evaluation.predictions import as_results, prediction_recipes, score_predictions_upload
from backend.evaluation.runner import EvalRequest, launch_evaluation, list_evaluations, load_results, run_checkpoints
from backend.jobs import manager
from backend.jobs.executor import executor_of
from backend.jobs.status import JobStatus
from backend.recipes import get_recipe
from backend.traces import records
from backend.traces.teachers import Teacher
from ui.common import attempt, pick_version
from ui.evaluation_views import comparison_table, show_results
from ui.executor import executor_picker
from ui.jobs import live_job

PREDICTION_RECIPES = prediction_recipes()  # as `eval predictions --recipe`
PREDICTION_FIELDS = ("prompt", "label", "predict")
SOURCES = {"A training run": "run", "A base model (+ adapter)": "base", "A teacher endpoint": "teacher"}


@st.cache_data(show_spinner=False, max_entries=64)
def suggested_tokens(ref: str, content_hash: str, split: str | None, source: str) -> tuple[int, str]:
    """Versions are immutable, so (ref, hash) is a safe cache key."""
    return suggested_max_new_tokens(ref, split, source)


def parse_mapping(text: str) -> dict[str, str]:
    """'label=gold, predict=output' -> {"label": "gold", "predict": "output"} (as `--map label=gold ...`)."""
    mapping = {}
    for pair in filter(None, (p.strip() for p in (text or "").split(","))):
        ours, sep, theirs = (x.strip() for x in pair.partition("="))
        if not sep or ours not in PREDICTION_FIELDS or not theirs:
            raise LabError(f"column mapping {pair!r}: write ours=the file's column, ours one of "
                           f"{', '.join(PREDICTION_FIELDS)}")
        mapping[ours] = theirs
    return mapping


st.title(":material/target: Evaluate")
new_tab, results_tab, file_tab, compare_tab = st.tabs(["New evaluation", "Results", "Predictions file", "Compare"])

with new_tab:
    dv = pick_version("evaluate")
    if dv:
        splits = ["(test splits, else all rows)"] + list(dv.summary.get("splits", {}))
        split = st.selectbox("Rows", splits, key="evaluate_split")
        source = st.radio("Model", list(SOURCES), horizontal=True, key="evaluate_source")
        request = {"dataset": dv.ref, "split": None if split.startswith("(") else split}
        if source == "A training run":
            runs = [j for j in manager.list_jobs(kind="train") if j.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED, JobStatus.RUNNING)]
            run_id = st.selectbox("Run", [j.id for j in runs], key="evaluate_run")
            if run_id:
                names = ["final", "all"] + [p.name for p in run_checkpoints(Path(manager.get(run_id).job_dir))]
                request.update(train_job=run_id, checkpoint=st.selectbox(
                    "Checkpoint", names, key="evaluate_checkpoint",
                    help="'all' scores every checkpoint on this split and names the best by the headline metric"))
        elif source == "A base model (+ adapter)":
            request.update(base_model=st.text_input("Base model folder or cached id", key="evaluate_base") or None,
                           adapter=st.text_input("Adapter folder (optional)", key="evaluate_adapter") or None)
        else:
            a, b = st.columns(2)
            model = a.text_input("Teacher model", "gpt-4o-mini", key="evaluate_teacher")
            base_url = b.text_input("Base URL (empty = OpenAI)", key="evaluate_teacher_url")
            request["teacher"] = attempt(Teacher, model=model, base_url=base_url or None)
        if get_recipe(dv.recipe).documents_table:  # questions over a corpus: distractors can be mixed in
            request["distractors"] = int(st.number_input("Distractor stress test: extra retrieved documents (0 = off)",
                                                         0, 20, 0, key="evaluate_distractors"))
        suggestion = attempt(suggested_tokens, dv.ref, dv.content_hash, request["split"], SOURCES[source])
        # The suggestion becomes the box's value when the dataset, rows or model kind change; a value typed
        # since is kept until then.
        basis = (dv.ref, request["split"], SOURCES[source])
        if suggestion and (st.session_state.get("evaluate_max_tokens_for") != basis
                           or "evaluate_max_tokens" not in st.session_state):
            st.session_state["evaluate_max_tokens_for"] = basis
            st.session_state["evaluate_max_tokens"] = suggestion[0]
        st.session_state.setdefault("evaluate_max_tokens", 256)
        a, b, c = st.columns(3)
        request["max_new_tokens"] = int(a.number_input(
            "Max new tokens", 1, 8192, key="evaluate_max_tokens",
            help=f"suggested {suggestion[0]}: {suggestion[1]}" if suggestion else None))
        request["limit"] = int(b.number_input("Only the first N rows (0 = all)", 0, 10_000_000, DEFAULT_ROWS,
                                              key="evaluate_limit",
                                              help="a sample first: every row can take hours on a CPU")) or None
        request["temperature"] = float(c.number_input("Temperature", 0.0, 2.0, 0.0, key="evaluate_temperature"))
        placement = executor_picker("evaluate")
        if any(request.get(k) for k in ("train_job", "base_model", "teacher")):
            try:
                estimate = estimate_evaluation(EvalRequest(**request), executor=executor_of(placement or None).name)
                st.info(f"{estimate.text()}.", icon=":material/timer:")
                st.caption(f"How: {estimate.basis}.")
            except LabError as exc:
                st.caption(f"No time estimate: {exc}")
        if st.button("Start evaluation", type="primary", key="evaluate_start", disabled=placement is False):
            job = attempt(launch_evaluation, EvalRequest(**request), slurm_options=placement)
            if job:
                st.session_state["evaluate_job"] = job.id
        if st.session_state.get("evaluate_job"):
            live_job(st.session_state["evaluate_job"])

evaluations = list_evaluations()
with results_tab:
    if not evaluations:
        st.info("No evaluations yet.")
    else:
        chosen = st.selectbox("Evaluation", [e["id"] for e in evaluations], key="evaluate_result",
                              format_func=lambda i: next(f"{e['model_label']} on {e['dataset']} ({e['split'] or 'all'}) · "
                                                         f"{e['headline']} {e['headline_value'] if e['headline_value'] is None else round(e['headline_value'], 4)}"
                                                         for e in evaluations if e["id"] == i))
        results, predictions = load_results(chosen)
        if results["row"]["model_kind"] == "teacher":
            spent = records.ledger(results["row"]["job_id"])
            st.caption(f"Teacher cost: {spent['usd']:.4f} USD for {spent['paid_requests']:,} paid requests "
                       f"({spent['cache_hits']:,} from cache; {spent['input_tokens']:,} input / "
                       f"{spent['output_tokens']:,} output tokens).")
        show_results(results, predictions, results["row"]["recipe"], key="evaluate", ident=chosen)

with file_tab:
    st.caption("Score predictions made elsewhere: LLaMA-Factory's `generated_predictions.jsonl` (prompt / label / "
               "predict per line), or CSV, JSONL or JSON with a column mapping. The same scoring as "
               "`python -m backend eval predictions FILE --recipe RECIPE`.")
    upload = st.file_uploader("Predictions file", type=["jsonl", "json", "csv"], key="evaluate_file_upload")
    a, b = st.columns(2)
    file_recipe = a.selectbox("Recipe", PREDICTION_RECIPES, key="evaluate_file_recipe")
    options = {}  # the options this recipe's scoring declares (guard: the task, GuardReasoner's own scoring)
    for option in get_recipe(file_recipe).scorer.prediction_options:
        widget_key = f"evaluate_file_{option.widget or option.name}"
        if option.is_flag:
            options[option.name] = st.checkbox(option.label, key=widget_key, help=option.help)
        else:
            options[option.name] = b.selectbox(option.label, option.choices, key=widget_key, help=option.help)
    mapping_text = st.text_input("Column mapping (ours=the file's, comma separated)", key="evaluate_file_map",
                                 placeholder="label=gold, predict=output, prompt=input")
    if st.button("Score file", type="primary", key="evaluate_file_go", disabled=upload is None):
        mapping = attempt(parse_mapping, mapping_text)
        if mapping is not None:
            scored = attempt(score_predictions_upload, upload.name, upload, file_recipe, mapping=mapping or None,
                             **options)
            st.session_state["evaluate_file_scored"] = (scored, file_recipe, upload.name) if scored else None
    scored_file = st.session_state.get("evaluate_file_scored")
    if scored_file:
        scored, scored_recipe, name = scored_file
        st.markdown(f"**{name}** scored as {scored_recipe}"
                    + (f" · task {scored['task']}" if scored.get("task") else "")
                    + (f" · {scored['mode']} scoring" if scored.get("mode") else "")
                    + f" · {scored.get('n', 0):,} rows"
                    + (f" · {scored['skipped_without_gold']:,} without a gold label skipped"
                       if scored.get("skipped_without_gold") else ""))
        show_results(as_results(scored, scored_recipe), None, scored_recipe, key="evaluate_file", ident="upload")

with compare_tab:
    if len(evaluations) < 1:
        st.info("No evaluations yet.")
    else:
        ids = st.multiselect("Evaluations (the first is the baseline)", [e["id"] for e in evaluations],
                             default=[e["id"] for e in evaluations[:2]], key="evaluate_compare",
                             format_func=lambda i: next(f"{e['model_label']} · {e['dataset']} · {i[:6]}" for e in evaluations if e["id"] == i))
        if ids:
            st.dataframe(comparison_table([load_results(i)[0] for i in ids]), width="stretch")
        runs = sorted({e["train_job"] for e in evaluations if e["train_job"]})
        if runs:
            st.markdown("**Best checkpoint per run** (by the headline metric, not by loss)")
            rows = []
            for run in runs:
                scored = [e for e in evaluations if e["train_job"] == run and e["headline_value"] is not None]
                if scored:
                    best = max(scored, key=lambda e: e["headline_value"])
                    rows.append({"run": run, "best checkpoint": best["checkpoint"], best["headline"]: best["headline_value"],
                                 "split": best["split"], "checkpoints scored": len(scored)})
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
