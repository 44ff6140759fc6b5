"""The Data page's sections. Each widget reads state, each button is one backend call."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from backend.config import state_path
from backend.data.dedup import dedup
from backend.data.filters import filter_rows, parse_where, preview_mask
from backend.data.saige_filter import SaigeFilter
from backend.data import export as exporting
from backend.data import splits as splitting
from backend.data.importers import SUPPORTED, import_dataset
from backend.data.leakage import leakage_report
from backend.data.store import DatasetVersion
from backend.data.uploads import new_upload_dir, save_upload
from backend.recipes import RECIPES, get_recipe
from backend.recipes.saige import ALIGNMENT_LEVELS, HARM_DIMENSIONS, PRINCIPLES
from ui.common import attempt, frame_of

PAGE_SIZES = (25, 50, 100, 500)


def import_data() -> None:
    recipe = st.selectbox("Recipe", list(RECIPES), key="data_import_recipe",
                          format_func=lambda r: f"{r}: {RECIPES[r].title}")
    st.caption(SUPPORTED.get(recipe, ""))
    name = st.text_input("Dataset name", key="data_import_name", placeholder="e.g. wildguard-train")
    source = st.radio("Source", ["Upload files", "Path on the server"], horizontal=True, key="data_import_source")
    uploads, paths = [], []
    if source == "Upload files":
        uploads = st.file_uploader("Files", accept_multiple_files=True, key="data_import_files") or []
    else:
        text = st.text_area("Paths (one per line: files or folders)", key="data_import_paths")
        paths = [line.strip() for line in text.splitlines() if line.strip()]
    on_bad_label = "error"
    if recipe == "orgaccess":
        on_bad_label = st.radio("Labels outside full / partial / rejected", ["error", "drop", "keep"], horizontal=True,
                                key="data_import_bad_label",
                                help="error: stop and list them; drop: leave those rows out; keep: import them as they are")
    mapping = None
    if recipe == "generic":
        text = st.text_input("Column mapping (recipe column=source column, comma separated)",
                             key="data_import_mapping", placeholder="prompt=question, response=answer, label=category")
        mapping = dict(p.split("=", 1) for p in (s.strip() for s in text.split(",")) if "=" in p) or None
    if st.button("Import", type="primary", key="data_import_go", disabled=not name or not (uploads or paths)):
        if uploads:
            folder = new_upload_dir()
            paths = [str(f) for f in (attempt(save_upload, folder, u.name, u) for u in uploads) if f]
        with st.spinner("Importing..."):
            dv = attempt(import_dataset, recipe, name, paths, on_bad_label=on_bad_label, mapping=mapping)
        if dv:
            st.success(f"Imported {dv.ref}: {dv.rows:,} rows (hash {dv.content_hash}).")
            if dv.summary:
                st.json(dv.summary, expanded=False)


def browse(dv: DatasetVersion) -> None:
    frame = frame_of(dv)
    st.caption(f"{dv.ref} · {dv.recipe} · {dv.rows:,} rows · made by {dv.operation} "
               f"{'from ' + dv.parent if dv.parent else ''} · hash {dv.content_hash}")
    left, right = st.columns(2)
    size = left.selectbox("Rows per page", PAGE_SIZES, key="data_browse_size")
    pages = max(1, -(-len(frame) // size))
    page = right.number_input(f"Page (of {pages})", 1, pages, 1, key="data_browse_page")
    st.dataframe(frame.iloc[(page - 1) * size: page * size], width="stretch", hide_index=True)
    for table, rows in dv.tables.items():
        if table != "rows":
            with st.expander(f"Table '{table}' ({rows:,} rows)"):
                st.dataframe(frame_of(dv, table).head(200), width="stretch", hide_index=True)


def _histograms(before: pd.DataFrame, after: pd.DataFrame, columns: list[tuple[str, str]]) -> None:
    cols = st.columns(len(columns))
    for col, (column, title) in zip(cols, columns):
        fig = go.Figure()
        fig.add_histogram(x=before[column], name="before", opacity=0.5, nbinsx=20)
        fig.add_histogram(x=after[column], name="after", opacity=0.75, nbinsx=20)
        fig.update_layout(barmode="overlay", title=title, height=280, margin=dict(l=10, r=10, t=40, b=10))
        col.plotly_chart(fig, width="stretch", key=f"data_hist_{column}")


def _saige_sliders() -> SaigeFilter:
    defaults = SaigeFilter()
    a, b, c = st.columns(3)
    max_harm = a.slider("Max harm", 0.0, 1.0, defaults.max_harm, 0.01, key="data_saige_max_harm",
                        help="keep experiences with actual_harm at or below this")
    min_buddhist = b.slider("Min weighted Buddhist score", 0.0, 10.0, defaults.min_buddhist, 0.1,
                            key="data_saige_min_buddhist",
                            help="0.25 ahimsa + 0.20 sacca + 0.25 karuna + 0.20 panna + 0.10 upekkha")
    min_alignment = c.select_slider("Min alignment level", ALIGNMENT_LEVELS, defaults.min_alignment,
                                    key="data_saige_min_alignment", help="the stored alignment level; good = good or excellent")
    with st.expander("Per-principle minimums, per-harm maximums, difficulty"):
        pcols = st.columns(len(PRINCIPLES))
        principle_min = {p: col.slider(p, 0.0, 10.0, 0.0, 0.5, key=f"data_saige_min_{p}")
                         for p, col in zip(PRINCIPLES, pcols)}
        hcols = st.columns(len(HARM_DIMENSIONS))
        harm_max = {d: col.slider(d, 0.0, 1.0, 1.0, 0.05, key=f"data_saige_max_{d}")
                    for d, col in zip(HARM_DIMENSIONS, hcols)}
        lo, hi = st.slider("Difficulty", 1, 5, (1, 5), key="data_saige_difficulty")
    return SaigeFilter(
        max_harm=max_harm, min_buddhist=min_buddhist, min_alignment=min_alignment,
        principle_min={p: v for p, v in principle_min.items() if v > 0},
        harm_max={d: v for d, v in harm_max.items() if v < 1},
        difficulty_min=lo if lo > 1 else None, difficulty_max=hi if hi < 5 else None)


def _generic_filters(frame: pd.DataFrame) -> list:
    filters = st.session_state.setdefault("data_filters", [])
    a, b, c, d = st.columns([2, 1, 2, 1])
    texts = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c]) or frame[c].dtype == object]
    column = a.selectbox("Column", list(frame.columns) + [f"{c}_len" for c in texts], key="data_filter_column")
    op = b.selectbox("Test", ["=", "!=", "in", ">=", "<=", "~"], key="data_filter_op",
                     help="~ means 'contains'; 'in' takes comma-separated values; COLUMN_len tests text length")
    value = c.text_input("Value", key="data_filter_value")
    if d.button("Add", key="data_filter_add") and value:
        expr = f"{column} in {value}" if op == "in" else f"{column}{op}{value}"
        if attempt(parse_where, expr):
            filters.append(expr)
    for i, expr in enumerate(list(filters)):
        x, y = st.columns([6, 1])
        x.code(expr)
        if y.button("Remove", key=f"data_filter_rm_{i}"):
            filters.pop(i)
            st.rerun()
    return [parse_where(e) for e in filters]


def curate(dv: DatasetVersion) -> None:
    frame = frame_of(dv)
    saige = _saige_sliders() if dv.recipe == "saige" else None
    filters = _generic_filters(frame) if dv.recipe != "saige" else []
    mask = attempt(preview_mask, frame, dv.recipe, filters, saige)
    if mask is None:
        return
    kept = frame[mask]
    st.metric("Rows kept", f"{len(kept):,} of {len(frame):,}")
    if saige is not None:
        _histograms(frame, kept, [("actual_harm", "Harm"), ("buddhist_weighted", "Weighted Buddhist score")])
    out = st.text_input("Save as dataset", value=f"{dv.dataset}-filtered", key=f"data_filter_out_{dv.dataset}")
    if st.button("Save filtered dataset", type="primary", key="data_filter_save"):
        new = attempt(filter_rows, dv.ref, filters, out, saige=saige)
        if new:
            st.success(f"Saved {new.ref}: {new.rows:,} rows.")
    st.divider()
    st.markdown("**Deduplicate** (exact match after normalising case, whitespace and Unicode)")
    if st.button("Remove duplicates", key="data_dedup"):
        result = attempt(dedup, dv.ref)
        if result:
            new, report = result
            st.success(f"{new.ref}: removed {report.removed} rows in {report.groups} groups, kept {report.kept:,}.")
            if report.examples:
                st.dataframe(pd.DataFrame(report.examples), hide_index=True, width="stretch")


def split(dv: DatasetVersion) -> None:
    frame = frame_of(dv)
    recipe = get_recipe(dv.recipe)
    preset = st.selectbox("Preset", ["(none)"] + list(splitting.PRESETS), key="data_split_preset",
                          format_func=lambda p: p if p == "(none)" else f"{p}: {splitting.PRESETS[p]}")
    a, b, c, d = st.columns(4)
    ratios = a.text_input("Ratios", "0.8,0.1,0.1", key="data_split_ratios", disabled=preset != "(none)",
                          help="train/validation/test, or name=ratio pairs")
    columns = ["(none)"] + [col for col in frame.columns if col != splitting.SPLIT_COLUMN]
    default = columns.index(recipe.label_column) if recipe.label_column in columns else 0
    stratify = b.selectbox("Stratify by", columns, index=default, key="data_split_stratify")
    group_default = columns.index(recipe.group_column) if recipe.group_column in columns else 0
    group = c.selectbox("Group by", columns, index=group_default, key="data_split_group", disabled=preset != "(none)",
                        help="a preset sets its own groups")
    seed = d.number_input("Seed", 0, 2**31 - 1, 0, key="data_split_seed")
    if st.button("Create split", type="primary", key="data_split_go"):
        new = attempt(splitting.split_dataset, dv.ref,
                      ratios=None if preset != "(none)" else attempt(splitting.parse_ratios, ratios),
                      stratify=None if stratify == "(none)" else stratify,
                      group=None if group == "(none)" or preset != "(none)" else group, seed=int(seed),
                      preset=None if preset == "(none)" else preset)
        if new:
            st.success(f"Created {new.ref}: " + ", ".join(f"{k} {v:,}" for k, v in new.summary["splits"].items()))
            dv = new
    if splitting.SPLIT_COLUMN in dv.columns:
        _split_preview(dv)
    else:
        st.info("This version has no splits yet.")


def _split_preview(dv: DatasetVersion) -> None:
    preview = attempt(splitting.split_preview, dv.ref)
    if not preview:
        return
    st.markdown(f"**Split preview of {dv.ref}**")
    left, right = st.columns(2)
    sizes = pd.DataFrame({"split": list(preview["splits"]), "rows": list(preview["splits"].values())})
    left.plotly_chart(px.bar(sizes, x="split", y="rows", title="Rows per split", height=320), width="stretch",
                      key="data_split_sizes")
    balance = [{"split": s, "label": str(label), "rows": n} for s, counts in preview["balance"].items()
               for label, n in counts.items()]
    if balance:
        shares = pd.DataFrame(balance)
        shares["share %"] = 100 * shares["rows"] / shares.groupby("split")["rows"].transform("sum")
        fig = px.bar(shares, x="split", y="share %", color="label", hover_data=["rows"],
                     title=f"Class balance ({preview.get('label_column')})", height=320)
        right.plotly_chart(fig, width="stretch", key="data_split_balance")
    for name, rows in preview["samples"].items():
        with st.expander(f"Sample of {name}"):
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def leakage(dv: DatasetVersion) -> None:
    if splitting.SPLIT_COLUMN not in dv.columns:
        st.info("Split this dataset first (Split tab); the leakage check compares two splits.")
        return
    names = list(dv.summary.get("splits", {}))
    a, b, c = st.columns(3)
    first = a.selectbox("Split A", names, index=names.index("train") if "train" in names else 0, key="data_leak_a")
    second = b.selectbox("Split B", ["(all test/validation)"] + [n for n in names if n != first], key="data_leak_b")
    threshold = c.slider("Near-duplicate threshold (cosine)", 0.5, 1.0, 0.9, 0.01, key="data_leak_threshold")
    if st.button("Check leakage", type="primary", key="data_leak_go"):
        bar = st.progress(0.0, "Embedding...")
        report = attempt(leakage_report, dv.ref, a=first, b=None if second.startswith("(") else second,
                         threshold=threshold, progress=lambda f, m="": bar.progress(min(1.0, f), m))
        bar.empty()
        if report:
            st.session_state["data_leak_report"] = report.to_json()
    report = st.session_state.get("data_leak_report")
    if report:
        st.metric("Pairs", f"{report['exact']} exact · {report['near']} near")
        if report["pairs"]:
            st.dataframe(pd.DataFrame(report["pairs"]), hide_index=True, width="stretch")


def export(dv: DatasetVersion) -> None:
    a, b, c = st.columns(3)
    fmt = a.selectbox("Format", list(exporting.FORMATS), key="data_export_format",
                      format_func=lambda f: f"{f}: {exporting.FORMATS[f]}")
    splits = ["(all rows)"] + list(dv.summary.get("splits", {}))
    which = b.selectbox("Split", splits, key="data_export_split")
    ext = c.selectbox("File type", _extensions(fmt), key="data_export_ext")
    split_name = None if which.startswith("(") else which
    filename = f"{dv.dataset}-v{dv.version}{'-' + split_name if split_name else ''}-{fmt}.{ext}"
    if st.button("Export", type="primary", key="data_export_go"):
        result = attempt(exporting.export_dataset, dv.ref, fmt, state_path("exports") / filename, split=split_name)
        if result:
            st.session_state["data_export_result"] = result.to_json()
    result = st.session_state.get("data_export_result")
    if result and Path(result["path"]).exists():
        st.success(f"Wrote {result['rows']:,} rows ({result['bytes']:,} bytes) to {result['path']}")
        st.download_button("Download", Path(result["path"]).read_bytes(), file_name=Path(result["path"]).name,
                           key="data_export_download")
    st.divider()
    st.markdown("**Token lengths** of the chat-formatted rows")
    x, y = st.columns(2)
    encoding = x.selectbox("Tokenizer", ["o200k_base", "cl100k_base"], key="data_tokens_encoding")
    max_len = y.number_input("Max sequence length", 16, 131072, 2048, key="data_tokens_max")
    if st.button("Count tokens", key="data_tokens_go"):
        stats = attempt(exporting.token_length_stats, dv.ref, encoding=encoding, max_seq_length=int(max_len),
                        split=split_name)
        if stats:
            cols = st.columns(5)
            for col, key in zip(cols, ("mean", "p50", "p95", "max", "over")):
                col.metric(key, f"{stats[key]:,.0f}")
            st.caption(f"{stats['over']:,} rows ({stats['over_pct']:.1f}%) would be truncated at {stats['max_seq_length']}.")
            hist = stats["histogram"]
            st.plotly_chart(px.bar(x=hist["edges"][:-1], y=hist["counts"], labels={"x": "tokens", "y": "rows"},
                                   height=280), width="stretch", key="data_tokens_hist")


def _extensions(fmt: str) -> list[str]:
    if fmt in ("tinyllama", "mistral", "llama3"):
        return ["jsonl", "csv"]
    return ["parquet"] if fmt.endswith("parquet") else ["jsonl"]
