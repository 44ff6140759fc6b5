"""Seed 001: SAIGE experiences to SFT (harm and Buddhist principle filters)."""
from __future__ import annotations

from backend.errors import DataError
from backend.recipes.base import Column, Messages, Recipe, loads_json
from backend.recipes.curating import FilterFlag, Control, CurateFilter
from backend.recipes.demos import DemoSpec
from backend.recipes.importing import Importer
from backend.recipes.scoring import Scorer

PRINCIPLES = ("ahimsa", "sacca", "karuna", "panna", "upekkha")
PRINCIPLE_WEIGHTS = {"ahimsa": 0.25, "sacca": 0.20, "karuna": 0.25, "panna": 0.20, "upekkha": 0.10}
HARM_DIMENSIONS = ("deception", "harshness", "omission", "manipulation")
ALIGNMENT_LEVELS = ("low", "moderate", "good", "excellent")

SYSTEM_PROMPT = (
    "You are an AI assistant practicing ethical communication. "
    "You respond with wisdom, compassion, and truthfulness while minimizing harm."
)
LLAMA3_SYSTEM_PROMPT = "You are an AI assistant practicing ethical communication with wisdom and compassion."


def weighted_score(scores: dict | None) -> float:
    """Seed 001's weighting; a missing principle counts 0, no scores at all give 0."""
    if not scores:
        return 0.0
    return sum(float(scores.get(p) or 0) * w for p, w in PRINCIPLE_WEIGHTS.items())


def alignment_level(score: float) -> str:
    if score >= 8:
        return "excellent"
    if score >= 6:
        return "good"
    if score >= 4:
        return "moderate"
    return "low"


def person_note(person_state: dict | None) -> tuple[str, str] | None:
    """(mood, vulnerability) when the seed adds a note about the person, else None."""
    if not person_state:
        return None
    mood = person_state.get("mood", "neutral")
    vulnerability = person_state.get("vulnerability", "low")
    if mood == "neutral" and vulnerability == "low":
        return None
    return str(mood), str(vulnerability)


def user_turn(row: dict, style: str = "bracketed") -> str:
    """The scenario context plus the note on the person's state, in the seed's two spellings."""
    text = str(row.get("context") or "")
    person_state = loads_json(row.get("person_state"), {})
    if not isinstance(person_state, dict):
        raise DataError('must be a JSON object such as {"mood": "anxious", "vulnerability": "high"}',
                        field="person_state")
    note = person_note(person_state)
    if note:
        mood, vulnerability = note
        if style == "bracketed":
            text += f"\n\n[Context: Person is {mood}, vulnerability level: {vulnerability}]"
        else:
            text += f"\n\nContext: Person is {mood}, vulnerability: {vulnerability}"
    return text


def to_messages(row: dict) -> Messages:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_turn(row)},
        {"role": "assistant", "content": str(row.get("ai_response") or "")},
    ]


def format_messages(row: dict, fmt: str) -> Messages:
    """Seed 001's converter: each text format has its own system prompt and note spelling."""
    response = {"role": "assistant", "content": str(row.get("ai_response") or "")}
    if fmt == "mistral":
        return [{"role": "user", "content": user_turn(row, "plain")}, response]
    if fmt == "llama3":
        return [
            {"role": "system", "content": LLAMA3_SYSTEM_PROMPT},
            {"role": "user", "content": user_turn(row, "plain")},
            response,
        ]
    return to_messages(row)


EXPORT_COLUMNS = ("harm_score", "buddhist_alignment", "weighted_score", "difficulty", "scenario_id", "experience_id")


def export_record(row: dict) -> dict:
    """The seed's CSV columns next to `text`."""
    weighted = row.get("buddhist_weighted")
    if weighted is None:
        weighted = weighted_score(loads_json(row.get("buddhist_scores"), {}))
    return {
        "harm_score": row.get("actual_harm"),
        "buddhist_alignment": row.get("buddhist_alignment"),
        "weighted_score": weighted,
        "difficulty": row.get("difficulty_level"),
        "scenario_id": row.get("scenario_id"),
        "experience_id": row.get("experience_id"),
    }


# The Data page's SAIGE sliders (backend/recipes/saige/filter.py applies them), in place of column filters.
CURATE_FILTER = CurateFilter(
    module="backend.recipes.saige.filter",
    controls=((
        Control("max_harm", "Max harm", 0.0, 1.0, 0.01, help="keep experiences with actual_harm at or below this"),
        Control("min_buddhist", "Min weighted Buddhist score", 0.0, 10.0, 0.1,
                help="0.25 ahimsa + 0.20 sacca + 0.25 karuna + 0.20 panna + 0.10 upekkha"),
        Control("min_alignment", "Min alignment level", choices=ALIGNMENT_LEVELS,
                help="the stored alignment level; good = good or excellent"),
    ),),
    more_title="Per-principle minimums, per-harm maximums, difficulty",
    more_controls=(
        tuple(Control(f"min_{p}", p, 0.0, 10.0, 0.5, default=0.0) for p in PRINCIPLES),
        tuple(Control(f"max_{d}", d, 0.0, 1.0, 0.05, default=1.0) for d in HARM_DIMENSIONS),
        (Control("difficulty", "Difficulty", 1, 5, default=(1, 5)),),
    ),
    charts=(("actual_harm", "Harm"), ("buddhist_weighted", "Weighted Buddhist score")),
    flags=(
        FilterFlag("--max-harm", "max_harm", help="keep actual_harm <= X (default 0.25)"),
        FilterFlag("--min-buddhist", "min_buddhist", help="keep weighted Buddhist score >= Y (default 6.5)"),
        FilterFlag("--min-alignment", "min_alignment", "choice", choices=ALIGNMENT_LEVELS,
                   help="minimum stored alignment level (default good)"),
        FilterFlag("--min-principle", "principle_min", "pairs", metavar="PRINCIPLE=MIN", help="e.g. karuna=7 sacca=6"),
        FilterFlag("--max-harm-dim", "harm_max", "pairs", metavar="DIMENSION=MAX", help="e.g. deception=0.1"),
        FilterFlag("--difficulty", ("difficulty_min", "difficulty_max"), "range", metavar="A-B",
                   help="scenario difficulty range, e.g. 1-3"),
    ),
)

RECIPE = Recipe(
    name="saige",
    seed="001",
    demo=DemoSpec("demo-saige", "backend.recipes.saige.demo"),
    curate_filter=CURATE_FILTER,
    title="SAIGE experiences to SFT",
    columns=(
        Column("id", "text", True, help="experience id"),
        Column("experience_id", "int", True),
        Column("scenario_id", "int", True),
        Column("context", "text", True, help="the scenario the AI answered"),
        Column("person_state", "json", help="the person's mood, vulnerability, ..."),
        Column("facts", "json"),
        Column("critical_info", "json"),
        Column("difficulty_level", "int", help="1 simple .. 5 complex"),
        Column("harm_type", "text"),
        Column("expected_response", "text"),
        Column("ai_response", "text", True, help="the response used as the SFT target"),
        Column("predicted_harm", "float"),
        Column("actual_harm", "float", True, help="0 (harmless) .. 1"),
        *(Column(f"harm_{d}", "float", help=f"harm breakdown: {d} (0-1)") for d in HARM_DIMENSIONS),
        *(Column(p, "float", help=f"Buddhist principle {p} (0-10); empty when not scored") for p in PRINCIPLES),
        Column("buddhist_scores", "json", help="the raw principle scores as stored"),
        Column("buddhist_weighted", "float", help="0.25 ahimsa + 0.20 sacca + 0.25 karuna + 0.20 panna + 0.10 upekkha"),
        Column("buddhist_alignment", "text", choices=ALIGNMENT_LEVELS, help="alignment level as stored in the DB"),
        Column("computed_alignment", "text", choices=ALIGNMENT_LEVELS, help="alignment level from the weighted score"),
        Column("learned_lesson", "text"),
        Column("model_version", "int"),
        Column("timestamp", "text"),
        Column("seed_rank", "int", help="position in seed 001's order (actual_harm ascending, newest first)"),
    ),
    label_column="buddhist_alignment",
    text_columns=("context", "ai_response"),
    group_column="difficulty_level",
    to_messages=to_messages,
    format_messages=format_messages,
    export_columns=EXPORT_COLUMNS,
    export_record=export_record,
    scorer=Scorer(module="backend.recipes.saige.scoring", headline="rouge_l"),
    description="Filter a SAIGE DB with harm and Buddhist principle sliders; the responses are the targets.",
    importer=Importer(
        module="backend.recipes.saige.importer",
        description=("A SAIGE SQLite database (saige.db) with tables scenarios and experiences; each experience "
                     "is joined to its scenario."),
    ),
)
