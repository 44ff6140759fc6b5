import csv
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from backend.data import store
from backend.training.sft_export import FORMATS, export_dataset, render_text, token_length_stats
from backend.errors import DataError, LabError
from backend.recipes import get_recipe
from backend.traces.tokens import count_chat_tokens

ANXIETY_CONTEXT = "I'm struggling with anxiety. What should I do?"
ANXIETY_RESPONSE = (
    "I understand how difficult anxiety can be. It's a real struggle, and you're not alone. Have you been able to "
    "identify what might be contributing to your anxiety? Sometimes understanding the root causes can help us find "
    "more effective approaches..."
)
PARTY_CONTEXT = "Can you help me plan a birthday party for my sister?"
PARTY_RESPONSE = "Of course! Start with a date, a guest list and a budget, then pick a theme she loves."


def saige_row(i, context, person_state, response, split, difficulty=3, harm=0.1):
    return {
        "id": f"exp-{i}", "experience_id": i, "scenario_id": 100 + i, "context": context,
        "person_state": json.dumps(person_state), "difficulty_level": difficulty, "ai_response": response,
        "actual_harm": harm, "buddhist_scores": json.dumps({"ahimsa": 8, "sacca": 8, "karuna": 8, "panna": 8, "upekkha": 8}),
        "buddhist_weighted": 8.0, "buddhist_alignment": "excellent", "split": split,
    }


@pytest.fixture()
def saige(state):
    rows = [
        saige_row(1, ANXIETY_CONTEXT, {"mood": "anxious", "vulnerability": "high"}, ANXIETY_RESPONSE, "train", harm=0.12),
        saige_row(2, PARTY_CONTEXT, {"mood": "neutral", "vulnerability": "low"}, PARTY_RESPONSE, "train", difficulty=None),
        saige_row(3, "Tell me honestly: is my business plan viable?", {"vulnerability": "low"},
                  "Parts of it are strong; the pricing needs work. Here is why.", "test", difficulty=5),
    ]
    with store.VersionWriter("saige-demo", "saige", "import") as w:
        w.write(pd.DataFrame(rows))
        return w.commit()


@pytest.fixture()
def generic(state):
    rows = pd.DataFrame({
        "id": ["g1", "g2"],
        "prompt": ["Translate 'cat' to French.", "Résume: «Ça va?»"],
        "response": ["chat", "Ça va bien — merci !"],
        "label": ["translation", "summary"],
        "system": ["You are a translator.", None],
    })
    with store.VersionWriter("generic-demo", "generic", "import") as w:
        w.write(rows)
        return w.commit()


def read_jsonl(path):
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # every record ends with "\n"
    return [json.loads(line) for line in lines[:-1]]


def anxiety_row():
    return {"context": ANXIETY_CONTEXT, "person_state": json.dumps({"mood": "anxious", "vulnerability": "high"}),
            "ai_response": ANXIETY_RESPONSE}


def test_text_formats_match_seed_001_byte_for_byte():
    row = anxiety_row()
    assert render_text(row, "saige", "tinyllama") == (
        "<|system|>\n"
        "You are an AI assistant practicing ethical communication. You respond with wisdom, compassion, and "
        "truthfulness while minimizing harm.</s>\n"
        "<|user|>\n"
        "I'm struggling with anxiety. What should I do?\n"
        "\n"
        "[Context: Person is anxious, vulnerability level: high]</s>\n"
        "<|assistant|>\n"
        "I understand how difficult anxiety can be. It's a real struggle, and you're not alone. Have you been able to "
        "identify what might be contributing to your anxiety? Sometimes understanding the root causes can help us "
        "find more effective approaches...</s>"
    )
    assert render_text(row, "saige", "mistral") == (
        "<s>[INST] I'm struggling with anxiety. What should I do?\n"
        "\n"
        "Context: Person is anxious, vulnerability: high [/INST] I understand how difficult anxiety can be. It's a "
        "real struggle, and you're not alone. Have you been able to identify what might be contributing to your "
        "anxiety? Sometimes understanding the root causes can help us find more effective approaches...</s>"
    )
    assert render_text(row, "saige", "llama3") == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n"
        "You are an AI assistant practicing ethical communication with wisdom and compassion.<|eot_id|>\n"
        "<|start_header_id|>user<|end_header_id|>\n"
        "I'm struggling with anxiety. What should I do?\n"
        "\n"
        "Context: Person is anxious, vulnerability: high<|eot_id|>\n"
        "<|start_header_id|>assistant<|end_header_id|>\n"
        "I understand how difficult anxiety can be. It's a real struggle, and you're not alone. Have you been able to "
        "identify what might be contributing to your anxiety? Sometimes understanding the root causes can help us "
        "find more effective approaches...<|eot_id|>"
    )


@pytest.mark.parametrize("person_state", [{"mood": "neutral", "vulnerability": "low"}, {"vulnerability": "low"}, {}])
def test_neutral_low_person_gets_no_note(person_state):
    row = {"context": "Hi", "person_state": json.dumps(person_state), "ai_response": "Hello"}
    assert render_text(row, "saige", "tinyllama") == (
        "<|system|>\nYou are an AI assistant practicing ethical communication. You respond with wisdom, compassion, "
        "and truthfulness while minimizing harm.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello</s>"
    )
    assert render_text(row, "saige", "mistral") == "<s>[INST] Hi [/INST] Hello</s>"
    assert render_text(row, "saige", "llama3") == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\nYou are an AI assistant practicing ethical "
        "communication with wisdom and compassion.<|eot_id|>\n<|start_header_id|>user<|end_header_id|>\nHi<|eot_id|>\n"
        "<|start_header_id|>assistant<|end_header_id|>\nHello<|eot_id|>"
    )


def test_only_one_default_differing_still_adds_the_note():
    row = {"context": "Hi", "person_state": json.dumps({"mood": "sad"}), "ai_response": "Hello"}
    assert render_text(row, "saige", "mistral") == "<s>[INST] Hi\n\nContext: Person is sad, vulnerability: low [/INST] Hello</s>"


def test_other_recipes_render_their_messages_with_optional_system():
    with_system = {"prompt": "Q?", "response": "A.", "system": "Be brief."}
    without = {"prompt": "Q?", "response": "A."}
    assert render_text(with_system, "generic", "tinyllama") == "<|system|>\nBe brief.</s>\n<|user|>\nQ?</s>\n<|assistant|>\nA.</s>"
    assert render_text(without, "generic", "tinyllama") == "<|user|>\nQ?</s>\n<|assistant|>\nA.</s>"
    assert render_text(with_system, "generic", "mistral") == "<s>[INST] Be brief.\n\nQ? [/INST] A.</s>"
    assert render_text(without, "generic", "mistral") == "<s>[INST] Q? [/INST] A.</s>"
    assert render_text(without, "generic", "llama3") == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\nQ?<|eot_id|>\n"
        "<|start_header_id|>assistant<|end_header_id|>\nA.<|eot_id|>"
    )
    with pytest.raises(LabError, match="not a text format"):
        render_text(without, "generic", "openai-jsonl")


def test_saige_csv_has_the_seeds_columns(saige, tmp_path):
    out = tmp_path / "train.csv"
    result = export_dataset(saige.ref, "mistral", out)
    assert (result.rows, result.format, result.bytes) == (3, "mistral", out.stat().st_size)
    assert json.loads(json.dumps(result.to_json()))["path"] == str(out)
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        records = list(reader)
    assert reader.fieldnames == ["text", "harm_score", "buddhist_alignment", "weighted_score", "difficulty",
                                 "scenario_id", "experience_id"]
    first, second, third = records
    assert first["text"] == render_text(anxiety_row(), "saige", "mistral")  # multi-line text survives CSV quoting
    assert (first["harm_score"], first["weighted_score"], first["difficulty"]) == ("0.12", "8.0", "3")
    assert (first["scenario_id"], first["experience_id"], first["buddhist_alignment"]) == ("101", "1", "excellent")
    assert second["difficulty"] == ""  # missing, not "nan"
    assert third["difficulty"] == "5"  # an int column with gaps is still written as an int
    assert out.read_bytes().startswith(b"text,harm_score,buddhist_alignment,weighted_score,difficulty,scenario_id,experience_id\r\n")


def test_other_recipes_csv_is_text_id_label(generic, tmp_path):
    out = tmp_path / "g.csv"
    export_dataset(generic.ref, "tinyllama", out)
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        records = list(reader)
    assert reader.fieldnames == ["text", "id", "label"]
    assert [(r["id"], r["label"]) for r in records] == [("g1", "translation"), ("g2", "summary")]
    assert records[1]["text"] == "<|user|>\nRésume: «Ça va?»</s>\n<|assistant|>\nÇa va bien — merci !</s>"


def test_text_jsonl_has_text_and_id(saige, tmp_path):
    out = tmp_path / "train.jsonl"
    export_dataset(saige.ref, "llama3", out)
    records = read_jsonl(out)
    assert [set(r) for r in records] == [{"text", "id"}] * 3
    assert records[0] == {"id": "exp-1", "text": render_text(anxiety_row(), "saige", "llama3")}


def test_messages_jsonl_is_trl_conversational(saige, tmp_path):
    out = tmp_path / "chat.jsonl"
    result = export_dataset(saige.ref, "messages-jsonl", out)
    records = read_jsonl(out)
    assert result.rows == len(records) == 3
    assert [r["id"] for r in records] == ["exp-1", "exp-2", "exp-3"]
    assert [m["role"] for m in records[0]["messages"]] == ["system", "user", "assistant"]
    assert records[0]["messages"][1]["content"] == (
        ANXIETY_CONTEXT + "\n\n[Context: Person is anxious, vulnerability level: high]")
    assert records[1]["messages"][2]["content"] == PARTY_RESPONSE


def test_openai_jsonl_has_only_messages_with_known_roles(generic, tmp_path):
    out = tmp_path / "openai.jsonl"
    export_dataset(generic.ref, "openai-jsonl", out)
    records = read_jsonl(out)
    assert all(set(r) == {"messages"} for r in records)
    assert all(set(m) == {"role", "content"} for r in records for m in r["messages"])
    assert [[m["role"] for m in r["messages"]] for r in records] == [
        ["system", "user", "assistant"], ["user", "assistant"]]
    assert "Ça va bien — merci !" in out.read_text(encoding="utf-8")  # ensure_ascii=False


def test_messages_parquet_reads_back(saige, tmp_path):
    out = tmp_path / "chat.parquet"
    result = export_dataset(saige.ref, "messages-parquet", out, split="train")
    table = pq.read_table(out)
    assert result.rows == table.num_rows == 2
    assert table.column_names == ["id", "messages"]
    rows = table.to_pylist()
    assert rows[0]["id"] == "exp-1"
    assert rows[0]["messages"][2] == {"role": "assistant", "content": ANXIETY_RESPONSE}


def test_split_filter(saige, generic, tmp_path):
    out = tmp_path / "test.jsonl"
    assert export_dataset(saige.ref, "messages-jsonl", out, split="test").rows == 1
    assert [r["id"] for r in read_jsonl(out)] == ["exp-3"]
    with pytest.raises(LabError, match=r"no split 'validation' \(splits: test, train\)"):
        export_dataset(saige.ref, "messages-jsonl", tmp_path / "v.jsonl", split="validation")
    with pytest.raises(LabError, match="has no splits"):
        export_dataset(generic.ref, "messages-jsonl", tmp_path / "g.jsonl", split="train")
    assert not (tmp_path / "v.jsonl").exists()


def test_unknown_format_and_container(saige, tmp_path):
    tmp_path = tmp_path / "exports"
    with pytest.raises(LabError, match="unknown export format 'alpaca'"):
        export_dataset(saige.ref, "alpaca", tmp_path / "x.jsonl")
    with pytest.raises(LabError, match=r"\.csv or \.jsonl, not '\.txt'"):
        export_dataset(saige.ref, "tinyllama", tmp_path / "x.txt")
    with pytest.raises(LabError, match=r"written as \.parquet"):
        export_dataset(saige.ref, "messages-parquet", tmp_path / "x.jsonl")
    assert set(FORMATS) == {"tinyllama", "mistral", "llama3", "messages-jsonl", "messages-parquet", "openai-jsonl",
                            "raft-jsonl"}
    assert not tmp_path.exists()


def test_failed_export_leaves_no_partial_file(state, tmp_path):
    good = saige_row(1, "Hi", {"mood": "calm"}, "Hello", "train")
    bad = {**saige_row(2, "Hi", {}, "Hello", "train"), "person_state": json.dumps(["not", "an", "object"])}
    with store.VersionWriter("broken", "saige", "import") as w:
        w.write(pd.DataFrame([good, good, bad]))
        w.commit()
    out = tmp_path / "exports" / "out.jsonl"
    out.parent.mkdir()
    out.write_text("previous export\n")
    with pytest.raises(DataError) as err:
        export_dataset("broken", "mistral", out)
    assert (err.value.file, err.value.row, err.value.field) == ("broken@1", 3, "person_state")
    assert "must be a JSON object" in str(err.value)
    assert out.read_text() == "previous export\n"  # the two good rows written before the error never show
    assert [p.name for p in out.parent.iterdir()] == ["out.jsonl"]


def test_token_length_stats(saige):
    rows = store.load_frame(saige.ref).to_dict("records")
    expected = sorted(count_chat_tokens(get_recipe("saige").to_messages(r)) for r in rows)
    stats = token_length_stats(saige.ref, max_seq_length=expected[1])
    assert stats["rows"] == 3 and stats["max"] == expected[-1] and stats["p50"] == expected[1]
    assert stats["over"] == 1 and stats["over_pct"] == pytest.approx(100 / 3)
    assert stats["mean"] == pytest.approx(sum(expected) / 3)
    assert sum(stats["histogram"]["counts"]) == 3
    assert len(stats["histogram"]["edges"]) == len(stats["histogram"]["counts"]) + 1
    assert stats["encoding"] == "o200k_base" and stats["max_seq_length"] == expected[1]
    json.dumps(stats)

    train = token_length_stats(saige.ref, encoding="cl100k_base", max_seq_length=10_000, split="train")
    assert train["rows"] == 2 and train["over"] == 0


def test_token_length_stats_small_and_empty(state):
    with store.VersionWriter("tiny", "generic", "import") as w:
        w.write(pd.DataFrame({"id": ["a"], "prompt": ["p"], "response": ["r"]}))
        w.commit()
    # two messages of one-token role and content: 2 * (3 + 1 + 1) + 3 for the reply priming
    stats = token_length_stats("tiny", max_seq_length=12)
    assert (stats["max"], stats["over"], stats["over_pct"]) == (13, 1, 100.0)
    with pytest.raises(LabError, match="unknown encoding"):
        token_length_stats("tiny", encoding="p50k_base")

    with store.VersionWriter("nothing", "generic", "filter") as w:
        w.commit(columns=["id", "prompt", "response"])
    empty = token_length_stats("nothing")
    assert (empty["rows"], empty["over"], empty["histogram"]) == (0, 0, {"edges": [], "counts": []})
