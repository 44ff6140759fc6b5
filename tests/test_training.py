"""The training runner: real SFT of the tiny model with TRL, in job processes and in this one."""
import os
import shutil
import signal
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from backend.recipes.guard.demo import guard_rows
from backend.data.store import VersionWriter
from backend.jobs.status import ENDED, STARTED
from backend.errors import DataError, LabError
from backend.jobs import manager
from backend.jobs.files import read_json, read_jsonl
from backend.training.data import load_training_data
from backend.training.engines import choose_engine, load_model
from backend.training.outputs import ollama_template
from backend.training.runner import (
    build_trainer,
    is_out_of_memory,
    latest_checkpoint,
    out_of_memory_message,
)
from backend.training.spec import TrainSpec, preset_spec
from backend.training.tiny import tiny_model_for

TRAIN_ROWS, EVAL_ROWS = 96, 24
LEARN_STEPS, LEARN_DROP = 30, 0.30  # the tiny preset on demo-guard: -30% or more in a short run (-95% in 120 steps)
METRIC_KEYS = {"step", "epoch", "loss", "learning_rate", "grad_norm", "tokens_per_second", "elapsed_s", "eta_s", "ts"}


def _trace(row: dict) -> str:
    verdict = "harmful" if row["prompt_harm_label"] == "harmful" else "not harmful"
    return (f"# Task 1\n\n## Reasoning Step 1\nThe user asks: {row['prompt'][:60]}\n\n## Conclusion\nThe request is "
            f"{verdict}.\n\n---\n\nAnswers: \nRequest: {row['prompt_harm_label']}\n"
            f"Completion: {row['response_refusal_label']}\nResponse: {row['response_harm_label']}")


def guard_frame() -> pd.DataFrame:
    """A guard trace dataset: WildGuard-style rows, a teacher trace each, train and validation splits."""
    rows = guard_rows(0)[:TRAIN_ROWS + EVAL_ROWS]
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", [f"g{i}" for i in range(len(frame))])
    frame["trace"] = [_trace(r) for r in rows]
    frame["split"] = ["train"] * TRAIN_ROWS + ["validation"] * EVAL_ROWS
    return frame


def store_dataset(name: str = "guard-traces", frame: pd.DataFrame | None = None):
    with VersionWriter(name, "guard", "traces") as writer:
        writer.write(guard_frame() if frame is None else frame)
        return writer.commit()


def tiny_spec(dataset: str = "guard-traces", preset: str = "tiny-lora", **overrides) -> TrainSpec:
    """The LoRA tiny preset (r8, lr 2e-3, 30 steps, batch 4, fp32, CPU), shorter rows, no periodic eval/saves."""
    return preset_spec(preset, dataset, {"max_seq_length": 256, "save_steps": 50, "eval_steps": 0, **overrides})


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """The tiny model for the test dataset's text, built once; each test copies it into its own state."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTLAB_STATE", str(tmp_path_factory.mktemp("build-state")))
        store_dataset()
        texts = load_training_data(tiny_spec()).texts()
        return tiny_model_for(texts, tmp_path_factory.mktemp("tiny-cache"))


@pytest.fixture()
def train_env(state, monkeypatch, tiny_model):
    monkeypatch.setenv("FTLAB_SLOTS", "cpu=2")
    shutil.copytree(tiny_model, state / "models" / "tiny" / tiny_model.name)
    return store_dataset()


def wait_for(predicate, timeout=120.0, poll=0.02):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not reached in time")


def metrics(job) -> list[dict]:
    return read_jsonl(Path(job.job_dir) / "metrics.jsonl")


def train_records(job) -> list[dict]:
    return [m for m in metrics(job) if "loss" in m]


def generate(model, tokenizer, messages, tokens=12) -> list[int]:
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
    return out[0, prompt["input_ids"].shape[1]:].tolist()


def test_lora_job_trains_logs_and_exports(train_env, state):
    spec = tiny_spec(max_steps=40, eval_steps=20, save_steps=20, merge=True, modelfile=True)
    job = manager.submit("train", spec.to_json(), resource="cpu")
    seen = []  # (status, metrics lines) while the job is live
    while (current := manager.get(job.id)).status not in ENDED:
        seen.append((current.status, len(metrics(current))))
        time.sleep(0.02)
    final = manager.wait(job.id, timeout=10)
    assert final.status == "succeeded", manager.log_tail(job.id)
    live = [n for status, n in seen if status == "running" and n > 0]
    assert len(set(live)) >= 2 and live == sorted(live)  # metrics.jsonl grew while the job was running

    records = train_records(final)
    assert [r["step"] for r in records] == list(range(1, 41))
    assert all(METRIC_KEYS <= r.keys() for r in records)
    assert all(r["tokens_per_second"] > 0 and r["eta_s"] >= 0 for r in records) and records[-1]["eta_s"] == 0
    losses = [r["loss"] for r in records]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.2
    evals = [m for m in metrics(final) if "eval_loss" in m]
    assert [e["step"] for e in evals] == [20, 40] and "loss" not in evals[0]
    assert final.progress["done"] == 40 and final.progress["total"] == 40

    result = final.result
    expected_lora = 2 * (4 * 8 * (64 + 64) + 3 * 8 * (64 + 128))  # r=8 on q,k,v,o (64->64) and gate,up,down (64<->128)
    assert result["steps"] == 40 and result["final_loss"] == pytest.approx(losses[-1])
    assert result["eval_loss"] == pytest.approx(evals[-1]["eval_loss"])
    assert (result["train_rows"], result["eval_rows"]) == (TRAIN_ROWS, EVAL_ROWS)
    assert result["engine"] == "transformers" and result["device"] == "cpu"
    assert result["trainable_params"] == expected_lora < result["total_params"]

    artifacts = Path(final.job_dir) / "artifacts"
    run = read_json(artifacts / "run.json")
    assert Path(run["base_model"]).parent == state / "models" / "tiny"
    assert (Path(run["base_model"]) / "tiny_model.json").is_file()
    assert (run["dataset"], run["dataset_content_hash"]) == (train_env.ref, train_env.content_hash)
    assert run["spec_hash"] == final.spec_hash and run["precision"] == "fp32" and run["result"] == result

    lora = load_file(Path(result["adapter"]) / "adapter_model.safetensors")
    b_matrices = [t for name, t in lora.items() if "lora_B" in name]
    assert len(b_matrices) == 14 and all(t.abs().sum() > 0 for t in b_matrices)  # PEFT starts every B at zero

    from peft import PeftModel

    tokenizer = AutoTokenizer.from_pretrained(result["adapter"])
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(run["base_model"]), result["adapter"]).eval()
    chat = load_training_data(spec).eval_messages[0][:-1]
    tuned_tokens = generate(tuned, tokenizer, chat)
    assert len(tuned_tokens) == 12

    merged_dir = Path(result["merged"])
    with safe_open(merged_dir / "model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118 (not a dict)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    assert generate(merged, tokenizer, chat) == tuned_tokens

    modelfile = (artifacts / "Modelfile").read_text()
    assert f"FROM {merged_dir}\n" in modelfile
    assert 'PARAMETER stop "<|eot_id|>"' in modelfile
    assert "<|start_header_id|>assistant<|end_header_id|>\n\n\"\"\"" in modelfile


def test_tiny_preset_learns_and_leaves_a_full_model_that_loads_everywhere(state, tmp_path):
    """The default demo run visibly learns (full fine-tuning; LoRA on the random tiny model barely moved: -5%
    in 120 steps), and what it leaves loads in the registry, evaluation, the Playground and a merge."""
    from backend.data.demo import create_demo_datasets
    from backend.evaluation.runner import models_of_run
    from backend.models.registry import get_model
    from backend.playground.models import estimate_gb, resolve_choice
    from backend.training.outputs import merge

    create_demo_datasets()
    spec = preset_spec("tiny", "demo-guard", [f"max_steps={LEARN_STEPS}", f"save_steps={LEARN_STEPS}"])
    assert spec.method == "full" and spec.base_model == "tiny"
    job = manager.wait(manager.submit("train", spec.to_json(), resource="cpu").id, timeout=120)
    assert job.status == "succeeded", manager.log_tail(job.id)
    losses = [r["loss"] for r in train_records(job)]
    assert len(losses) == LEARN_STEPS
    drop = 1 - sum(losses[-3:]) / 3 / losses[0]
    assert drop >= LEARN_DROP, f"loss {losses[0]:.2f} -> {losses[-1]:.2f} ({drop:.0%}) in {LEARN_STEPS} steps"
    assert job.result["trainable_params"] == job.result["total_params"]  # every weight trains

    artifacts = Path(job.job_dir) / "artifacts"
    model_dir = artifacts / "model"
    assert job.result["adapter"] == str(model_dir) and not (artifacts / "adapter").exists()
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "tokenizer.json").is_file()
    assert get_model(f"{job.id}/model")["kind"] == "full"
    [final] = models_of_run(job.id, "final")
    [checkpoint] = models_of_run(job.id, f"checkpoint-{LEARN_STEPS}")
    assert (final.base, final.adapter) == (str(model_dir), None) and checkpoint.adapter is None
    choice = resolve_choice(job.id)  # the Playground's "JOB_ID"
    assert (choice.base, choice.adapter) == (str(model_dir), None) and estimate_gb(choice) > 0

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tuned = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    chat = load_training_data(spec).train_messages[0][:-1]
    merged = merge(read_json(artifacts / "run.json")["base_model"], model_dir, tmp_path, "fp16", full=True)
    assert generate(AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval(), tokenizer, chat) == \
        generate(tuned, tokenizer, chat)


def test_assistant_only_loss_masks_everything_but_the_answers(train_env, tmp_path):
    spec = tiny_spec(max_seq_length=512)
    data = load_training_data(spec)
    loaded = load_model(spec, choose_engine(spec), data.texts())
    trainer = build_trainer(spec, loaded, data, tmp_path / "out")
    tokenizer = loaded.tokenizer
    assert len(trainer.train_dataset) == TRAIN_ROWS  # nothing truncated away
    for example, chat in list(zip(trainer.train_dataset, data.train_messages))[:8]:
        ids, labels = example["input_ids"], example["labels"]
        answer = chat[-1]["content"]
        expected = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        assert [label for label in labels if label != -100] == expected
        first = next(i for i, label in enumerate(labels) if label != -100)
        assert labels[first:] == ids[first:] and ids[-1] == tokenizer.eos_token_id  # the answer ends the chat
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    padded = batch["input_ids"] == tokenizer.pad_token_id
    assert padded.any() and (batch["labels"][padded] == -100).all()

    spec = tiny_spec(max_seq_length=512, assistant_only_loss=False)
    whole = build_trainer(spec, load_model(spec, choose_engine(spec), data.texts()), data, tmp_path / "out2")
    assert whole.train_dataset[0]["labels"] == whole.train_dataset[0]["input_ids"]


def test_qlora_trains_a_4bit_base_on_cpu(train_env, tmp_path):
    import bitsandbytes as bnb

    spec = tiny_spec(preset="tiny-qlora", max_steps=3, tiny_hidden_size=32, tiny_layers=1)
    assert spec.method == "qlora"
    data = load_training_data(spec)
    loaded = load_model(spec, choose_engine(spec), data.texts())
    assert (loaded.model.config.hidden_size, loaded.model.config.num_hidden_layers) == (32, 1)
    trainer = build_trainer(spec, loaded, data, tmp_path / "out")
    quantized = [m for m in trainer.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantized) == 7 and quantized[0].weight.quant_state.quant_type == "nf4"
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    after = dict(trainer.model.named_parameters())
    assert all(not torch.equal(after[n], p) for n, p in before.items() if "lora_B" in n)


def test_cancel_saves_a_checkpoint_and_resume_continues_where_it_stopped(train_env):
    spec = tiny_spec(max_steps=80, save_steps=50).to_json()
    job = manager.submit("train", spec, resource="cpu")
    reference = manager.submit("train", spec, resource="cpu")  # the same run, never interrupted (second slot)
    wait_for(lambda: len(train_records(manager.get(job.id))) >= 3)
    manager.cancel(job.id)
    stopped = manager.wait(job.id, timeout=60)
    assert stopped.status == "cancelled", manager.log_tail(job.id)
    step = stopped.result["steps"]
    assert 3 <= step < 80 and stopped.result["adapter"] is None
    assert stopped.result["checkpoint"] == str(Path(job.job_dir) / "artifacts" / "checkpoints" / f"checkpoint-{step}")
    assert (Path(stopped.result["checkpoint"]) / "optimizer.pt").is_file()
    assert train_records(stopped)[-1]["step"] == step

    manager.resume(job.id)
    final = manager.wait(job.id, timeout=120)
    assert final.status == "succeeded", manager.log_tail(job.id)
    assert final.attempts == 2 and final.result["steps"] == 80
    records = train_records(final)
    resumed = records[step:]
    assert [r["step"] for r in resumed] == list(range(step + 1, 81))  # not from scratch, nothing skipped
    assert f"resuming from checkpoint-{step}" in (Path(job.job_dir) / "stdout.log").read_text()

    uninterrupted = {r["step"]: r for r in train_records(manager.wait(reference.id, timeout=120))}
    for r in resumed[:5] + resumed[-2:]:  # same weights, optimizer, schedule and data order as never stopping
        assert r["loss"] == pytest.approx(uninterrupted[r["step"]]["loss"], abs=1e-4)
        assert r["learning_rate"] == pytest.approx(uninterrupted[r["step"]]["learning_rate"])


def test_kill_9_is_lost_and_resume_uses_the_last_whole_checkpoint(train_env):
    job = manager.submit("train", tiny_spec(max_steps=100, save_steps=5).to_json(), resource="cpu")
    checkpoints = Path(job.job_dir) / "artifacts" / "checkpoints"
    wait_for(lambda: latest_checkpoint(checkpoints) is not None and len(train_records(manager.get(job.id))) >= 7)
    pid = manager.get(job.id).pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    manager.reconcile()
    lost = manager.get(job.id)
    assert lost.status == "lost" and "without recording a final status" in lost.error

    whole = latest_checkpoint(checkpoints)
    (checkpoints / "checkpoint-9999").mkdir()  # what a kill in the middle of a save leaves: no trainer state
    assert latest_checkpoint(checkpoints) == whole
    manager.resume(job.id)
    final = manager.wait(job.id, timeout=120)
    assert final.status == "succeeded", manager.log_tail(job.id)
    steps = [r["step"] for r in train_records(final)]
    restart = next(i for i in range(1, len(steps)) if steps[i] <= steps[i - 1])
    assert steps[restart] == int(whole.name.split("-")[1]) + 1 and steps[-1] == 100


def test_two_cpu_slots_run_at_most_two_jobs_at_once(train_env):
    jobs = [manager.submit("train", tiny_spec(max_steps=15).to_json(), resource="cpu") for _ in range(3)]
    most = 0
    both = False
    while True:
        statuses = [manager.get(j.id).status for j in jobs]
        active = sum(s in STARTED for s in statuses)
        most = max(most, active)
        both |= sum(s == "running" for s in statuses) == 2
        if all(s in ENDED for s in statuses):
            break
        manager.schedule()
        time.sleep(0.05)
    assert most == 2 and both
    assert [manager.get(j.id).status for j in jobs] == ["succeeded"] * 3


def test_missing_base_model_fails_with_a_plain_message(train_env, tmp_path):
    missing = tmp_path / "no-such-model"
    job = manager.submit("train", tiny_spec(base_model=str(missing)).to_json(), resource="cpu")
    final = manager.wait(job.id, timeout=60)
    assert final.status == "failed"
    assert final.error == f"LabError: base model folder {missing} does not exist on this machine"
    assert "Traceback" in manager.log_tail(job.id)


def test_rows_with_no_answer_left_after_the_cut_are_named(train_env):
    job = manager.submit("train", tiny_spec(max_seq_length=16, max_steps=2).to_json(), resource="cpu")
    final = manager.wait(job.id, timeout=120)
    assert final.status == "failed"
    assert "has an answer left within max_seq_length=16" in final.error  # not torch's "num_samples=0"


def test_models_that_cannot_be_used_are_named_plainly(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LabError, match=r"^model meta-llama/Llama-3.2-1B is not on this machine and the Hugging Face hub"):
        load_model(tiny_spec(base_model="meta-llama/Llama-3.2-1B"), "transformers", [])
    plain = shutil.copytree(tiny_model, tmp_path / "no-template")
    (plain / "chat_template.jinja").unlink()
    with pytest.raises(LabError, match=r"tokenizer of .*no-template has no chat template"):
        load_model(tiny_spec(base_model=str(plain)), "transformers", [])
    with pytest.raises(LabError, match=r"none of the target modules \(wq, wv\) exist .* down_proj, gate_proj"):
        load_model(tiny_spec(base_model=str(tiny_model), target_modules=["wq", "wv"]), "transformers", [])


def test_out_of_memory_is_explained_with_what_to_change():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(ValueError("bad value"))
    message = out_of_memory_message(tiny_spec(batch_size=8, max_seq_length=4096))
    assert "batch_size (now 8" in message and "max_seq_length (now 4096)" in message
    assert "gradient_checkpointing" in message and "qlora" in message


def test_data_problems_name_the_dataset_and_row(state):
    with VersionWriter("no-answer", "generic", "import") as writer:
        writer.write(pd.DataFrame({"id": ["a", "b", "c"], "prompt": ["p1", "p2", "p3"], "response": ["r1", "r2", " "]}))
        writer.commit()
    with pytest.raises(DataError, match=r"^no-answer@1, row 3: the row has no assistant answer"):
        load_training_data(tiny_spec("no-answer"))
    store_dataset("other-splits", guard_frame().head(4).assign(split=["dev", "dev", "test", "test"]))
    with pytest.raises(LabError, match=r"no split 'train' to train on \(splits: dev, test\)"):
        load_training_data(tiny_spec("other-splits"))
    unsplit = load_training_data(tiny_spec(store_dataset("unsplit", guard_frame().drop(columns="split")).ref))
    assert (unsplit.train_rows, unsplit.eval_rows) == (TRAIN_ROWS + EVAL_ROWS, 0)


def test_ollama_template_follows_chatml_tokens(tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<unk>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "hi"])}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<unk>")),
                                        eos_token="<|endoftext|>", unk_token="<unk>",
                                        chat_template="{% for m in messages %}<|im_start|>{{ m.role }}\n"
                                                      "{{ m.content }}<|im_end|>\n{% endfor %}")
    template, stops, fmt = ollama_template(tokenizer)
    assert fmt == "chatml" and stops == ["<|im_end|>", "<|endoftext|>"]
    assert template.endswith("{{ end }}{{ end }}<|im_start|>assistant\n")
    assert '{{ if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n' in template
