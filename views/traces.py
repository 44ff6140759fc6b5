"""Traces: a teacher LLM writes reasoning for each example; the cost is known before a cent is spent."""

import pandas as pd
import streamlit as st

from backend import user_secrets
from backend.jobs import manager
from backend.recipes import RECIPES
from backend.traces import records
from backend.traces.engine import TraceRequest, launch_traces
from backend.traces.estimate import estimate_cost
from backend.traces.prices import load_table, save_table
from backend.traces.teachers import Teacher, mask_key, resolve_api_key
from backend.traces.templates import build_items, list_templates, save_template, template_hash
from backend.recipes.base import TraceTemplate
from ui.common import attempt, pick_version
from ui.executor import executor_picker
from ui.jobs import job_controls, live_job

st.title(":material/psychology: Traces")
st.caption("Teacher-written reasoning per example (R-SFT, RAFT chain-of-thought, OrgAccess rationales).")

recipes_with_templates = [name for name, r in RECIPES.items() if r.templates]
dv = pick_version("traces", recipe=None)
if dv is None:
    st.stop()
if dv.recipe not in recipes_with_templates:
    st.info(f"The {dv.recipe} recipe needs no teacher: its rows already hold the targets. "
            f"Traces apply to {', '.join(recipes_with_templates)} datasets.")
    st.stop()

setup, estimate_tab, run_tab, browse_tab, prices_tab = st.tabs(
    ["Teacher & template", "Estimate", "Run", "Browse traces", "Prices"])

with setup:
    table = load_table()
    left, right = st.columns(2)
    provider = left.radio("Teacher", ["openai", "local"], horizontal=True, key="traces_provider",
                          format_func=lambda p: "OpenAI-compatible endpoint" if p == "openai" else "Local model (Transformers)")
    if provider == "openai":
        models = left.multiselect("Models (compare side by side)", list(table["models"]),
                                  default=["gpt-4o", "gpt-4o-mini", "gpt-4.1-nano"], key="traces_models")
        custom = left.text_input("Other model name (vLLM / Ollama / llama.cpp)", key="traces_custom_model")
        base_url = right.text_input("Base URL (empty = OpenAI)", key="traces_base_url")
        key_env = right.text_input("API key variable", "OPENAI_API_KEY", key="traces_key_env",
                                   help="your saved key, else the environment or .streamlit/secrets.toml")
        with right.expander("Your API keys (only you can use them)"):
            new_key = st.text_input(f"Save a key as {key_env}", type="password", key="traces_new_key",
                                    help="kept in your own key store under the state dir: never in the DB, a spec, "
                                         "a log or an artifact, and no other user's jobs can read it")
            if st.button("Save key", key="traces_save_key", disabled=not new_key):
                if attempt(user_secrets.save_secret, key_env, new_key) is None:
                    st.success(f"Saved as {key_env}.")
            for name in user_secrets.secret_names():
                if st.button(f"Forget {name}", key=f"traces_forget_{name}"):
                    user_secrets.delete_secret(name)
                    st.rerun()
        probe = Teacher(model="probe", base_url=base_url or None, api_key_env=key_env)
        right.caption(f"Key: {mask_key(resolve_api_key(probe))}")
        names = models + ([custom] if custom else [])
    else:
        local_path = left.text_input("Local model folder", key="traces_local_path")
        names, base_url, key_env = ([local_path] if local_path else []), None, "OPENAI_API_KEY"
    a, b, c, d = st.columns(4)
    concurrency = a.number_input("Concurrent requests", 1, 512, 16, key="traces_concurrency")
    limits_help = ("Empty = auto: OpenAI's tier default (500 requests, 200,000 tokens a minute) on api.openai.com; "
                   "no client-side limit on any other endpoint, where the server's 429 and Retry-After pace the job. "
                   "0 = no limit.")
    rpm = b.number_input("Requests / minute", 0, 100_000, None, key="traces_rpm", placeholder="auto", help=limits_help)
    tpm = c.number_input("Tokens / minute", 0, 100_000_000, None, step=10_000, key="traces_tpm", placeholder="auto",
                         help=limits_help)
    price_model = d.text_input("Price as", key="traces_price_model", placeholder="the model's name",
                               help="A price table entry to bill every teacher as, or 'none' for nothing. Empty: "
                                    "each model is priced by its own name, whatever the URL; a model the table "
                                    "does not know (vLLM, Ollama, llama.cpp) is free.") if provider == "openai" else ""

    templates = list_templates(dv.recipe)
    names_t = [t.name for t in templates]
    chosen = st.selectbox("Template", names_t, key="traces_template",
                          format_func=lambda n: f"{n}: {next(t for t in templates if t.name == n).description}")
    template = [t for t in templates if t.name == chosen][-1]
    include_gold = st.checkbox("Give the teacher the gold label (GuardReasoner's recipe)", True, key="traces_gold")
    with st.expander(f"Edit template (hash {template_hash(template)})"):
        system = st.text_area("System", template.system, height=150, key=f"traces_sys_{chosen}")
        user = st.text_area("User", template.user, height=200, key=f"traces_user_{chosen}")
        new_name = st.text_input("Save as", f"{chosen}-edited", key="traces_tmpl_name")
        if st.button("Save template", key="traces_tmpl_save"):
            saved = attempt(save_template, dv.recipe, TraceTemplate(**{**template.__dict__, "name": new_name,
                                                                        "system": system, "user": user}))
            if saved:
                st.success(f"Saved {saved.name} ({template_hash(saved)}).")
    a, b = st.columns(2)
    splits = ["(all rows)"] + list(dv.summary.get("splits", {}))
    split = a.selectbox("Rows", splits, key="traces_split")
    split = None if split.startswith("(") else split
    limit = b.number_input("Only the first N rows (0 = all; a pilot)", 0, 10_000_000, 0, key="traces_limit") or None
    st.markdown("**Preview on real rows**")
    items = attempt(build_items, dv.ref, template, include_gold=include_gold, split=split, limit=2) or []
    for item in items[:2]:
        with st.expander(f"Request for {item.item_id} · gold {item.gold}"):
            for m in item.messages:
                st.markdown(f"*{m['role']}*")
                st.text(m["content"])

teachers = [attempt(Teacher, model=n, base_url=base_url or None, provider=provider, api_key_env=key_env,
                    price_model=price_model.strip() or None, concurrency=int(concurrency),
                    rpm=None if rpm is None else int(rpm), tpm=None if tpm is None else int(tpm)) for n in names]
teachers = [t for t in teachers if t]

with estimate_tab:
    a, b, c = st.columns(3)
    output_tokens = a.number_input("Expected output tokens per request", 1, 32_000, template.expected_output_tokens,
                                   key="traces_out_tokens")
    pilot = b.text_input("…or measure them from a pilot job", key="traces_pilot", placeholder="job id")
    batch = c.toggle("Batch API (50% off, within 24 h)", key="traces_batch")
    if teachers:
        estimates = attempt(estimate_cost, dv.ref, teachers, template=chosen, include_gold=include_gold, split=split,
                            limit=limit, output_tokens=None if pilot else output_tokens, pilot_job=pilot or None,
                            batch=batch)
        if estimates:
            frame = pd.DataFrame([{"": "cheapest" if e.cheapest else "", "teacher": e.teacher,
                                   "priced as": e.price_model or "no price (free)",
                                   "requests": e.requests, "input tokens": e.input_tokens,
                                   "output tokens": e.output_tokens, "USD": round(e.usd_online, 4),
                                   "USD batch": round(e.usd_batch, 4), "minutes": e.minutes,
                                   "limited by": e.limited_by} for e in estimates])
            st.dataframe(frame, hide_index=True, width="stretch")
            st.caption(f"Prices as of {estimates[0].prices_as_of}; input tokens counted exactly "
                       f"({estimates[0].encoding}, OpenAI's chat framing); output: {estimates[0].output_tokens_source}.")
            for e in estimates:
                limits = ", ".join(f"{v:,} {n}" for n, v in (("requests", e.rpm), ("tokens", e.tpm)) if v)
                st.caption(f"{e.teacher}: price {e.price}; "
                           + (f"client-side limit {limits} a minute." if limits else
                              "no client-side rate limit (the server's 429s pace the job)."))
            st.session_state["traces_estimates"] = {e.teacher: e.usd for e in estimates}
    else:
        st.info("Choose at least one teacher on the first tab.")

with run_tab:
    if not teachers:
        st.info("Choose a teacher first.")
    else:
        which = st.selectbox("Teacher to run", [t.label for t in teachers], key="traces_run_teacher")
        teacher = next(t for t in teachers if t.label == which)
        a, b, c = st.columns(3)
        budget = a.number_input("Budget cap (USD, 0 = none)", 0.0, 100_000.0, 5.0, key="traces_budget")
        max_rejects = b.number_input("Retries when the label disagrees", 0, 10, 2, key="traces_rejects")
        out = c.text_input("Output dataset", f"{dv.dataset}-traces", key=f"traces_out_{dv.dataset}")
        placement = executor_picker("traces")
        if st.button("Start trace job", type="primary", key="traces_start", disabled=placement is False):
            job = attempt(launch_traces, TraceRequest(
                dataset=dv.ref, teacher=teacher, template=chosen, include_gold=include_gold, split=split,
                limit=limit, budget_usd=budget or None, max_rejects=int(max_rejects),
                batch=bool(st.session_state.get("traces_batch")), out=out),
                estimate_usd=st.session_state.get("traces_estimates", {}).get(teacher.label), slurm_options=placement)
            if job:
                st.session_state["traces_job"] = job.id
    trace_jobs = [j.id for j in manager.list_jobs(kind="traces")]
    if trace_jobs:
        current = st.session_state.get("traces_job")
        job_id = st.selectbox("Trace job", trace_jobs,
                              index=trace_jobs.index(current) if current in trace_jobs else 0, key="traces_job_pick")
        job_controls(job_id, key="traces")
        live_job(job_id)

with browse_tab:
    trace_jobs = [j.id for j in manager.list_jobs(kind="traces")]
    if not trace_jobs:
        st.info("No trace jobs yet.")
    else:
        job_id = st.selectbox("Job", trace_jobs, key="traces_browse_job")
        led = records.ledger(job_id)
        cols = st.columns(6)
        for col, key in zip(cols, ("accepted", "rejected", "failed", "pending")):
            col.metric(key, led[key])
        cols[4].metric("agreement", "-" if led["agreement_rate"] is None else f"{led['agreement_rate']:.0%}")
        estimated = manager.spec(job_id).get("estimate_usd")
        cols[5].metric("spent (USD)", f"{led['usd']:.4f}",
                       help=f"estimated before the run: {estimated:.4f}" if estimated is not None else None)
        st.caption(f"Ledger: {led['paid_requests']:,} paid requests, {led['cache_hits']:,} from cache, "
                   f"{led['input_tokens']:,} input / {led['output_tokens']:,} output tokens; "
                   f"estimate {'-' if estimated is None else f'{estimated:.4f}'} USD vs actual {led['usd']:.4f} USD; "
                   f"possibly billed: {led['possibly_billed_requests']:,} timed-out requests, up to "
                   f"{led['possibly_billed_usd']:.4f} USD (the budget cap counts them in full).")
        if led["failed"]:
            st.warning(f"{led['failed']:,} of {led['items']:,} items failed: {led['failed_error']}")
        status = st.radio("Show", ["accepted", "rejected", "failed", "pending"], horizontal=True, key="traces_browse_status")
        page = records.items_page(job_id, status=status, limit=200)
        if page:
            item_id = st.selectbox("Item", [i["item_id"] for i in page], key="traces_browse_item")
            for a in records.attempts_of(job_id, item_id):
                verdict = {1: ":material/check_circle: agrees", 0: ":material/cancel: disagrees", None: "—"}[a["agrees"]]
                paid = "from cache" if a["cached"] else f"{a['usd']:.5f} USD"
                with st.expander(f"Attempt {a['attempt']} · temperature {a['temperature']} · {verdict} · {paid}",
                                 expanded=True):
                    st.markdown(a["text"] or "")
                    st.caption(f"parsed: {a['labels']} · gold: {next(i['gold'] for i in page if i['item_id'] == item_id)}")
        else:
            st.write("None.")

with prices_tab:
    table = load_table()
    st.caption(f"USD per 1M tokens, as of {table['as_of']}. {table.get('source', '')}")
    frame = pd.DataFrame([{"model": m, **p} for m, p in table["models"].items()])
    edited = st.data_editor(frame, num_rows="dynamic", hide_index=True, key="traces_prices_editor")
    as_of = st.text_input("Prices read on (date)", table["as_of"], key="traces_prices_date")
    if st.button("Save prices", key="traces_prices_save"):
        models = {r["model"]: {k: (None if pd.isna(v) else v) for k, v in r.items() if k != "model"}
                  for r in edited.to_dict(orient="records") if r.get("model")}
        if attempt(save_table, {**table, "as_of": as_of, "models": models}):
            st.success("Saved.")
