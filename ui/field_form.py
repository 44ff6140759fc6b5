"""Form widgets drawn from a dataclass's fields: what a field needs to know about its widget lives in its metadata.

The keys a field's `metadata` may carry (all optional):
- "help": the tooltip; "label": the widget's label (default: the field's name);
- "group": the form section it belongs to (forms with sections: ui/train_form.py);
- "hidden": True: not in the form (the page sets it another way, or only the CLI and spec files do);
- "key": the widget key's suffix (default: the field's name);
- "form_default": the value the form starts from when the field's own default cannot be shown (None);
- "choices": a select box of these; "valid": its Range (backend/validation.py) bounds a number input.
Otherwise the widget follows the value's type: a checkbox, a number input, a comma-separated text for a list,
a text input (empty = None for a field whose default is None).
"""
from __future__ import annotations

from dataclasses import Field, fields
from typing import Any

from backend.validation import Range


def form_fields(cls) -> list[Field]:
    """The fields of dataclass `cls` that the form shows, in declaration order."""
    return [f for f in fields(cls) if not f.metadata.get("hidden")]


def widget_key(f: Field, key: str) -> str:
    return f"{key}_{f.metadata.get('key', f.name)}"


def start_value(f: Field, base: Any) -> Any:
    """What the widget starts from: the field's value in `base`, or its "form_default" when that is None."""
    value = getattr(base, f.name)
    return f.metadata.get("form_default", value) if value is None else value


def _bounds(f: Field, kind: type) -> dict:
    rule = f.metadata.get("valid")
    if not isinstance(rule, Range):
        return {}
    return {name: kind(bound) for name, bound in (("min_value", rule.low), ("max_value", rule.high))
            if bound is not None}


def field_widget(container, f: Field, value: Any, **widget_args) -> Any:
    """One field's widget in `container` (st or a column), starting from `value`; returns the value it holds.
    `widget_args` go to the widget as they are: its key (`key=...`, or ui.common.remembered(...))."""
    label, help_text, choices = f.metadata.get("label", f.name), f.metadata.get("help"), f.metadata.get("choices")
    if choices:
        return container.selectbox(label, choices, index=list(choices).index(value), help=help_text, **widget_args)
    if isinstance(value, bool):
        return container.checkbox(label, value, help=help_text, **widget_args)
    if isinstance(value, int):
        return int(container.number_input(label, value=value, step=1, help=help_text, **_bounds(f, int),
                                          **widget_args))
    if isinstance(value, float):
        return float(container.number_input(label, value=value, format="%g", help=help_text,
                                            **_bounds(f, float), **widget_args))
    if isinstance(value, list):
        text = container.text_input(label, ",".join(value), help=help_text, **widget_args)
        return [m.strip() for m in text.split(",") if m.strip()]
    text = container.text_input(label, "" if value is None else value, help=help_text, **widget_args)
    return (text or None) if f.default is None else text
