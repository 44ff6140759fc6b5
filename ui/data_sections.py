"""The Data page's sections. Each widget reads state, each button is one backend call."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from backend.config import state_path
from backend.data.dedup import dedup
from backend.data.filters import filter_rows, parse_where, preview_mask
from backend.training import sft_export as exporting
from backend.data import splits as splitting
from backend.data.importers import SUPPORTED, import_dataset, import_notes
from backend.data import store
from backend.data.store import DatasetVersion
from backend.data.uploads import import_upload
from backend.recipes import RECIPES, get_recipe
from backend.recipes.base import Recipe
from backend.recipes.curating import Control, CurateFilter, RowFilter
from backend.data.importers.normalise import BadLabels
from backend.recipes.importing import OptionNeeded
from ui.common import attempt, frame_of, remembered, select_version, set_current_dataset

PAGE_SIZES = (25, 50, 100, 500)
CURATE_DONE = "data_curate_done"  # a filter's or dedup's message, shown after the rerun that selects its version
SPLIT_DONE = "data_split_done"  # the split's message, shown after the rerun that selects the new version
DATA_PICKERS = ("data_browse", "data_curate", "data_split", "data_leak", "data_export")  # the tabs' pick_version keys


BAD_LABELS = "Bad labels"  # the import option for values outside a column's choices


def import_data() -> None:
    recipe = st.selectbox("Recipe", [r for r in RECIPES if RECIPES[r].importer], **remembered("data_import_recipe"),
                          format_func=lambda r: f"{r}: {RECIPES[r].title}")
    importer = RECIPES[recipe].importer
    st.caption(SUPPORTED.get(recipe, ""))
    name = st.text_input("Dataset name", placeholder="e.g. wildguard-train", **remembered("data_import_name"))
    source = st.radio("Source", ["Upload files", "Path on the server"], horizontal=True,
                      **remembered("data_import_source"))
    uploads, paths = [], []
    if source == "Upload files":
        uploads = st.file_uploader("Files", accept_multiple_files=True, key="data_import_files",
                                   help=importer.upload_help) or []
    else:
        text = st.text_area("Paths (one per line: files or folders)", **remembered("data_import_paths"))
        paths = [line.strip() for line in text.splitlines() if line.strip()]
    on_bad_label = "error"
    choices = {c.name: c.choices for c in RECIPES[recipe].columns if c.choices}
    if choices:
        on_bad_label = st.radio(BAD_LABELS, ["error", "drop", "keep"], horizontal=True,
                                **remembered("data_import_bad_label"),
                                help="Values outside a column's choices: rows whose "
                                     + "; ".join(f"{c} is not {' / '.join(v)}" for c, v in choices.items())
                                     + ". error: stop and list them; drop: leave those rows out; keep: import them "
                                       "as they are" + (f" ({importer.bad_label_note})" if importer.bad_label_note
                                                         else ""))
    extra = {}  # the recipe's import options (e.g. the task of benchmark files); None = let the importer infer it
    for option in importer.options:
        choice = st.selectbox(option.label, [option.unset, *option.choices],
                              **remembered(f"data_import_{option.name}"), help=option.help)
        extra[option.name] = None if choice == option.unset else choice
    mapping = None
    if importer.mapping_box:
        text = st.text_input("Column mapping (recipe column=source column, comma separated)",
                             placeholder="prompt=question, response=answer, label=category",
                             **remembered("data_import_mapping"))
        mapping = dict(p.split("=", 1) for p in (s.strip() for s in text.split(",")) if "=" in p) or None
    if st.button("Import", type="primary", key="data_import_go", disabled=not name or not (uploads or paths)):
        options = dict(on_bad_label=on_bad_label, mapping=mapping, **extra)
        with st.spinner("Importing..."):
            if uploads:
                dv = attempt(_importing, import_upload, recipe, name, [(u.name, u) for u in uploads], **options)
            else:
                dv = attempt(_importing, import_dataset, recipe, name, paths, **options)
        if dv:
            set_current_dataset(dv)  # the other tabs and pages (Train, Export, ...) now offer it
            st.success(import_message(dv))
            for note in import_notes(dv.summary or {}):
                st.info(note)
            if dv.summary:
                show_summary(dv.summary)


def _importing(action, recipe: str, *args, **kwargs) -> DatasetVersion | None:
    """An import; bad labels or a missing import option that stop it say where on this form to choose (the backend
    names no CLI flag)."""
    try:
        return action(recipe, *args, **kwargs)
    except BadLabels as exc:
        st.error(exc.with_hint(f"choose drop or keep under '{BAD_LABELS}' above and import again"))
        return None
    except OptionNeeded as exc:
        option = get_recipe(recipe).importer.option(exc.option)
        st.error(exc.with_hint(f"under '{option.label}' above"))
        return None


def import_message(dv: DatasetVersion) -> str:
    """'Imported NAME@1: 24 rows, 4 dropped, 4 with bad labels (hash ...).': what was left out, too."""
    summary = dv.summary or {}
    bad = sum(sum(counts.values()) for counts in (summary.get("bad_labels") or {}).values())
    parts = [f"{dv.rows:,} rows", f"{summary.get('dropped') or 0:,} dropped"]
    if bad:
        parts.append(f"{bad:,} with bad labels")
    return f"Imported {dv.ref}: {', '.join(parts)} (hash {dv.content_hash})."


def browse(dv: DatasetVersion) -> None:
    frame = frame_of(dv)
    st.caption(f"{dv.ref} · {dv.recipe} · {dv.rows:,} rows · made by {dv.operation} "
               f"{'from ' + dv.parent if dv.parent else ''} · hash {dv.content_hash}")
    left, right = st.columns(2)
    size = left.selectbox("Rows per page", PAGE_SIZES, key="data_browse_size")
    pages = max(1, -(-len(frame) // size))
    page = right.number_input(f"Page (of {pages})", 1, pages, 1, key="data_browse_page")
    st.dataframe(frame.iloc[(page - 1) * size: page * size], width="stretch", hide_index=True)
    if dv.summary:
        with st.expander("Summary of this version"):
            show_summary(dv.summary)
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


def _control(where, curate: CurateFilter, control: Control, key: str):
    """One slider of a recipe's curate filter: over choices, a range, or numbers."""
    default = curate.default(control)
    if control.choices:
        return where.select_slider(control.label, control.choices, default, help=control.help, **remembered(key))
    step = {"step": control.step} if control.step is not None else {}
    return where.slider(control.label, control.low, control.high, default, **step, help=control.help,
                        **remembered(key))


def _control_rows(recipe: Recipe, rows: tuple[tuple[Control, ...], ...], values: dict) -> None:
    for row in rows:
        # a row of one slider spans the page; several sit side by side
        places = [st] if len(row) == 1 else st.columns(len(row))
        for where, control in zip(places, row):
            values[control.name] = _control(where, recipe.curate_filter, control,
                                            f"data_{recipe.name}_{control.name}")


def _recipe_sliders(recipe: Recipe) -> RowFilter:
    """The recipe's own curate filter, as the sliders it declares (`Recipe.curate_filter`)."""
    curate = recipe.curate_filter
    values: dict = {}
    _control_rows(recipe, curate.controls, values)
    if curate.more_controls:
        with st.expander(curate.more_title):
            _control_rows(recipe, curate.more_controls, values)
    return curate.from_controls(values)


def _generic_filters(frame: pd.DataFrame) -> list:
    filters = st.session_state.setdefault("data_filters", [])
    a, b, c, d = st.columns([2, 1, 2, 1])
    texts = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c]) or frame[c].dtype == object]
    column = a.selectbox("Column", list(frame.columns) + [f"{c}_len" for c in texts], **remembered("data_filter_column"))
    op = b.selectbox("Test", ["=", "!=", "in", ">=", "<=", "~"], **remembered("data_filter_op"),
                     help="~ means 'contains'; 'in' takes comma-separated values; COLUMN_len tests text length")
    value = c.text_input("Value", **remembered("data_filter_value"))
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
    recipe = get_recipe(dv.recipe)
    sliders = _recipe_sliders(recipe) if recipe.curate_filter else None
    filters = _generic_filters(frame) if not recipe.curate_filter else []
    mask = attempt(preview_mask, frame, dv.recipe, filters, sliders)
    if mask is None:
        return
    kept = frame[mask]
    st.metric("Rows kept", f"{len(kept):,} of {len(frame):,}")
    if recipe.curate_filter and recipe.curate_filter.charts:
        _histograms(frame, kept, list(recipe.curate_filter.charts))
    out = st.text_input("Save as dataset", value=f"{dv.dataset}-filtered", **remembered(f"data_filter_out_{dv.dataset}"))
    if st.button("Save filtered dataset", type="primary", key="data_filter_save"):
        new = attempt(filter_rows, dv.ref, filters, out, sliders=sliders)
        if new:  # every tab and page now offers the new dataset: after a rerun, since the pickers are drawn
            st.session_state[CURATE_DONE] = (f"Saved {new.ref}: {new.rows:,} rows.", None)
            set_current_dataset(new)
            st.rerun()
    st.divider()
    st.markdown("**Deduplicate** (exact match after normalising case, whitespace and Unicode)")
    if st.button("Remove duplicates", key="data_dedup"):
        result = attempt(dedup, dv.ref)
        if result:
            new, report = result
            st.session_state[CURATE_DONE] = (
                f"{new.ref}: removed {report.removed} rows in {report.groups} groups, kept {report.kept:,}.",
                report.examples)
            set_current_dataset(new)
            st.rerun()
    if CURATE_DONE in st.session_state:
        done, examples = st.session_state.pop(CURATE_DONE)
        st.success(done)
        if examples:
            st.dataframe(pd.DataFrame(examples), hide_index=True, width="stretch")


def split(dv: DatasetVersion) -> None:
    frame = frame_of(dv)
    recipe = get_recipe(dv.recipe)
    preset = st.selectbox("Preset", ["(none)"] + list(splitting.PRESETS), **remembered("data_split_preset"),
                          format_func=lambda p: p if p == "(none)" else f"{p}: {splitting.PRESETS[p]}")
    a, b, c, d = st.columns(4)
    ratios = a.text_input("Ratios", "0.8,0.1,0.1", **remembered("data_split_ratios"), disabled=preset != "(none)",
                          help="train/validation/test, or name=ratio pairs")
    columns = ["(none)"] + [col for col in frame.columns if col != splitting.SPLIT_COLUMN]
    default = columns.index(recipe.label_column) if recipe.label_column in columns else 0
    stratify = b.selectbox("Stratify by", columns, index=default, key="data_split_stratify")
    group_default = columns.index(recipe.group_column) if recipe.group_column in columns else 0
    group = c.selectbox("Group by", columns, index=group_default, key="data_split_group", disabled=preset != "(none)",
                        help="a preset sets its own groups")
    seed = d.number_input("Seed", 0, 2**31 - 1, 0, **remembered("data_split_seed"))
    if st.button("Create split", type="primary", key="data_split_go"):
        latest = store.resolve(dv.dataset).version
        new = attempt(splitting.split_dataset, dv.ref,
                      ratios=None if preset != "(none)" else attempt(splitting.parse_ratios, ratios),
                      stratify=None if stratify == "(none)" else stratify,
                      group=None if group == "(none)" or preset != "(none)" else group, seed=int(seed),
                      preset=None if preset == "(none)" else preset)
        if new:
            counts = ", ".join(f"{k} {v:,}" for k, v in new.summary["splits"].items())
            if new.version > latest:
                done = f"Created {new.ref}: {counts}"
            elif new.ref == dv.ref:
                done = f"{dv.ref} is already split this way ({counts}): nothing new was stored."
            else:
                done = f"{new.ref} already holds this split of {dv.ref} ({counts}): selected it instead of a copy."
            st.session_state[SPLIT_DONE] = done
            select_version(new, *DATA_PICKERS)  # every tab of the page moves to the new version
            st.rerun()
    if SPLIT_DONE in st.session_state:
        st.success(st.session_state.pop(SPLIT_DONE))
    if splitting.SPLIT_COLUMN in dv.columns:
        _split_preview(dv)
    else:
        st.info("This version has no splits yet.")


def _words(key: str) -> str:
    return str(key).replace("_", " ").capitalize()


def _value(value) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return str(value)


def _scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def summary_parts(summary: dict) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """A version's summary as short lines ("Splits: train 700 · test 300") and small tables (per-split class
    balance), for people; whatever does not fit either is kept as compact text, never dropped."""
    lines, tables = [], {}
    for key, value in (summary or {}).items():
        if value in (None, "", {}, []):
            continue
        if _scalar(value):
            lines.append(f"**{_words(key)}**: {_value(value)}")
        elif isinstance(value, dict) and all(_scalar(v) for v in value.values()) and len(value) <= 12:
            lines.append(f"**{_words(key)}**: " + " · ".join(f"{k} {_value(v)}" for k, v in value.items()))
        elif isinstance(value, dict) and all(isinstance(v, dict) and all(map(_scalar, v.values()))
                                             for v in value.values()):
            tables[_words(key)] = pd.DataFrame.from_dict(value, orient="index").fillna(0)
        elif isinstance(value, dict) and all(_scalar(v) for v in value.values()):
            tables[_words(key)] = pd.DataFrame({"value": value})
        elif isinstance(value, list) and all(_scalar(v) for v in value):
            lines.append(f"**{_words(key)}**: " + ", ".join(map(_value, value)))
        else:
            lines.append(f"**{_words(key)}**: `{json.dumps(value, default=str)[:300]}`")
    return lines, tables


def show_summary(summary: dict) -> None:
    lines, tables = summary_parts(summary)
    if lines:
        st.markdown("\n".join(f"- {line}" for line in lines))
    for title, table in tables.items():
        st.caption(title)
        st.dataframe(table, width="stretch")
    if not lines and not tables:
        st.caption("No summary recorded for this version.")


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


def export(dv: DatasetVersion) -> None:
    a, b, c = st.columns(3)
    fmt = a.selectbox("Format", list(exporting.FORMATS), **remembered("data_export_format"),
                      format_func=lambda f: f"{f}: {exporting.FORMATS[f]}")
    splits = ["(all rows)"] + list(dv.summary.get("splits", {}))
    which = b.selectbox("Split", splits, **remembered("data_export_split"))
    ext = c.selectbox("File type", _extensions(fmt), **remembered("data_export_ext"))
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
    encoding = x.selectbox("Tokenizer", ["o200k_base", "cl100k_base"], **remembered("data_tokens_encoding"))
    max_len = y.number_input("Max sequence length", 16, 131072, 2048, **remembered("data_tokens_max"))
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
