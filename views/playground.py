"""Playground: talk to what you trained, side by side with another model, on your own data."""
import streamlit as st

from backend.errors import LabError
from backend.playground.chat import parse_reply, recipe_prompt, stream_reply
from backend.playground.models import ModelBusy, available_models, resolve_choice
from ui.common import attempt, pick_version

st.title(":material/chat: Playground")
choices = attempt(available_models) or []
labels = [c.label for c in choices]
a, b = st.columns(2)
first = a.selectbox("Model A", labels, key="playground_a") if labels else None
custom = a.text_input("…or a model reference", key="playground_custom",
                      placeholder="JOB_ID:checkpoint-20, a local folder, teacher:gpt-4o-mini@http://...")
compare = b.toggle("Compare with a second model (A/B)", key="playground_ab")
second = b.selectbox("Model B", labels, key="playground_b") if compare and labels else None
if not labels and not custom:
    st.info("No models yet: train one on the Train page, or give a local folder or a teacher above.")
    st.stop()


def choice_of(label: str | None):
    if custom and label == first:
        return resolve_choice(custom)
    return next((c for c in choices if c.label == label), None) if label else None


with st.expander("Generation settings and recipe prompt", expanded=False):
    c1, c2, c3 = st.columns(3)
    temperature = c1.slider("Temperature", 0.0, 2.0, 0.7, 0.05, key="playground_temperature")
    top_p = c2.slider("Top-p", 0.05, 1.0, 0.95, 0.05, key="playground_top_p")
    max_new = c3.number_input("Max new tokens", 1, 8192, 256, key="playground_max_new")
    system = st.text_area("System prompt (optional)", key="playground_system")
    use_row = st.checkbox("Start from a dataset row (the recipe's prompt is applied)", key="playground_use_row")
    gold = None
    if use_row:
        dv = pick_version("playground")
        if dv:
            index = st.number_input("Row", 0, max(0, dv.rows - 1), 0, key="playground_row")
            prompt = attempt(recipe_prompt, dv.ref, int(index))
            if prompt:
                gold = prompt["gold"]
                st.session_state["playground_recipe"] = dv.recipe
                if st.session_state.get("playground_row_loaded") != (dv.ref, int(index)):
                    st.session_state["playground_row_loaded"] = (dv.ref, int(index))
                    st.session_state["playground_history"] = list(prompt["messages"])
                st.caption(f"Gold label: {gold}")
                if st.button("Send this row's prompt", key="playground_send"):
                    st.session_state["playground_send_row"] = True

history = st.session_state.setdefault("playground_history", [])
for message in history:
    with st.chat_message(message["role"]):
        st.text(message["content"])

text = st.chat_input("Message", key="playground_input")
if st.session_state.pop("playground_send_row", False) or text:
    if text:
        history.append({"role": "user", "content": text})
        with st.chat_message("user"):
            st.text(text)
    settings = {"max_new_tokens": int(max_new), "temperature": temperature, "top_p": top_p, "system": system or None}
    targets = [attempt(choice_of, first)] + ([attempt(choice_of, second)] if compare and second else [])
    columns = st.columns(len(targets))
    for column, choice in zip(columns, targets):
        if choice is None:  # the reference could not be resolved: attempt() showed why
            continue
        label = choice.label  # what is called: the reference typed for A wins over the box's value
        with column:
            st.caption(label)
            try:
                with st.spinner(f"Loading {label} (once; it stays loaded for everyone)..."):
                    stream = stream_reply(choice, history, **settings)
                with st.chat_message("assistant"):
                    reply = st.write_stream(stream)
            except ModelBusy as busy:
                st.warning(f"{busy} — it will load when the GPU is free; send again in a moment.")
                continue
            except LabError as exc:
                st.error(str(exc))
                continue
            recipe = st.session_state.get("playground_recipe")
            if recipe:
                st.caption(f"Parsed: {parse_reply(recipe, reply)}" + (f" · gold: {gold}" if gold else ""))
            if len(targets) == 1:
                history.append({"role": "assistant", "content": reply})
if history and st.button("Clear conversation", key="playground_clear"):
    st.session_state["playground_history"] = []
    st.rerun()
