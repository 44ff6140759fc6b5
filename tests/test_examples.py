"""The examples stage: export, training, evaluation and teacher prompts read the same rows and messages."""
import json

import pandas as pd
import pytest

from backend.data import examples, store
from backend.data.demo import DEMO_DATASETS, create_demo_datasets
from backend.data.splits import split_dataset
from backend.errors import LabError
from backend.evaluation.runner import eval_rows
from backend.recipes import RECIPES, get_recipe
from backend.recipes.base import loads_json
from backend.traces.templates import build_items
from backend.training.data import load_training_data
from backend.training.sft_export import export_dataset
from backend.training.spec import preset_spec


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Recipe name -> (a version without splits, the same rows split into train and validation): the recipe's
    demo dataset, or a small one for a recipe without demo data; built once for the module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTLAB_STATE", str(tmp_path_factory.mktemp("examples-state")))
        mp.setenv("FTLAB_USER", "tester")
        versions = create_demo_datasets()
        for recipe in RECIPES.values():
            if recipe.demo is None:
                with store.VersionWriter(f"{recipe.name}-examples", recipe.name, "import") as w:
                    w.write(pd.DataFrame({"id": ["a", "b", "c", "d"], "prompt": ["p1", "p2", "p3", "p4"],
                                          "response": ["r1", "r2", "r3", "r4"],
                                          "system": ["Be brief.", None, None, "Be kind."]}))
                    versions.append(w.commit())
        yield {v.recipe: (v.ref, split_dataset(v.ref, ratios={"train": 0.75, "validation": 0.25}, stratify="").ref)
               for v in versions}


def exported(ref: str, out, split: str | None = None) -> list[list[dict]]:
    export_dataset(ref, "messages-jsonl", out, split=split)
    return [json.loads(line)["messages"] for line in out.read_text(encoding="utf-8").splitlines()]


def test_every_recipe_has_a_dataset_here(datasets):
    assert set(datasets) == set(RECIPES)
    assert {store.resolve(unsplit).dataset for unsplit, _ in datasets.values()} >= set(DEMO_DATASETS)


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_export_writes_the_messages_the_trainer_learns_from(datasets, recipe, tmp_path):
    unsplit, split = datasets[recipe]
    whole = load_training_data(preset_spec("tiny-lora", unsplit, {}))
    assert whole.train_rows and whole.eval_rows == 0  # unsplit: every row trains
    assert exported(unsplit, tmp_path / "all.jsonl") == whole.train_messages
    parts = load_training_data(preset_spec("tiny-lora", split, {}))
    assert parts.train_rows and parts.eval_rows
    assert exported(split, tmp_path / "train.jsonl", "train") == parts.train_messages
    assert exported(split, tmp_path / "val.jsonl", "validation") == parts.eval_messages


def test_raft_export_holds_the_gold_documents(datasets, tmp_path):
    """A raw RAFT version keeps only the gold document ids; its export shows the documents' text, as training does."""
    with_documents = [r for r in datasets if get_recipe(r).documents_table]
    assert with_documents
    version = store.resolve(datasets[with_documents[0]][0])
    text_of = dict(store.load_frame(version, get_recipe(version.recipe).documents_table, columns=["doc_id", "text"])
                   .itertuples(index=False))
    rows = store.load_frame(version).to_dict(orient="records")
    chats = exported(version.ref, tmp_path / "raft.jsonl")
    assert len(chats) == len(rows) > 0
    for row, chat in zip(rows, chats):
        user = next(m["content"] for m in chat if m["role"] == "user")
        gold = loads_json(row["gold_documents"], [])
        assert gold and all(f"<DOCUMENT>{text_of[d]}</DOCUMENT>" in user for d in gold)
        assert user.endswith(row["query"])


def test_prompts_are_the_training_chat_without_the_answer(datasets):
    for unsplit, _ in datasets.values():
        version = store.resolve(unsplit)
        recipe = get_recipe(version.recipe)
        number, row = examples.plain_rows(examples.load_rows(version, limit=1), recipe)[0]
        chat = examples.row_messages(version, recipe, number, row)
        assert examples.prompt_messages(recipe, row) == [m for m in chat if m["role"] != "assistant"]
        assert examples.row_at(version, 0) == row


def test_a_missing_split_is_worded_once(datasets, tmp_path):
    unsplit, name = next((u, s) for r, (u, s) in datasets.items() if get_recipe(r).templates)
    ref = name
    wording = rf"^dataset {ref} has no split 'nope'{{}} \(splits: train, validation\)"
    with pytest.raises(LabError, match=wording.format(" to train on") + "; set train_split to one of them$"):
        load_training_data(preset_spec("tiny-lora", name, {"train_split": "nope"}))
    with pytest.raises(LabError, match=wording.format("") + "$"):
        export_dataset(name, "messages-jsonl", tmp_path / "x.jsonl", split="nope")
    with pytest.raises(LabError, match=wording.format("") + "$"):
        eval_rows(store.resolve(name), "nope", None)
    version = store.resolve(name)
    template = get_recipe(version.recipe).templates[0]
    with pytest.raises(LabError, match=wording.format("") + "$"):
        build_items(version, template, split="nope")
    no_splits = f"^dataset {unsplit} has no splits; split it first or leave the split out$"
    with pytest.raises(LabError, match=no_splits):
        export_dataset(unsplit, "messages-jsonl", tmp_path / "x.jsonl", split="train")
    with pytest.raises(LabError, match=no_splits):
        build_items(unsplit, template, split="train")
    assert not (tmp_path / "x.jsonl").exists()
