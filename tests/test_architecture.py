"""The shape of the code: recipes are the only place that knows a workflow, and packages import only downward.

Both tests read the source (ast), so they hold for code no other test reaches.
"""
from __future__ import annotations

import ast
from pathlib import Path

from backend.recipes import RECIPES

ROOT = Path(__file__).resolve().parents[1]

# backend's packages and top-level modules, lowest first. A module may import its own package or a lower layer.
LAYERS = [
    {"errors", "config", "validation", "storage", "users", "keys", "user_secrets", "preferences", "formats",
     "metrics", "allocation"},
    {"jobs"},
    {"recipes"},
    {"data"},
    {"retrieval"},
    {"traces"},
    {"training"},
    {"evaluation"},
    {"playground", "models"},
    {"lineage", "home", "commands", "cli", "__main__", "__init__"},
]
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# The registry is the one module outside a recipe's folder that may name the recipes (it finds them).
REGISTRY = ROOT / "backend" / "recipes" / "__init__.py"


def _sources(*folders: str):
    for folder in folders:
        base = ROOT / folder
        files = [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))
        for path in files:
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _unit(path: Path) -> str:
    """backend/data/store.py -> data; backend/cli.py -> cli."""
    parts = path.relative_to(ROOT / "backend").parts
    return parts[0] if len(parts) > 1 else Path(parts[0]).stem


def _imported_units(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "backend" else [f"backend.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "backend" and len(parts) > 1:
                yield node.lineno, parts[1]


def test_every_backend_package_has_a_layer():
    units = {_unit(path) for path, _ in _sources("backend")}
    assert units <= set(LAYER_OF), f"place these in LAYERS: {sorted(units - set(LAYER_OF))}"


def test_no_module_imports_a_higher_layer():
    upward = []
    for path, tree in _sources("backend"):
        unit = _unit(path)
        for line, target in _imported_units(tree):
            if target in LAYER_OF and LAYER_OF[target] > LAYER_OF[unit]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports backend.{target}")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _is_command_word(node: ast.Constant, parents: dict) -> bool:
    """A CLI command or group name (`add_parser("raft")`, the CLI's GROUPS) is the command's word, not a branch
    on a recipe."""
    parent = parents.get(node)
    if isinstance(parent, ast.Call):
        return (bool(parent.args) and parent.args[0] is node and isinstance(parent.func, ast.Attribute)
                and parent.func.attr == "add_parser")
    assign = parents.get(parent)
    return (isinstance(parent, ast.Tuple) and isinstance(assign, ast.Assign)
            and [getattr(t, "id", None) for t in assign.targets] == ["GROUPS"])


def test_only_recipes_name_a_recipe():
    names = set(RECIPES)
    found = []
    for path, tree in _sources("backend", "views", "ui", "app.py"):
        if (ROOT / "backend" / "recipes") in path.parents and (path.parent != ROOT / "backend" / "recipes"
                                                                or path == REGISTRY):
            continue  # inside a recipe's folder, or the registry
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and not _is_command_word(node, parents):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, "recipe names outside backend/recipes/:\n" + "\n".join(found)


def test_the_checks_see_a_violation(tmp_path):
    """The walkers above find what they look for (a check that can never fail proves nothing)."""
    tree = ast.parse("from backend.cli import main\nif recipe == 'raft':\n    pass\n")
    assert [t for _, t in _imported_units(tree)] == ["cli"]
    assert any(isinstance(n, ast.Constant) and n.value == "raft" for n in ast.walk(tree))


def test_a_new_folder_is_a_new_workflow_everywhere(tmp_path):
    """Adding a workflow = adding one folder: a copy of `generic` under another name imports, exports and scores
    through the CLI with no other file touched."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "lab"
    shutil.copytree(ROOT / "backend", copy / "backend", ignore=shutil.ignore_patterns("__pycache__"))
    toy = copy / "backend" / "recipes" / "toy"
    shutil.copytree(copy / "backend" / "recipes" / "generic", toy)
    init = toy / "__init__.py"
    init.write_text(init.read_text().replace('name="generic"', 'name="toy"')
                    .replace("backend.recipes.generic.", "backend.recipes.toy."))
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"id": str(i), "prompt": f"question {i}", "response": f"answer {i}",
                                        "label": "yes" if i % 2 else "no"}) + "\n" for i in range(6)))
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps({"label": "yes", "predict": p}) + "\n" for p in ("yes", "no", "yes")))
    env = {**os.environ, "FTLAB_STATE": str(tmp_path / "state"), "FTLAB_USER": "tester"}

    def cli(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "backend", *args, "--json"], cwd=copy, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    imported = cli("data", "import", "--recipe", "toy", "--name", "toy-data", str(rows))
    assert imported["rows"] == 6
    assert cli("data", "list")["datasets"][0]["recipe"] == "toy"
    exported = cli("data", "export", "toy-data", "--format", "messages-jsonl", "--out", str(tmp_path / "sft.jsonl"))
    first = json.loads((tmp_path / "sft.jsonl").read_text().splitlines()[0])
    assert exported["rows"] == 6 and first["messages"][-1]["content"] == "answer 0"
    scored = cli("eval", "predictions", str(predictions), "--recipe", "toy")
    assert scored["accuracy"] == 2 / 3


def test_every_backend_name_used_exists():
    """`from backend.x import name` and `module.name` on an imported backend module point at something that
    exists: a moved or renamed definition breaks here, not in the one code path a user meets first."""
    import importlib

    missing = []
    for path, tree in _sources("backend", "views", "ui", "app.py", "benchmarks", "tests"):
        aliases: dict[str, str] = {}  # local name -> backend module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("backend"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    if hasattr(module, alias.name):
                        value = getattr(module, alias.name)
                        if type(value).__name__ == "module":
                            aliases[alias.asname or alias.name] = value.__name__
                        continue
                    try:
                        aliases[alias.asname or alias.name] = importlib.import_module(f"{node.module}.{alias.name}").__name__
                    except ModuleNotFoundError:
                        missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("backend.") and alias.asname:
                        aliases[alias.asname] = importlib.import_module(alias.name).__name__
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and isinstance(node.ctx, ast.Load)):
                module = importlib.import_module(aliases[node.value.id])
                if not hasattr(module, node.attr):
                    try:
                        importlib.import_module(f"{module.__name__}.{node.attr}")
                    except ModuleNotFoundError:
                        missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {module.__name__}.{node.attr}")
    assert not missing, "names that do not exist:\n" + "\n".join(missing)
