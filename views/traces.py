"""Traces: a teacher LLM writes reasoning for each example; the cost is known before a cent is spent."""

import pandas as pd
import streamlit as st

from backend import user_secrets
from backend.data.store import resolve
from backend.jobs import manager
from backend.jobs.status import JobStatus
from backend.preferences import last_teacher
from backend.recipes import RECIPES
from backend.traces import records, report
from backend.traces.engine import TraceRequest, launch_traces
from backend.traces.estimate import estimate_cost
from backend.traces.prices import load_table, save_table
from backend.traces.teachers import Teacher, describe_key
from backend.users import multi_user
from backend.traces.templates import build_items, list_templates, save_template, template_hash
from backend.recipes.base import TraceTemplate
from ui.common import attempt, pick_version, remembered, set_current_dataset
from ui.executor import executor_picker
from ui.jobs import TICK_SECONDS, job_controls, live_job

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

reference = st.columns([1, 2])[0].selectbox(
    "Reference price for models with no price", report.reference_models(), **remembered("traces_reference_model"),
    help="A model the price table does not know (vLLM, Ollama, llama.cpp, a local folder) costs nothing here; "
         "its tokens are also priced as this table entry, to compare ('would be $X at ...').")

setup, estimate_tab, run_tab, browse_tab, prices_tab = st.tabs(
    ["Teacher & template", "Estimate", "Run", "Browse traces", "Prices"])

with setup:
    table = load_table()
    last = attempt(last_teacher) or {}  # this user's last teacher: the defaults of a first visit in a session
    last_openai = last.get("provider", "openai") == "openai"
    left, right = st.columns(2)
    provider = left.radio("Teacher", ["openai", "local"], index=0 if last_openai else 1, horizontal=True,
                          format_func=lambda p: "OpenAI-compatible endpoint" if p == "openai" else "Local model (Transformers)",
                          **remembered("traces_provider"))
    if provider == "openai":
        known = last_openai and last.get("model") in table["models"]
        models = left.multiselect("Models (compare side by side)", list(table["models"]),
                                  default=[last["model"]] if known else [] if last_openai and last.get("model") else
                                  [m for m in ("gpt-4o", "gpt-4o-mini", "gpt-4.1-nano") if m in table["models"]],
                                  **remembered("traces_models"))
        custom = left.text_input("Other model name (vLLM / Ollama / llama.cpp)",
                                 last["model"] if last_openai and last.get("model") and not known else "",
                                 **remembered("traces_custom_model"))
        base_url = right.text_input("Base URL (empty = OpenAI)", (last.get("base_url") or "") if last_openai else "",
                                    **remembered("traces_base_url"))
        key_env = right.text_input("API key variable", "OPENAI_API_KEY", **remembered("traces_key_env"),
                                   help="the name of your saved key; on a shared server (login) only your own "
                                        "saved keys or the key the admin allowlists for this endpoint are used, "
                                        "never a server variable you name" if multi_user() else
                                        "your saved key, else the environment or .streamlit/secrets.toml")
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
        right.caption(f"Key: {attempt(describe_key, probe) or '(none)'}")  # never a character of another's key
        names = models + ([custom] if custom else [])
    else:
        local_path = left.text_input("Local model folder", "" if last_openai else last.get("model") or "",
                                     **remembered("traces_local_path"))
        names, base_url, key_env = ([local_path] if local_path else []), None, "OPENAI_API_KEY"
    a, b, c, d = st.columns(4)
    concurrency = a.number_input("Concurrent requests", 1, 512, 16, **remembered("traces_concurrency"))
    limits_help = ("Empty = auto: OpenAI's tier default (500 requests, 200,000 tokens a minute) on api.openai.com; "
                   "no client-side limit on any other endpoint, where the server's 429 and Retry-After pace the job. "
                   "0 = no limit.")
    rpm = b.number_input("Requests / minute", 0, 100_000, None, placeholder="auto", help=limits_help,
                         **remembered("traces_rpm"))
    tpm = c.number_input("Tokens / minute", 0, 100_000_000, None, step=10_000, placeholder="auto",
                         help=limits_help, **remembered("traces_tpm"))
    price_model = d.text_input("Price as", (last.get("price_model") or "") if last_openai else "",
                               **remembered("traces_price_model"), placeholder="the model's name",
                               help="A price table entry to bill every teacher as, or 'none' for nothing. Empty: "
                                    "each model is priced by its own name, whatever the URL; a model the table "
                                    "does not know (vLLM, Ollama, llama.cpp) is free.") if provider == "openai" else ""

    templates = list_templates(dv.recipe)
    names_t = [t.name for t in templates]
    chosen = st.selectbox("Template", names_t, **remembered("traces_template"),
                          format_func=lambda n: f"{n}: {next(t for t in templates if t.name == n).description}")
    template = [t for t in templates if t.name == chosen][-1]
    include_gold = st.checkbox("Give the teacher the gold label (GuardReasoner's recipe)", True,
                               **remembered("traces_gold"))
    with st.expander(f"Edit template (hash {template_hash(template)})"):
        system = st.text_area("System", template.system, height=150, key=f"traces_sys_{chosen}")
        user = st.text_area("User", template.user, height=200, key=f"traces_user_{chosen}")
        new_name = st.text_input("Save as", f"{chosen.rpartition(':')[2]}-edited", key="traces_tmpl_name")
        share = st.checkbox("Share with everyone on this server", False, key="traces_tmpl_share",
                            help="unticked, only you see it; others see a shared one as YOURNAME:NAME, and it never "
                                 "replaces their built-in or own templates")
        st.caption("Fields are written {name} (e.g. {prompt}); format specs such as {prompt:>9} are refused.")
        if st.button("Save template", key="traces_tmpl_save"):
            saved = attempt(save_template, dv.recipe, TraceTemplate(**{**template.__dict__, "name": new_name,
                                                                        "system": system, "user": user}),
                            shared=share)
            if saved:
                st.success(f"Saved {saved.name} ({template_hash(saved)})" + (", shared." if share else ", yours only."))
    a, b = st.columns(2)
    splits = ["(all rows)"] + list(dv.summary.get("splits", {}))
    split = a.selectbox("Rows", splits, **remembered("traces_split"))
    split = None if split.startswith("(") else split
    limit = b.number_input("Only the first N rows (0 = all; a pilot)", 0, 10_000_000, 0,
                           **remembered("traces_limit")) or None
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
                                   **remembered("traces_out_tokens"))
    pilot = b.text_input("…or measure them from a pilot job", placeholder="job id", **remembered("traces_pilot"))
    batch = c.toggle("Batch API (50% off, within 24 h)", **remembered("traces_batch"))
    if teachers:
        estimates = attempt(estimate_cost, dv.ref, teachers, template=chosen, include_gold=include_gold, split=split,
                            limit=limit, output_tokens=None if pilot else output_tokens, pilot_job=pilot or None,
                            batch=batch)
        if estimates:
            unpriced = any(e.price_model is None for e in estimates)

            def usd(e, batch: bool):  # a number, or "no price (local model)" (then every row is text)
                spent = report.estimate_spend(e, reference, batch=batch)
                return spent.label if not spent.priced else f"{spent.usd:.4f}" if unpriced else round(spent.usd, 4)

            frame = pd.DataFrame([{"": "cheapest" if e.cheapest and not unpriced else "", "teacher": e.teacher,
                                   "priced as": e.price_model or report.unpriced_label(e.price_source),
                                   "requests": e.requests, "input tokens": e.input_tokens,
                                   "output tokens": e.output_tokens, "USD": usd(e, False),
                                   "USD batch": usd(e, True),
                                   **({"would be": report.estimate_spend(e, reference, batch=False).would_be}
                                      if unpriced else {}),
                                   "minutes": e.minutes, "limited by": e.limited_by} for e in estimates])
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
        which = st.selectbox("Teacher to run", [t.label for t in teachers], **remembered("traces_run_teacher"))
        teacher = next(t for t in teachers if t.label == which)
        a, b, c = st.columns(3)
        budget = a.number_input("Budget cap (USD, 0 = none)", 0.0, 100_000.0, 5.0, **remembered("traces_budget"))
        max_rejects = b.number_input("Retries when the label disagrees", 0, 10, 2, **remembered("traces_rejects"))
        out = c.text_input("Output dataset", f"{dv.dataset}-traces", **remembered(f"traces_out_{dv.dataset}"))
        placement = executor_picker("traces")
        if st.button("Start trace job", type="primary", key="traces_start", disabled=placement is False):
            job = attempt(launch_traces, TraceRequest(
                dataset=dv.ref, teacher=teacher, template=chosen, include_gold=include_gold, split=split,
                limit=limit, budget_usd=budget or None, max_rejects=int(max_rejects),
                batch=bool(st.session_state.get("traces_batch")), out=out),
                estimate_usd=st.session_state.get("traces_estimates", {}).get(teacher.label), slurm_options=placement)
            if job:  # the panel and Browse traces show the new job at once (their boxes are drawn below)
                st.session_state["traces_job"] = job.id
                st.session_state["traces_job_pick"] = st.session_state["traces_browse_job"] = job.id
    trace_jobs = [j.id for j in manager.list_jobs(kind="traces")]
    if trace_jobs:
        job_id = st.selectbox("Trace job", trace_jobs, **remembered("traces_job_pick"))
        job_controls(job_id, key="traces")

        def money_and_agreement(job) -> None:  # below the job's view, ticking with it
            spent = attempt(report.job_spend, job.id, reference)
            if spent is not None and not spent.priced:
                st.caption(f"Spent: {spent.text}")
            summary = attempt(report.agreement_summary, job.id)
            if summary and summary["items"]:
                st.caption(summary["text"].capitalize())

        live_job(job_id, more=money_and_agreement)
        made = manager.get(job_id)
        if (job_id == st.session_state.get("traces_job") and made.status == JobStatus.SUCCEEDED
                and (made.result or {}).get("dataset") and st.session_state.get("traces_made") != job_id):
            st.session_state["traces_made"] = job_id  # its traced dataset is the one the other pages now offer
            set_current_dataset(attempt(resolve, made.result["dataset"]))

with browse_tab:
    trace_jobs = [j.id for j in manager.list_jobs(kind="traces")]
    if not trace_jobs:
        st.info("No trace jobs yet.")
    else:
        job_id = st.selectbox("Job", trace_jobs, **remembered("traces_browse_job"))
        running = manager.get(job_id).active

        @st.fragment(run_every=TICK_SECONDS if running else None)
        def ledger_view() -> None:  # ticks while the job runs, so its counts and money grow on screen
            led = records.ledger(job_id)
            spent = report.job_spend(job_id, reference, led=led)
            summary = report.agreement_summary(job_id, led=led)
            cols = st.columns(6)
            cols[0].metric("accepted (per item)", f"{led['accepted']:,} of {led['items']:,}",
                           help="items whose accepted trace agrees with the gold label (or has none to check)")
            for col, key in zip(cols[1:], ("rejected", "failed", "pending")):
                col.metric(key, led[key])
            cols[4].metric("agreement (per attempt)", "-" if summary["agreement_per_attempt"] is None
                           else f"{summary['agreement_per_attempt']:.0%}",
                           help="attempts whose parsed labels agree with the gold label, of all attempts with a gold "
                                "label; a disagreeing attempt is retried hotter, so this is lower than accepted items")
            estimated = manager.spec(job_id).get("estimate_usd")
            if spent.priced:
                cols[5].metric("spent (USD)", f"{led['usd']:.4f}",
                               help=f"estimated before the run: {estimated:.4f}" if estimated is not None else None)
                money = (f"estimate {'-' if estimated is None else f'{estimated:.4f}'} USD vs actual "
                         f"{led['usd']:.4f} USD")
            else:
                cols[5].metric("spent", spent.label, help=spent.would_be or None)
                money = spent.text
            st.caption(summary["text"].capitalize() + ".")
            st.caption(f"Ledger: {led['paid_requests']:,} paid requests, {led['cache_hits']:,} from cache, "
                       f"{led['input_tokens']:,} input / {led['output_tokens']:,} output tokens; {money}; "
                       f"possibly billed: {led['possibly_billed_requests']:,} timed-out requests, up to "
                       + (f"{led['possibly_billed_usd']:.4f} USD (the budget cap counts them in full)."
                          if spent.priced else f"{spent.label}."))
            if led["failed"]:
                st.warning(f"{led['failed']:,} of {led['items']:,} items failed: {led['failed_error']}")
            if running and not manager.get(job_id).active:
                st.rerun()  # it just ended: redraw the whole tab (items) and stop ticking

        ledger_view()
        spent = report.job_spend(job_id, reference)
        status = st.radio("Show", ["accepted", "rejected", "failed", "pending"], horizontal=True,
                          **remembered("traces_browse_status"))
        page = records.items_page(job_id, status=status, limit=200)
        if page:
            item_id = st.selectbox("Item", [i["item_id"] for i in page], key="traces_browse_item")
            for a in report.attempts_with_verdicts(job_id, item_id):
                verdict = {report.AGREES: ":material/check_circle: agrees",
                           report.DISAGREES: ":material/cancel: disagrees",
                           report.UNPARSEABLE: ":material/help: unparseable (labels not found in the reply)",
                           None: "—"}[a["verdict"]]
                paid = "from cache" if a["cached"] else f"{a['usd']:.5f} USD" if spent.priced else spent.label
                with st.expander(f"Attempt {a['attempt']} · temperature {a['temperature']} · {verdict} · {paid}",
                                 expanded=True):
                    st.code(a["text"] or "(empty reply)", language=None, wrap_lines=True)  # text, not Markdown
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
