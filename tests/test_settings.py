"""Settings in one place: every FTLAB_* variable is read in backend/config.py and listed in README.md's table;
the Train form and the Slurm options are drawn from their dataclasses' fields, so a new field cannot be missed.
"""
from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

from backend import config
from backend.jobs.slurm import SlurmOptions
from backend.training.spec import TrainSpec

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\bFTLAB_[A-Z][A-Z0-9_]*")
SOURCES = ("backend", "ui", "views", "app.py")


def _python_files():
    for folder in SOURCES:
        base = ROOT / folder
        yield from [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))


def _readme_table() -> dict[str, str]:
    """README's Settings table: variable -> default."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(FTLAB_\w+)` \| (.*?) \|", section, re.M)
    return dict(rows)


def test_every_ftlab_name_in_the_code_is_in_the_registry_and_the_readme_table():
    in_code = {name for path in _python_files() for name in NAME.findall(path.read_text(encoding="utf-8"))}
    assert in_code == set(config.SETTINGS)
    table = _readme_table()
    assert set(table) == set(config.SETTINGS)
    assert table == {s.name: s.default for s in config.SETTINGS.values()}  # the defaults README shows are config's


def _ftlab_constants(tree: ast.Module) -> set[str]:
    """Names a module binds to an FTLAB_* string (MARKER = "FTLAB_..."), or to one of config's (config.X)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _names_setting(node.value, set()):
            out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def _names_setting(node: ast.AST, constants: set[str]) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(NAME.match(node.value))
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "config":
        return node.attr.isupper()
    return False


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def _environ_reads(tree: ast.Module):
    """Every place that reads an FTLAB_* variable: environ.get(X), getenv(X), environ[X] (read), X in environ."""
    constants = _ftlab_constants(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and _names_setting(node.args[0], constants):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called == "getenv" or (called in ("get", "pop") and _is_environ(func.value)):
                yield node.lineno
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value)
              and _names_setting(node.slice, constants)):
            yield node.lineno
        elif (isinstance(node, ast.Compare) and _names_setting(node.left, constants)
              and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)
              and any(_is_environ(c) for c in node.comparators)):
            yield node.lineno


def test_only_config_reads_ftlab_variables_from_the_environment():
    found = []
    for path in _python_files():
        if path == ROOT / "backend" / "config.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [f"{path.relative_to(ROOT)}:{line}" for line in _environ_reads(tree)]
    assert found == []


def test_the_scan_finds_each_way_of_reading_a_variable():
    source = ('import os\nMARKER = "FTLAB_X"\na = os.environ.get("FTLAB_A")\nb = os.getenv("FTLAB_B")\n'
              'c = os.environ["FTLAB_C"]\nd = MARKER in os.environ\ne = os.environ.get(config.STATE)\n'
              'os.environ["FTLAB_W"] = "1"\nf = os.environ.get("HOME")\n')
    assert list(_environ_reads(ast.parse(source))) == [3, 4, 5, 6, 7]


def test_settings_are_read_when_used(monkeypatch):
    monkeypatch.setenv("FTLAB_MAX_UPLOAD_MB", "5")
    monkeypatch.setenv("FTLAB_SLOTS", "api=4")
    monkeypatch.setenv("FTLAB_ADMINS", " alice, ,bob ")
    assert config.max_upload_mb() == 5 and config.slots() == {**config.DEFAULT_SLOTS, "api": 4}
    assert config.admins() == {"alice", "bob"}
    monkeypatch.setenv("FTLAB_MAX_UPLOAD_MB", "lots")
    monkeypatch.delenv("FTLAB_SLOTS")
    assert config.max_upload_mb() == config.DEFAULT_MAX_UPLOAD_MB and config.slots() == config.DEFAULT_SLOTS


def _widgets(at) -> dict[str, str]:
    """key -> label of every input widget on the page."""
    kinds = (at.number_input, at.selectbox, at.checkbox, at.text_input)
    return {w.key: w.label for kind in kinds for w in kind}


def test_every_train_spec_field_is_in_the_train_form_or_marked_hidden(state, monkeypatch):
    from backend.data.demo import create_demo_datasets
    from tests.support import open_page
    from ui.field_form import widget_key

    monkeypatch.setenv("FTLAB_GPUS", "")
    create_demo_datasets()
    shown = _widgets(open_page("views/train.py"))
    for f in fields(TrainSpec):
        if f.metadata.get("hidden"):
            assert widget_key(f, "train_tiny") not in shown
        else:
            assert shown.get(widget_key(f, "train_tiny")) == f.name, f"TrainSpec.{f.name} is not in the Train form"
            assert f.metadata.get("group"), f"TrainSpec.{f.name}: name its form section (metadata 'group')"


def _picker_page():
    import streamlit as st

    from ui.executor import executor_picker

    st.session_state["picked"] = executor_picker("t")


def test_every_slurm_option_is_in_the_form_or_marked_hidden_with_the_dataclass_defaults(monkeypatch):
    from streamlit.testing.v1 import AppTest

    import ui.executor

    monkeypatch.setattr(ui.executor, "_slurm_here", lambda: True)
    at = AppTest.from_function(_picker_page)
    at.run()
    at.radio(key="t_executor").set_value("Slurm cluster").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = _widgets(at)
    assert shown == {"t_partition": "Partition (empty = default)", "t_slurm_gpus": "GPUs", "t_cpus": "CPUs",
                     "t_mem": "Memory", "t_time": "Time limit"}
    assert {f.name for f in fields(SlurmOptions) if f.metadata.get("hidden")} == {"account", "qos", "extra"}
    assert at.session_state["picked"] == SlurmOptions(gpus=1)  # the dataclass's defaults; GPUs start at 1
    at.text_input(key="t_mem").input("2G").run()
    at.text_input(key="t_partition").input("gpu").run()
    assert at.session_state["picked"] == SlurmOptions(partition="gpu", gpus=1, mem="2G")
