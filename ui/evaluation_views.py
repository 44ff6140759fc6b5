"""Evaluation views: a clickable confusion matrix, the examples behind a cell, runs side by side."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from backend.metrics.classification import UNPARSEABLE
from backend.recipes import get_recipe


def confusion_chart(confusion: dict, normalise: bool, key: str) -> tuple[str, str] | None:
    """A heatmap drawn with square markers (so a click selects a cell); returns the clicked (gold, predicted)."""
    labels, columns, matrix = confusion["labels"], confusion["columns"], confusion["matrix"]
    xs, ys, values, texts = [], [], [], []
    for gold, row in zip(labels, matrix):
        total = sum(row) or 1
        for predicted, count in zip(columns, row):
            xs.append(predicted)
            ys.append(gold)
            values.append(count / total if normalise else count)
            texts.append(f"{count / total:.0%}" if normalise else str(count))
    fig = go.Figure(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=texts, textfont={"size": 16},
        marker={"symbol": "square", "size": 70, "color": values, "colorscale": "Blues", "showscale": True},
        hovertemplate="gold %{y}<br>predicted %{x}<br>%{text}<extra></extra>"))
    fig.update_layout(height=140 + 80 * len(labels), xaxis_title="predicted", yaxis_title="gold",
                      yaxis={"autorange": "reversed", "type": "category"}, xaxis={"type": "category", "side": "top"},
                      margin=dict(l=10, r=10, t=60, b=10))
    event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points", width="stretch")
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else \
        getattr(getattr(event, "selection", None), "points", []) or []
    if points:
        return points[0]["y"], points[0]["x"]
    return None


def cell_examples(predictions: list[dict], label_key: str, gold: str, predicted: str) -> list[dict]:
    """The predictions in one cell of the confusion matrix."""
    def parsed(p):
        value = p["parsed"].get(label_key)
        return UNPARSEABLE if value is None else value

    return [p for p in predictions if (p["gold"] or {}).get(label_key) == gold and parsed(p) == predicted]


def show_examples(examples: list[dict], key: str) -> None:
    st.caption(f"{len(examples)} example(s)")
    for p in examples[:50]:
        with st.expander(f"{p['id']} · gold {p['gold']} · parsed {p['parsed']}"):
            st.markdown("**Input**")
            st.text(p["prompt"])
            st.markdown("**Model output (reasoning and answer)**")
            st.text(p["predict"] or "(empty)")
            if p.get("trace"):
                st.markdown("**Teacher's trace**")
                st.text(p["trace"])


CARD_KEYS = ("accuracy", "macro_f1", "precision", "recall", "exact_match", "token_f1", "rouge_l", "unparseable")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def show_results(results: dict, predictions: list[dict] | None, recipe: str, key: str = "evaluate",
                 ident: str = "") -> None:
    """An evaluation's (or a scored predictions file's) results: the headline and three other numbers (never
    the headline twice), the per-task / per-policy / per-class / per-difficulty tables and the confusion
    matrix; with `predictions`, the examples behind a clicked cell (or those the recipe picks to review, e.g.
    RAFT's shortest answers)."""
    metrics, headline = results["metrics"], results["headline"]
    value = results["headline_value"]
    cols = st.columns(4)
    cols[0].metric(headline, "-" if value is None else f"{value:.4f}")
    others = [k for k in CARD_KEYS if k != headline and _number(metrics.get(k))][:3]
    for col, name in zip(cols[1:], others):
        col.metric(name, f"{metrics[name]:.4f}" if isinstance(metrics[name], float) else metrics[name])
    if metrics.get("stress"):
        stress = metrics["stress"]
        st.markdown(f"**Distractor stress test** ({stress['distractors']} extra retrieved documents per question)")
        st.dataframe(pd.DataFrame({"plain": {k: metrics[k] for k in ("exact_match", "token_f1", "rouge_l")},
                                   "with distractors": {k: stress[k] for k in ("exact_match", "token_f1", "rouge_l")}}),
                     width="stretch")
    for table in ("tasks", "policies", "per_class"):
        if metrics.get(table):
            st.dataframe(pd.DataFrame(metrics[table]).T, width="stretch")
    if metrics.get("by_difficulty"):
        st.dataframe(pd.DataFrame({d: {k: r[k] for k in ("n", "accuracy", "macro_f1", "unparseable")}
                                   for d, r in metrics["by_difficulty"].items()}).T, width="stretch")
    scorer = get_recipe(recipe).scorer
    confusion = metrics.get("confusion")
    if confusion and (scorer.confusion_label or predictions is None):
        normalise = st.toggle("Normalise rows", key=f"{key}_normalise")
        clicked = confusion_chart(confusion, normalise, key=f"{key}_confusion_{ident}")
        if predictions is None:
            return
        label_key = scorer.confusion_label if not metrics.get("policies") else "policy_label"
        if clicked and clicked != st.session_state.get(f"{key}_cell_clicked"):  # a new click moves both boxes
            st.session_state[f"{key}_cell_clicked"] = clicked
            st.session_state[f"{key}_cell_gold"], st.session_state[f"{key}_cell_pred"] = clicked
        a, b = st.columns(2)
        gold = a.selectbox("Gold", confusion["labels"], key=f"{key}_cell_gold")
        predicted = b.selectbox("Predicted", confusion["columns"], key=f"{key}_cell_pred")
        show_examples(cell_examples(predictions, label_key, gold, predicted), key=f"{key}_examples")
    elif predictions and (examples := scorer.examples_to_review(predictions)):
        show_examples(examples, key=f"{key}_examples")


def flat_metrics(results: dict) -> dict[str, float]:
    """Every number worth comparing, as 'name': value (per class and per task included)."""
    m = results["metrics"]
    out = {results["headline"]: results["headline_value"]}
    for key in ("accuracy", "macro_f1", "micro_f1", "exact_match", "token_f1", "rouge_l", "quote_faithfulness", "unparseable"):
        if isinstance(m.get(key), (int, float)):
            out[key] = m[key]
    for label, scores in (m.get("per_class") or {}).items():
        out[f"f1 {label}"] = scores["f1"]
    for task, scores in (m.get("tasks") or {}).items():
        out[f"{task} F1"] = scores["f1"]
    for policy, scores in (m.get("policies") or {}).items():
        out[f"policy {policy} F1"] = scores["f1"]
    for difficulty, report in (m.get("by_difficulty") or {}).items():
        out[f"{difficulty} macro F1"] = report["macro_f1"]
    return out


def comparison_table(results: list[dict]) -> pd.DataFrame:
    columns = {f"{r['model']} ({r['id'][:6]})": flat_metrics(r) for r in results}
    table = pd.DataFrame(columns)
    if len(columns) > 1:
        base = table.columns[0]
        for name in table.columns[1:]:
            table[f"Δ {name}"] = table[name] - table[base]
    return table
