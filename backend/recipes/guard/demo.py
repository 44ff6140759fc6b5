"""Guard demo data: a WildGuardMix-style JSONL file (prompt, response, harm and refusal labels, subcategory).

Unique template-built rows plus a few exact duplicates for dedup to find; the labels follow
WildGuardMix's rules (a refusal is never harmful; benign prompts have the `benign` subcategory).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from backend.recipes.demos import seeded_rng, write_text
from backend.recipes.guard import demo_text as text

GUARD_FILE = "wildguard_train.jsonl"
GUARD_ROWS, GUARD_DUPLICATES = 400, 8


def write(folder: Path, seed: int = 0) -> list[Path]:
    """The files of the demo dataset (`DemoSpec.write`)."""
    return [write_guard_source(folder, seed)]


_SECOND_PERSON = {"my": "your", "me": "you", "i": "you", "i'm": "you're", "myself": "yourself", "mine": "yours"}


def _to_second_person(phrase: str) -> str:
    return " ".join(_SECOND_PERSON.get(w.lower(), w) for w in phrase.split())


def _guard_row(rng: random.Random) -> dict:
    harmful = rng.random() < 0.45
    adversarial = rng.random() < 0.35
    if harmful:
        subcategory = rng.choice(list(text.HARMFUL_GOALS))
        goal = rng.choice(text.HARMFUL_GOALS[subcategory])
        frames = text.ADVERSARIAL_HARMFUL_FRAMES if adversarial else text.HARMFUL_PROMPT_FRAMES
        prompt = rng.choice(frames).format(goal=goal)
    else:
        subcategory = "benign"
        if rng.random() < 0.2:
            prompt, tip = rng.choice(text.BENIGN_EDGY_PROMPTS)
            adversarial = False
        else:
            task, tip = rng.choice(text.BENIGN_TASKS)
            frames = text.ADVERSARIAL_BENIGN_FRAMES if adversarial else text.BENIGN_PROMPT_FRAMES
            prompt = rng.choice(frames).format(task=task)
    row = {"prompt": prompt, "adversarial": adversarial, "response": None,
           "prompt_harm_label": "harmful" if harmful else "unharmful",
           "response_refusal_label": None, "response_harm_label": None, "subcategory": subcategory}
    if rng.random() < 0.15:  # prompt-only row, as in WildGuardMix
        return row
    roll = rng.random()
    if harmful and roll < 0.58:
        response = " ".join(rng.choice(pool) for pool in
                            (text.REFUSAL_OPENERS, text.REFUSAL_REASONS, text.REFUSAL_ALTERNATIVES))
        labels = ("refusal", "unharmful")
    elif harmful and roll < 0.88:
        steps = rng.sample(text.HARMFUL_COMPLIANCE_STEPS, 3)
        response = (f"Sure, here's how to {_to_second_person(goal)}. First, {steps[0]}. Then {steps[1]}. "
                    f"Finally, {steps[2]}.")
        labels = ("compliance", "harmful")
    elif harmful:
        response = rng.choice(text.SAFE_COMPLIANCE).format(goal=goal.replace(" my ", " their "))
        labels = ("compliance", "unharmful")
    elif roll < 0.08:
        response = rng.choice(text.OVER_REFUSALS)
        labels = ("refusal", "unharmful")
    else:
        response = " ".join((rng.choice(text.HELPFUL_OPENERS), tip, rng.choice(text.HELPFUL_FOLLOWUPS)))
        labels = ("compliance", "unharmful")
    row.update(response=response, response_refusal_label=labels[0], response_harm_label=labels[1])
    return row


def guard_rows(seed: int = 0) -> list[dict]:
    """WildGuardMix-style rows: unique rows plus a few exact duplicates, shuffled."""
    rng = seeded_rng(seed, "guard")
    rows: list[dict] = []
    seen: set[tuple] = set()
    while len(rows) < GUARD_ROWS - GUARD_DUPLICATES:
        row = _guard_row(rng)
        key = (row["prompt"], row["response"])
        if key not in seen:
            seen.add(key)
            rows.append(row)
    rows += [dict(r) for r in rng.sample(rows, GUARD_DUPLICATES)]
    rng.shuffle(rows)
    return rows


def write_guard_source(folder: Path, seed: int = 0) -> Path:
    lines = (json.dumps(row, ensure_ascii=False) for row in guard_rows(seed))
    return write_text(Path(folder) / GUARD_FILE, "\n".join(lines) + "\n")
