"""Benchmark: the training runner against a bare TRL script, and packing on vs off.

    python benchmarks/bench_training.py [--steps 200] [--warmup 10] [--rounds 5]

(a) The same LoRA SFT of the tiny model on the demo guard data, twice: as a lab job (its own process,
    callbacks writing metrics.jsonl and progress, token counting, checkpoints) and as a bare TRL script
    (SFTTrainer with the same settings and nothing else) in its own process. Steps per second are
    taken from step-end timestamps after the first --warmup steps, so start-up is left out on both
    sides; the sides alternate for --rounds rounds and the medians are compared. Target: ours / bare >= 0.95.
(b) Packing on vs off through the runner, on rows of skewed length (many short, a few long): real
    (non-padding) tokens per second, median over the steps after warm-up. Without flash attention
    the runner feeds packed rows one per micro-batch (see runner.micro_batches).

FTLAB_SLOTS=cpu=1 here, so the job gets every core, as the bare script does.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FTLAB_STATE", tempfile.mkdtemp(prefix="bench-training-"))
os.environ["FTLAB_SLOTS"] = "cpu=1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd

from backend.data.demo import create_demo_datasets
from backend.data.store import VersionWriter
from backend.jobs import manager
from backend.jobs.files import read_json, read_jsonl
from backend.jobs.status import ENDED
from backend.training.data import load_training_data
from backend.training.spec import TrainSpec


def spec_for(dataset: str, steps: int, **overrides) -> TrainSpec:
    settings = {"dataset": dataset, "base_model": "tiny", "lora_r": 8, "lora_alpha": 16, "learning_rate": 2e-3,
                "warmup_ratio": 0.0, "max_steps": steps, "batch_size": 4, "max_seq_length": 256, "precision": "fp32",
                "save_steps": 10_000, "eval_steps": 0, "gpus": 0}
    return TrainSpec(**{**settings, **overrides})


def run_job(spec: TrainSpec) -> tuple[list[dict], dict]:
    job = manager.submit("train", spec.to_json(), resource="cpu")
    status = Path(job.job_dir) / "status.json"
    while (read_json(status, {}) or {}).get("status") not in ENDED:
        time.sleep(1.0)  # a file read, not manager.wait's DB + process checks: the job has both cores to itself
    final = manager.wait(job.id, timeout=60)
    if final.status != "succeeded":
        raise SystemExit(f"job {job.id} {final.status}: {final.error}\n{manager.log_tail(job.id)}")
    records = [r for r in read_jsonl(Path(final.job_dir) / "metrics.jsonl") if "loss" in r]
    return records, read_json(Path(final.job_dir) / "artifacts" / "run.json")


def steps_per_second(ends: list[tuple[int, float]], warmup: int) -> float:
    """(step, time at its end) pairs -> steps per second after the warm-up steps."""
    (first_step, first_time), (last_step, last_time) = ends[warmup], ends[-1]
    return (last_step - first_step) / (last_time - first_time)


def bare_trl(config: dict) -> list[tuple[int, float]]:
    """The plain TRL script: load, LoRA, SFTTrainer.train(); only step-end times are recorded."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        TrainerCallback,
        set_seed,
    )
    from trl import SFTConfig, SFTTrainer

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.ends: list[tuple[int, float]] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append((state.global_step, time.time()))

    set_seed(config["seed"])
    tokenizer = AutoTokenizer.from_pretrained(config["model"])
    model = AutoModelForCausalLM.from_pretrained(config["model"], dtype=torch.float32)
    chats = [json.loads(line) for line in Path(config["data"]).read_text().splitlines()]
    times = StepTimes()
    trainer = SFTTrainer(
        model=model, processing_class=tokenizer, train_dataset=Dataset.from_list(chats), callbacks=[times],
        peft_config=LoraConfig(r=config["lora_r"], lora_alpha=config["lora_alpha"], lora_dropout=config["lora_dropout"],
                               target_modules=config["target_modules"], task_type="CAUSAL_LM"),
        args=SFTConfig(output_dir=config["out"], max_steps=config["steps"], per_device_train_batch_size=config["batch"],
                       max_length=config["max_length"], learning_rate=config["lr"], lr_scheduler_type="cosine",
                       warmup_steps=0, assistant_only_loss=True, logging_steps=1, save_steps=10_000, bf16=False,
                       fp16=False, gradient_checkpointing=False, report_to="none", seed=config["seed"],
                       dataloader_num_workers=0, dataloader_pin_memory=False, disable_tqdm=True),
    )
    trainer.train()
    return times.ends


def run_bare(config: dict, work: Path) -> list[tuple[int, float]]:
    (work / "config.json").write_text(json.dumps(config))
    subprocess.run([sys.executable, __file__, "--bare", str(work / "config.json")], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((work / "ends.json").read_text())


def compare_with_bare_trl(steps: int, warmup: int, rounds: int) -> None:
    """Alternating rounds (ours, bare, ours, bare, ...), so drifts in machine load hit both sides."""
    spec = spec_for("demo-guard", steps)
    work = Path(tempfile.mkdtemp(prefix="bare-trl-"))
    data = work / "chats.jsonl"
    data.write_text("".join(json.dumps({"messages": m}) + "\n" for m in load_training_data(spec).train_messages))
    ours, bare = [], []
    for _ in range(rounds):
        records, run = run_job(spec)
        ours.append(steps_per_second([(r["step"], r["ts"]) for r in records], warmup))
        config = {"model": run["base_model"], "data": str(data), "out": str(work / "out"), "steps": steps,
                  "batch": spec.batch_size, "max_length": spec.max_seq_length, "lr": spec.learning_rate,
                  "seed": spec.seed, "lora_r": spec.lora_r, "lora_alpha": spec.lora_alpha,
                  "lora_dropout": spec.lora_dropout, "target_modules": spec.target_modules}
        bare.append(steps_per_second(run_bare(config, work), warmup))
    print(f"(a) LoRA SFT, tiny model, {steps} steps, batch {spec.batch_size}, seq {spec.max_seq_length}, "
          f"after {warmup} warm-up steps, median of {rounds} alternating rounds")
    print(f"    runner job:      {statistics.median(ours):7.2f} steps/s  ({', '.join(f'{v:.2f}' for v in ours)})")
    print(f"    bare TRL script: {statistics.median(bare):7.2f} steps/s  ({', '.join(f'{v:.2f}' for v in bare)})")
    print(f"    ratio ours/bare: {statistics.median(ours) / statistics.median(bare):7.3f}  (target >= 0.95)")


def skewed_dataset(rows: int = 400) -> str:
    """Generic prompt/response rows: nine in ten short, one in ten long."""
    words = ["the", "lab", "trains", "small", "models", "on", "curated", "data", "and", "logs", "every", "step", "to", "a", "file"]
    records = []
    for i in range(rows):
        n = 300 if i % 10 == 0 else 12
        records.append({"id": f"r{i}", "prompt": f"Question {i}: " + " ".join(words[(i + k) % len(words)] for k in range(n // 3)),
                        "response": " ".join(words[(i * 7 + k) % len(words)] for k in range(n))})
    with VersionWriter("skewed", "generic", "import") as writer:
        writer.write(pd.DataFrame(records))
        return writer.commit().ref


def compare_packing(steps: int, warmup: int) -> None:
    dataset = skewed_dataset()
    rates = {}
    for packing in (False, True):
        records, _ = run_job(spec_for(dataset, steps, packing=packing, max_seq_length=1024, batch_size=8))
        rates[packing] = statistics.median(r["tokens_per_second"] for r in records[warmup:])
    print(f"(b) skewed lengths (9 in 10 rows short, 1 in 10 long), batch 8, seq 1024, {steps} steps")
    print(f"    packing off: {rates[False]:9.0f} tokens/s (non-padding)")
    print(f"    packing on:  {rates[True]:9.0f} tokens/s (non-padding)")
    print(f"    ratio on/off: {rates[True] / rates[False]:6.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of each side in (a)")
    parser.add_argument("--bare", help=argparse.SUPPRESS)  # internal: run the bare TRL side from this config
    args = parser.parse_args(argv)
    if args.bare:
        config = Path(args.bare)
        (config.parent / "ends.json").write_text(json.dumps(bare_trl(json.loads(config.read_text()))))
        return 0
    create_demo_datasets()
    compare_with_bare_trl(args.steps, args.warmup, args.rounds)
    compare_packing(max(args.steps // 5, args.warmup + 10), args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
