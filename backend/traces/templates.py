"""Teacher prompts: built-in per recipe, edited copies saved by their owner (private, or shared with everyone),
and the expansion of dataset rows into the requests ("items") a trace job sends.

A template is text with plain {name} fields only (no format specs, conversions, indexes or attributes), checked
when it is saved and again when it is rendered, and a rendered request is capped at MAX_RENDERED_CHARS."""
from __future__ import annotations

import functools
import hashlib
import json
import re
import string
from dataclasses import asdict, dataclass, replace

import pandas as pd

from backend.config import state_dir
from backend.data import examples
from backend.data.store import DatasetVersion, resolve
from backend.errors import DataError, LabError
from backend.recipes import get_recipe
from backend.recipes.base import TraceTemplate, loads_json
from backend.storage.db import connect, now_iso, transaction
from backend.users import current_user

_SAFE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_TEMPLATE_CHARS = 200_000  # the text of one template part
MAX_RENDERED_CHARS = 2_000_000  # one rendered request: a RAFT context of many documents fits, 400 MB does not
LEGACY = "legacy"  # the owner shown for templates saved before templates had owners (state/templates/)


def template_hash(t: TraceTemplate) -> str:
    payload = json.dumps({k: v for k, v in asdict(t).items() if k not in ("name", "description")}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def template_to_json(t: TraceTemplate) -> dict:
    return {**asdict(t), "hash": template_hash(t)}


def template_from_json(data: dict) -> TraceTemplate:
    fields = {k: v for k, v in data.items() if k in TraceTemplate.__dataclass_fields__}
    for key in ("label_keys", "per_values"):
        fields[key] = tuple(fields.get(key) or ())
    return TraceTemplate(**fields)


# -- what a template may contain ------------------------------------------------------------------------
@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> tuple[tuple[str, str | None], ...]:
    """(literal text, field name or None) pieces of a template; LabError for anything but plain {name} fields.
    A template is a str.format string restricted to named fields: no format spec (`{x:>400000000}` would
    allocate 400 MB per row), no conversion (`{x!r}`), no index or attribute (`{x[0]}`, `{x.__class__}`)."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise LabError(f"the template text is {len(text):,} characters; the limit is {MAX_TEMPLATE_CHARS:,}")
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise LabError(f"not a valid template ({exc}); write fields as {{name}} and a literal brace as {{{{ or }}}}") from None
    pieces = []
    for literal, name, spec, conversion in parts:
        if name is not None:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            if not _FIELD.fullmatch(name):
                raise LabError(f"{shown}: only named fields such as {{prompt}} are allowed (no positions, indexes or "
                               "attributes)")
            if spec or conversion:
                raise LabError(f"{shown}: format specs and conversions are not allowed; write {{{name}}}")
        pieces.append((literal, name))
    return tuple(pieces)


def check_template(template: TraceTemplate) -> TraceTemplate:
    """Refuse a template whose user prompt or gold hint is anything but text with plain {name} fields."""
    for part in ("user", "gold_hint"):
        try:
            _parsed(getattr(template, part) or "")
        except LabError as exc:
            raise LabError(f"template {template.name}: the {part.replace('_', ' ')} is refused: {exc}") from None
    if len(template.system or "") > MAX_TEMPLATE_CHARS:
        raise LabError(f"template {template.name}: the system prompt is over {MAX_TEMPLATE_CHARS:,} characters")
    return template


# -- saved templates: each belongs to who saved it; built-ins, your own and shared ones are what you see ------
def _rows(recipe: str) -> list[dict]:
    with connect() as db:
        return list(db.query("SELECT * FROM trace_templates WHERE recipe = ? ORDER BY owner, name", [recipe]))


def _legacy(recipe: str) -> list[TraceTemplate]:
    """Templates saved as files before they had owners: everyone's, under "legacy:NAME", never over a built-in."""
    folder = state_dir() / "templates" / recipe
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append(template_from_json(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return out


def template_entries(recipe: str) -> list[dict]:
    """What the acting user sees, in order: built-ins, their own, then others' shared ones (named OWNER:NAME),
    each as {"template", "name" (to select it by), "owner", "shared", "builtin"}."""
    me = current_user()
    out = [{"template": t, "name": t.name, "owner": None, "shared": True, "builtin": True}
           for t in get_recipe(recipe).templates]
    rows = _rows(recipe)
    for row in rows:
        if row["owner"] == me:
            t = template_from_json(json.loads(row["template"]))
            out.append({"template": t, "name": t.name, "owner": me, "shared": bool(row["shared"]), "builtin": False})
    for row in rows:
        if row["owner"] != me and row["shared"]:
            t = template_from_json(json.loads(row["template"]))
            qualified = f"{row['owner']}:{t.name}"
            out.append({"template": replace(t, name=qualified), "name": qualified, "owner": row["owner"],
                        "shared": True, "builtin": False})
    for t in _legacy(recipe):
        qualified = f"{LEGACY}:{t.name}"
        out.append({"template": replace(t, name=qualified), "name": qualified, "owner": None, "shared": True,
                    "builtin": False})
    return out


def list_templates(recipe: str) -> list[TraceTemplate]:
    """The templates the acting user may use: built-ins, their own saved ones, others' shared ones (OWNER:NAME)."""
    return [e["template"] for e in template_entries(recipe)]


def get_template(recipe: str, name: str | None = None) -> TraceTemplate:
    """By name: your own saved one, else the built-in, else the one shared template of that name (give
    OWNER:NAME when several people share one). None: the recipe's first built-in, whatever anyone saved."""
    entries = template_entries(recipe)
    if not entries:
        get_recipe(recipe).template()  # raises the recipe's own message
    if name is None:
        return entries[0]["template"]
    exact = [e for e in entries if e["name"] == name]
    own = [e for e in exact if not e["builtin"] and e["owner"] == current_user()]
    if own or exact:
        return (own or exact)[-1]["template"]
    shared = [e for e in entries if ":" in e["name"] and e["name"].rpartition(":")[2] == name]
    if len(shared) == 1:
        return shared[0]["template"]
    if shared:
        raise LabError(f"several people share a template {name!r}: choose one of {', '.join(e['name'] for e in shared)}")
    raise LabError(f"no template {name!r} for recipe {recipe}; have {', '.join(e['name'] for e in entries)}")


def save_template(recipe: str, template: TraceTemplate, shared: bool = False) -> TraceTemplate:
    """Save an edited template as yours under its name (replacing only your own of that name); `shared` lets
    everyone else use it too. Its hash versions it in every job that uses it."""
    if not isinstance(template.name, str) or not _SAFE.fullmatch(template.name):
        raise LabError(f"template name {template.name!r}: use 1-64 letters, digits, '_', '.', '-'")
    get_recipe(recipe)
    check_template(template)
    now = now_iso()
    with connect() as db, transaction(db):
        db.conn.execute(
            "INSERT INTO trace_templates (recipe, owner, name, shared, template, hash, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (recipe, owner, name) DO UPDATE SET shared=excluded.shared, "
            "template=excluded.template, hash=excluded.hash, updated_at=excluded.updated_at",
            (recipe, current_user(), template.name, int(bool(shared)), json.dumps(template_to_json(template)),
             template_hash(template), now, now))
    return template


def delete_template(recipe: str, name: str) -> bool:
    """Remove one of your own saved templates (others' are not yours to remove)."""
    with connect() as db, transaction(db):
        cursor = db.conn.execute("DELETE FROM trace_templates WHERE recipe = ? AND owner = ? AND name = ?",
                                 (recipe, current_user(), name))
    return cursor.rowcount > 0


@dataclass
class Item:
    item_id: str
    row_id: str
    per_value: str | None
    messages: list[dict]
    gold: dict

    def to_json(self) -> dict:
        return asdict(self)


def _render(text: str, fields: dict, where: str) -> str:
    """The template's text with each {name} replaced by the row's value (as str.format would write it), and no
    more than MAX_RENDERED_CHARS of it."""
    out, size = [], 0
    for literal, name in _parsed(text):
        out.append(literal)
        size += len(literal)
        if name is not None:
            if name not in fields:
                raise DataError(f"the template needs field {name!r}, which this row does not have", file=where,
                                field=name)
            value = format(fields[name])
            out.append(value)
            size += len(value)
        if size > MAX_RENDERED_CHARS:
            raise DataError(f"the rendered prompt is over {MAX_RENDERED_CHARS:,} characters; shorten the template or "
                            "the row's text", file=where)
    return "".join(out)


def prepared_frame(version: DatasetVersion, split: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """The rows a trace job prompts with (examples.load_rows), positions counted from 0 after the split."""
    return examples.load_rows(version, split or None, limit=limit).reset_index(drop=True)


def build_items(ref: "str | DatasetVersion", template: TraceTemplate, *, include_gold: bool = False,
                split: str | None = None, limit: int | None = None) -> list[Item]:
    """One item per row, or per row and value for templates with `per_values`."""
    version = resolve(ref)
    recipe = get_recipe(version.recipe)
    check_template(template)  # also a template saved before format specs were refused
    frame = prepared_frame(version, split, limit)
    items = []
    for position, row in enumerate(frame.to_dict(orient="records"), start=1):
        row = recipe.plain_row(row)
        row_id = str(row.get("id") or position)
        variants = [(None, row)]
        if template.per_values:
            known = loads_json(row.get(template.per_column), {}) if template.per_column else {}
            variants = [(value, {**row, template.per_field: value, f"{template.per_field}_label": known.get(value)})
                        for value in template.per_values]
        for value, variant in variants:
            fields = recipe.template_fields(variant)
            where = f"{version.ref} row {position}"
            user = _render(template.user, fields, where)
            gold = {key: fields.get(key) for key in template.label_keys}
            if include_gold and template.gold_hint and any(v is not None for v in gold.values()):
                user += _render(template.gold_hint, fields, where)
            messages = ([{"role": "system", "content": template.system}] if template.system else []) + [
                {"role": "user", "content": user}]
            items.append(Item(item_id=row_id if value is None else f"{row_id}::{value}", row_id=row_id,
                              per_value=value, messages=messages, gold=gold))
    return items

