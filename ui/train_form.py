"""The training form: one widget per TrainSpec field, with its help text, grouped like the spec."""
from __future__ import annotations

from dataclasses import fields

import streamlit as st

from backend.training.spec import TrainSpec
from ui.common import remembered

GROUPS = {
    "Model": ("base_model", "method", "engine", "precision", "gpus"),
    "LoRA": ("lora_r", "lora_alpha", "lora_dropout", "target_modules"),
    "Optimisation": ("learning_rate", "lr_scheduler", "warmup_ratio", "weight_decay", "epochs", "max_steps",
                     "batch_size", "grad_accum", "optimizer", "gradient_checkpointing", "seed"),
    "Data": ("max_seq_length", "packing", "assistant_only_loss", "train_split", "eval_split"),
    "Checkpoints and outputs": ("eval_steps", "save_steps", "logging_steps", "merge", "modelfile"),
    "Tiny model": ("tiny_hidden_size", "tiny_layers"),
}


def _widget(container, f, value, key: str):
    """One field's widget; its value stays for the session, across pages (ui.common.remembered)."""
    help_text = f.metadata.get("help")
    choices = f.metadata.get("choices")
    kept = remembered(key)
    if choices:
        return container.selectbox(f.name, choices, index=list(choices).index(value), help=help_text, **kept)
    if isinstance(value, bool):
        return container.checkbox(f.name, value, help=help_text, **kept)
    if isinstance(value, int):
        return int(container.number_input(f.name, value=value, step=1, help=help_text, **kept))
    if isinstance(value, float):
        return float(container.number_input(f.name, value=value, format="%g", help=help_text, **kept))
    if isinstance(value, list):
        text = container.text_input(f.name, ",".join(value), help=help_text, **kept)
        return [m.strip() for m in text.split(",") if m.strip()]
    return container.text_input(f.name, value, help=help_text, **kept)


def spec_form(base: TrainSpec, key: str) -> dict:
    """Widgets prefilled from `base`; returns the chosen values (validated by TrainSpec by the caller)."""
    by_name = {f.name: f for f in fields(TrainSpec)}
    values = {}
    for group, names in GROUPS.items():
        with st.expander(group, expanded=group in ("Model", "Optimisation")):
            cols = st.columns(3)
            for i, name in enumerate(names):
                values[name] = _widget(cols[i % 3], by_name[name], getattr(base, name), f"{key}_{name}")
    return values
