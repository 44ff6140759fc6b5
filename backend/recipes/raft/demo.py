"""RAFT demo data: an MSRS-style story folder (documents/*.txt chapters, queries_{train,dev,test}.json).

Each query's answer lies in 1-4 chapters (its gold documents), with four reference summaries.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

from backend.recipes.demos import seeded_rng, write_text
from backend.recipes.raft import demo_text as text

RAFT_SPLITS = {"train": 40, "dev": 10, "test": 15}


def write(folder: Path, seed: int = 0) -> list[Path]:
    """The files of the demo dataset (`DemoSpec.write`)."""
    return [write_raft_source(folder, seed)]


def chapter_id(title: str, number: int) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", title.upper().replace("'", "")).strip("_") + f"_{number}"


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _chapter_text(rng: random.Random, story: dict, event: str) -> str:
    """Prose around the chapter's key event; the place and object it names recur, other chapters' do not."""
    cast = [c for c in story["characters"] if c in event] or [rng.choice(story["characters"])]
    char = cast[0]
    char2 = rng.choice([c for c in story["characters"] if c != char])
    place = next((p for p in story["places"] if p.lower() in event.lower()), story["home"])
    thing = next((o for o in story["objects"] if o.lower() in event.lower()), None)
    templates = [t for t in text.CHAPTER_FILLERS[1:] if thing or "{object}" not in t]

    def filler(template: str) -> str:
        time, weather = rng.choice(text.FILLER_TIMES), rng.choice(text.FILLER_WEATHER)
        values = {"char": char, "char2": char2, "place": place, "object": thing, "time_cap": _capitalise(time),
                  "weather": weather, "weather_cap": _capitalise(weather)}
        return _capitalise(template.format(**values))

    def scene() -> str:
        where = place if rng.random() < 0.7 else story["home"]
        who, action, trail = rng.choice(cast + [char2]), rng.choice(text.SCENE_ACTIONS), rng.choice(text.SCENE_TRAILS)
        return f"{who} {action} {where}, {trail}."

    target = rng.randint(310, 540)
    fillers = rng.sample(templates, len(templates))
    paragraphs = [[filler(text.CHAPTER_FILLERS[0]), scene()], [event, filler(fillers.pop()), filler(fillers.pop())]]
    words = sum(len(s.split()) for p in paragraphs for s in p)
    while words < target:
        paragraph = [scene() if rng.random() < 0.4 or not fillers else filler(fillers.pop())
                     for _ in range(rng.randint(3, 5))]
        paragraphs.append(paragraph)
        words += sum(len(s.split()) for s in paragraph)
    return "\n\n".join(" ".join(p) for p in paragraphs) + "\n"


def _summary(style: int, kind: str, focus: str, title: str, events: list[str]) -> str:
    lead = text.SUMMARY_LEADS[kind][style].format(title=title, focus=focus, focus_cap=_capitalise(focus))
    if style == 1:
        links = text.SUMMARY_LINKS
        events = [f"{links[min(i, len(links) - 1)]} {_lower_lead(e)}" for i, e in enumerate(events)]
    elif style == 2:
        events = [_capitalise(re.split(r", (?:and |where |who |because )", e)[0].rstrip(".")) + "." for e in events]
    elif style == 3:
        events = ["; ".join(e.rstrip(".") for e in events) + "."]
    return " ".join([lead, *events])


_LOWERABLE = {"The", "In", "During", "At", "A", "By", "Across", "After"}


def _lower_lead(sentence: str) -> str:
    first, _, rest = sentence.partition(" ")
    return f"{first.lower()} {rest}" if first in _LOWERABLE else sentence


def _story_queries(story: dict) -> list[dict]:
    """Queries about one story whose answers lie in 1-4 chapters, each with four reference summaries."""
    title, events = story["title"], story["events"]
    characters = story["characters"]
    subjects = ([("character", (c,)) for c in characters] + [("place", (p,)) for p in story["places"]]
                + [("object", (o,)) for o in story["objects"]]
                + [("pair", (a, b)) for i, a in enumerate(characters) for b in characters[i + 1:]])
    candidates = []
    for kind, names in subjects:
        gold = [i for i, e in enumerate(events) if all(n.lower() in e.lower() for n in names)]
        if 1 <= len(gold) <= 4:
            candidates.append((kind, names, gold))
    candidates += [("opening", (), [0, 1]), ("ending", (), [len(events) - 2, len(events) - 1])]
    queries = []
    for kind, names, gold in candidates:
        slots = {"title": title, "a": names[0] if names else "", "b": names[-1] if names else ""}
        question, original = (template.format(**slots) for template in text.RAFT_QUESTIONS[kind])
        focus = " and ".join(names)
        queries.append({
            "query": question, "squality_query": original,
            "gold_documents": [chapter_id(title, i + 1) for i in gold],
            "answer": [_summary(style, kind, focus, title, [events[i] for i in gold]) for style in range(4)],
        })
    return queries


def write_raft_source(folder: Path, seed: int = 0) -> Path:
    """An MSRS-style story/ folder: documents/*.txt plus queries_{train,dev,test}.json; returns the story folder."""
    rng = seeded_rng(seed, "raft")
    story_dir = Path(folder) / "story"
    documents = story_dir / "documents"
    documents.mkdir(parents=True, exist_ok=True)
    for stale in documents.glob("*.txt"):
        stale.unlink()
    queries = []
    for story in text.STORIES:
        for number, event in enumerate(story["events"], start=1):
            write_text(documents / f"{chapter_id(story['title'], number)}.txt", _chapter_text(rng, story, event))
        queries += _story_queries(story)
    rng.shuffle(queries)
    start = 0
    for split, size in RAFT_SPLITS.items():
        chunk = json.dumps(queries[start:start + size], indent=2, ensure_ascii=False)
        write_text(story_dir / f"queries_{split}.json", chunk + "\n")
        start += size
    return story_dir
