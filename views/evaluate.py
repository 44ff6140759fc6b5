"""Evaluate: score a model or a teacher on a split; see where it is wrong and why; compare runs."""
from pathlib import Path

import pandas as pd
import streamlit as st

from backend.evaluation.runner import EvalRequest, launch_evaluation, list_evaluations, load_results, run_checkpoints
from backend.jobs import manager
from backend.traces import records
from backend.traces.teachers import Teacher
from ui.common import attempt, pick_version
from ui.evaluation_views import cell_examples, comparison_table, confusion_chart, show_examples
from ui.executor import executor_picker
from ui.jobs import live_job

LABEL_KEYS = {"guard": "prompt_harm_label", "orgaccess": "expected_response"}

st.title("🎯 Evaluate")
new_tab, results_tab, compare_tab = st.tabs(["New evaluation", "Results", "Compare"])

with new_tab:
    dv = pick_version("evaluate")
    if dv:
        splits = ["(test splits, else all rows)"] + list(dv.summary.get("splits", {}))
        split = st.selectbox("Rows", splits, key="evaluate_split")
        source = st.radio("Model", ["A training run", "A base model (+ adapter)", "A teacher endpoint"],
                          horizontal=True, key="evaluate_source")
        request = {"dataset": dv.ref, "split": None if split.startswith("(") else split}
        if source == "A training run":
            runs = [j for j in manager.list_jobs(kind="train") if j.status in ("succeeded", "cancelled", "running")]
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
        if dv.recipe == "raft":
            request["distractors"] = int(st.number_input("Distractor stress test: extra retrieved documents (0 = off)",
                                                         0, 20, 0, key="evaluate_distractors"))
        a, b, c = st.columns(3)
        request["max_new_tokens"] = int(a.number_input("Max new tokens", 1, 8192, 512, key="evaluate_max_tokens"))
        request["limit"] = int(b.number_input("Only the first N rows (0 = all)", 0, 10_000_000, 0, key="evaluate_limit")) or None
        request["temperature"] = float(c.number_input("Temperature", 0.0, 2.0, 0.0, key="evaluate_temperature"))
        placement = executor_picker("evaluate")
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
        recipe = results["row"]["recipe"]
        metrics = results["metrics"]
        cols = st.columns(4)
        cols[0].metric(results["headline"], "-" if results["headline_value"] is None else f"{results['headline_value']:.4f}")
        for col, key in zip(cols[1:], ("accuracy", "macro_f1", "unparseable")):
            if key in metrics:
                col.metric(key, f"{metrics[key]:.4f}" if isinstance(metrics[key], float) else metrics[key])
        if results["row"]["model_kind"] == "teacher":
            spent = records.ledger(results["row"]["job_id"])
            st.caption(f"Teacher cost: {spent['usd']:.4f} USD for {spent['paid_requests']:,} paid requests "
                       f"({spent['cache_hits']:,} from cache; {spent['input_tokens']:,} input / "
                       f"{spent['output_tokens']:,} output tokens).")
        if metrics.get("stress"):
            stress = metrics["stress"]
            st.markdown(f"**Distractor stress test** ({stress['distractors']} extra retrieved documents per question)")
            st.dataframe(pd.DataFrame({"plain": {k: metrics[k] for k in ("exact_match", "token_f1", "rouge_l")},
                                       "with distractors": {k: stress[k] for k in ("exact_match", "token_f1", "rouge_l")}}),
                         width="stretch")
        if metrics.get("tasks"):
            st.dataframe(pd.DataFrame(metrics["tasks"]).T, width="stretch")
        if metrics.get("policies"):
            st.dataframe(pd.DataFrame(metrics["policies"]).T, width="stretch")
        if metrics.get("per_class"):
            st.dataframe(pd.DataFrame(metrics["per_class"]).T, width="stretch")
        if metrics.get("by_difficulty"):
            st.dataframe(pd.DataFrame({d: {k: r[k] for k in ("n", "accuracy", "macro_f1", "unparseable")}
                                       for d, r in metrics["by_difficulty"].items()}).T, width="stretch")
        confusion = metrics.get("confusion")
        if confusion and recipe in LABEL_KEYS:
            label_key = LABEL_KEYS[recipe] if not metrics.get("policies") else "policy_label"
            normalise = st.toggle("Normalise rows", key="evaluate_normalise")
            clicked = confusion_chart(confusion, normalise, key=f"evaluate_confusion_{chosen}")
            if clicked and clicked != st.session_state.get("evaluate_cell_clicked"):  # a new click moves both boxes
                st.session_state["evaluate_cell_clicked"] = clicked
                st.session_state["evaluate_cell_gold"], st.session_state["evaluate_cell_pred"] = clicked
            a, b = st.columns(2)
            gold = a.selectbox("Gold", confusion["labels"], key="evaluate_cell_gold")
            predicted = b.selectbox("Predicted", confusion["columns"], key="evaluate_cell_pred")
            show_examples(cell_examples(predictions, label_key, gold, predicted), key="evaluate_examples")
        elif recipe == "raft":
            worst = sorted(predictions, key=lambda p: len(p["predict"] or ""))[:20]
            show_examples(worst, key="evaluate_examples")

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
