"""The training spec: every knob of a run, validated, with help text; presets taken from the seeds.

A spec is saved as the job's spec.json, loads from YAML/JSON (`train launch SPEC.yaml`), and prints as
the equivalent CLI command, so the dashboard form, the CLI and a file all describe the same run.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from backend.errors import LabError
from backend.validation import COUNT_LIMIT, SEED, TOKENS, Range, check_fields

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
METHODS = ("lora", "qlora", "full")
SCHEDULES = ("cosine", "linear", "constant", "constant_with_warmup")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
OPTIMIZERS = ("adamw_torch", "paged_adamw_8bit", "adamw_8bit", "sgd")
ENGINES = ("auto", "unsloth", "transformers")
TINY = "tiny"
TINY_STEPS = 120  # the tiny preset's run: full fine-tuning takes the loss down 46-95% on the demo datasets
# The Train form's sections, named in each field's metadata "group" (ui/field_form.py lists the keys a field may
# carry); the form draws them in the order the fields first name them, unfolded when in FORM_OPEN. "dataset" is
# hidden: the page picks it above the form.
MODEL, LORA, OPTIMISATION, DATA, OUTPUTS, TINY_MODEL = ("Model", "LoRA", "Optimisation", "Data",
                                                        "Checkpoints and outputs", "Tiny model")
FORM_OPEN = (MODEL, OPTIMISATION)


def _f(default, help: str, **kw):
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainSpec:
    dataset: str = _f("", "dataset NAME or NAME@VERSION (a trace version where the recipe has traces)", hidden=True)
    base_model: str = _f(TINY, "Hugging Face id, local folder, or 'tiny' (built here from the dataset's text)",
                         group=MODEL)
    method: str = _f("lora", "lora, qlora (4-bit base, LoRA adapter) or full (every weight)", choices=METHODS,
                     group=MODEL)
    lora_r: int = _f(16, "LoRA rank", valid=Range(1, 4096, integer=True), group=LORA)
    lora_alpha: int = _f(32, "LoRA alpha (scale = alpha / r)", valid=Range(1, 100_000, integer=True), group=LORA)
    lora_dropout: float = _f(0.05, "dropout on the LoRA path", valid=Range(0, 1), group=LORA)
    target_modules: list = _f(list(ALL_LINEAR), "modules that get adapters ('all-linear' for every linear layer)",
                              group=LORA)
    learning_rate: float = _f(2e-4, "peak learning rate", valid=Range(0, 1, above=True), group=OPTIMISATION)
    lr_scheduler: str = _f("cosine", "learning rate schedule", choices=SCHEDULES, group=OPTIMISATION)
    warmup_ratio: float = _f(0.03, "share of steps spent warming up", valid=Range(0, 1), group=OPTIMISATION)
    weight_decay: float = _f(0.0, "AdamW weight decay", valid=Range(0, 10), group=OPTIMISATION)
    epochs: float = _f(1.0, "passes over the training rows (ignored when max_steps > 0)", valid=Range(0, 100_000),
                       group=OPTIMISATION)
    max_steps: int = _f(-1, "stop after this many optimizer steps (-1: use epochs)",
                       valid=Range(-1, COUNT_LIMIT, integer=True, meaning="-1 or 0 = use epochs"), group=OPTIMISATION)
    batch_size: int = _f(4, "rows per device per step", valid=Range(1, 100_000, integer=True), group=OPTIMISATION)
    grad_accum: int = _f(1, "micro-batches per optimizer step (effective batch = batch_size x grad_accum x GPUs)",
                        valid=Range(1, 100_000, integer=True), group=OPTIMISATION)
    max_seq_length: int = _f(2048, "tokens per row; longer rows are truncated", valid=TOKENS, group=DATA)
    packing: bool = _f(False, "pack several short rows into one sequence (faster on skewed lengths)", group=DATA)
    assistant_only_loss: bool = _f(True, "compute the loss on the assistant's tokens only", group=DATA)
    precision: str = _f("auto", "bf16/fp16 on a GPU that has it, fp32 on CPU", choices=PRECISIONS, group=MODEL)
    optimizer: str = _f("adamw_torch", "optimizer (paged_adamw_8bit needs bitsandbytes)", choices=OPTIMIZERS,
                        group=OPTIMISATION)
    gradient_checkpointing: bool = _f(False, "trade compute for activation memory", group=OPTIMISATION)
    seed: int = _f(42, "random seed", valid=SEED, group=OPTIMISATION)
    train_split: str = _f("train", "split to train on when the dataset has splits (else every row)", group=DATA)
    eval_split: str = _f("validation", "split for eval loss when present ('' for none)", group=DATA)
    eval_steps: int = _f(0, "evaluate every N steps (0: at the end only)", valid=Range(0, COUNT_LIMIT, integer=True),
                         group=OUTPUTS)
    save_steps: int = _f(50, "checkpoint every N steps", valid=Range(1, COUNT_LIMIT, integer=True), group=OUTPUTS)
    logging_steps: int = _f(1, "log metrics every N steps", valid=Range(1, COUNT_LIMIT, integer=True), group=OUTPUTS)
    engine: str = _f("auto", "auto: Unsloth when CUDA and unsloth are present, else Transformers + PEFT + TRL",
                     choices=ENGINES, group=MODEL)
    gpus: int = _f(-1, "GPUs for this job (-1: one if any is present, else CPU)",
                  valid=Range(-1, 1024, integer=True, meaning="-1 = one if any is present"), group=MODEL)
    merge: bool = _f(False, "also write a merged 16-bit model", group=OUTPUTS)
    modelfile: bool = _f(False, "also write an Ollama Modelfile (implies merge)", group=OUTPUTS)
    tiny_hidden_size: int = _f(64, "tiny model only: hidden size", valid=Range(8, 8192, integer=True), group=TINY_MODEL)
    tiny_layers: int = _f(2, "tiny model only: layers", valid=Range(1, 256, integer=True), group=TINY_MODEL)

    def __post_init__(self) -> None:
        check_fields(self, "training spec")  # every number finite and in range (backend/validation.py)
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise LabError(f"training spec: {f.name} must be one of {', '.join(choices)}, got {getattr(self, f.name)!r}")
        positive = ("lora_r", "lora_alpha", "batch_size", "grad_accum", "max_seq_length", "save_steps", "logging_steps")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise LabError(f"training spec: {name} must be at least 1, got {getattr(self, name)!r}")
        if not 0 < self.learning_rate < 1:
            raise LabError(f"training spec: learning_rate must be between 0 and 1, got {self.learning_rate!r}")
        if not 0 <= self.warmup_ratio < 1 or not 0 <= self.lora_dropout < 1:
            raise LabError("training spec: warmup_ratio and lora_dropout must be in [0, 1)")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise LabError("training spec: give epochs > 0 or max_steps > 0")
        if isinstance(self.target_modules, str):
            self.target_modules = [m.strip() for m in self.target_modules.split(",") if m.strip()]
        if self.modelfile:
            self.merge = True

    def to_json(self) -> dict:
        return asdict(self)

    def cli_command(self, preset: str | None = None) -> str:
        """The `train launch` command that describes this same run."""
        base = TrainSpec(**asdict(PRESETS[preset].spec)) if preset else TrainSpec()
        args = ["python", "-m", "backend", "train", "launch"] + (["--preset", preset] if preset else [])
        args += ["--dataset", self.dataset]
        for f in fields(self):
            if f.name == "dataset":
                continue
            value, default = getattr(self, f.name), getattr(base, f.name)
            if value != default:
                text = ",".join(value) if isinstance(value, list) else str(value).lower() if isinstance(value, bool) else str(value)
                args += ["--set", f"{f.name}={text}"]
        return shlex.join(args)


def _coerce(name: str, text: str) -> Any:
    f = TrainSpec.__dataclass_fields__.get(name)
    if f is None:
        raise LabError(f"unknown training setting {name!r}; settings: {', '.join(TrainSpec.__dataclass_fields__)}")
    kind = type(f.default_factory() if f.default_factory is not MISSING else f.default)
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if kind is list:
            return [m.strip() for m in text.split(",") if m.strip()]
        return kind(text)
    except ValueError:
        raise LabError(f"training setting {name}: cannot read {text!r} as {kind.__name__}") from None


def apply_overrides(spec: TrainSpec, pairs: list[str] | dict) -> TrainSpec:
    """`--set key=value` pairs (or a dict) on top of a spec, validated again."""
    changes = dict(pairs) if isinstance(pairs, dict) else {}
    if not isinstance(pairs, dict):
        for pair in pairs or []:
            key, sep, value = pair.partition("=")
            if not sep:
                raise LabError(f"--set expects KEY=VALUE, got {pair!r}")
            changes[key.strip()] = _coerce(key.strip(), value.strip())
    return replace(spec, **changes)


def load_spec_file(path: str | Path) -> TrainSpec:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise LabError(f"{path}: cannot read the training spec ({exc})") from None
    if not isinstance(data, dict):
        raise LabError(f"{path}: a training spec is a mapping of settings")
    preset = data.pop("preset", None)
    spec = PRESETS[preset].spec if preset else TrainSpec()
    unknown = [k for k in data if k not in TrainSpec.__dataclass_fields__]
    if unknown:
        raise LabError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return replace(spec, **data)


@dataclass(frozen=True)
class Preset:
    name: str
    source: str
    spec: TrainSpec
    note: str = ""


def _preset(name: str, source: str, note: str = "", **settings) -> Preset:
    return Preset(name, source, TrainSpec(**settings), note)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    _preset("tiny", "built here", "a tiny Llama built from the dataset's text, fully fine-tuned (its weights are "
            "random, so every weight has to learn): runs on a laptop CPU, no network",
            base_model=TINY, method="full", learning_rate=2e-3, max_steps=TINY_STEPS, batch_size=4,
            max_seq_length=512, precision="fp32", save_steps=TINY_STEPS // 4, eval_steps=TINY_STEPS // 4,
            warmup_ratio=0.0, gpus=0),
    _preset("tiny-lora", "built here", "the tiny model with a LoRA adapter r8: tests the adapter code path (an "
            "adapter on random weights learns little)",
            base_model=TINY, method="lora", lora_r=8, lora_alpha=16, learning_rate=2e-3, max_steps=30, batch_size=4,
            max_seq_length=512, precision="fp32", save_steps=10, eval_steps=10, warmup_ratio=0.0, gpus=0),
    _preset("tiny-qlora", "built here", "the tiny model in 4-bit NF4 with a LoRA adapter r8 (bitsandbytes on the "
            "CPU): tests the QLoRA code path",
            base_model=TINY, method="qlora", lora_r=8, lora_alpha=16, learning_rate=2e-3, max_steps=30, batch_size=4,
            max_seq_length=512, precision="fp32", save_steps=10, eval_steps=10, warmup_ratio=0.0, gpus=0),
    _preset("seed000-llama32-3b-unsloth", "seed 000 (R-SFT on Colab T4)",
            "Unsloth LoRA on Llama-3.2-3B-Instruct, loss on the answers only",
            base_model="unsloth/Llama-3.2-3B-Instruct", method="lora", lora_r=16, lora_alpha=16, lora_dropout=0.0,
            learning_rate=2e-4, epochs=3, batch_size=2, grad_accum=4, max_seq_length=2048, engine="unsloth",
            optimizer="adamw_8bit", weight_decay=0.01, warmup_ratio=0.03, lr_scheduler="linear", precision="auto"),
    _preset("guardreasoner-rsft", "GuardReasoner (arXiv 2501.18492)",
            "full fine-tuning: lr 5e-5, 3 epochs, effective batch 384, cutoff 2048, cosine, bf16",
            base_model="meta-llama/Llama-3.2-1B", method="full", learning_rate=5e-5, epochs=3, batch_size=4,
            grad_accum=96, max_seq_length=2048, lr_scheduler="cosine", precision="bf16", warmup_ratio=0.0,
            gradient_checkpointing=True),
    _preset("guardreasoner-rsft-lora", "GuardReasoner, single-GPU LoRA variant",
            "the R-SFT schedule with a LoRA adapter on Llama-3.2-3B, fits one 24 GB GPU",
            base_model="meta-llama/Llama-3.2-3B", method="lora", lora_r=64, lora_alpha=128, learning_rate=1e-4,
            epochs=3, batch_size=4, grad_accum=32, max_seq_length=2048, lr_scheduler="cosine", precision="bf16",
            gradient_checkpointing=True),
    _preset("seed001-tinyllama", "seed 001 (train_local.py)", "TinyLlama 1.1B chat, LoRA, fp16",
            base_model="TinyLlama/TinyLlama-1.1B-Chat-v1.0", method="lora", lora_r=16, lora_alpha=32,
            learning_rate=2e-4, epochs=3, batch_size=4, max_seq_length=1024, precision="fp16",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
    _preset("seed001-mistral7b-4bit", "seed 001 (train_local.py --use-4bit --lora-rank 32)",
            "Mistral-7B-Instruct-v0.2 in 4 bits, LoRA r32",
            base_model="mistralai/Mistral-7B-Instruct-v0.2", method="qlora", lora_r=32, lora_alpha=64,
            learning_rate=2e-4, epochs=3, batch_size=2, max_seq_length=1024, precision="fp16",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
    _preset("seed002-qwen3-4b-raft", "seed 002 (raft_config.yaml)", "Qwen3-4B-Instruct-2507, LoRA r32 alpha 64",
            base_model="Qwen/Qwen3-4B-Instruct-2507", method="lora", lora_r=32, lora_alpha=64, learning_rate=2e-4,
            epochs=3, batch_size=2, grad_accum=4, warmup_ratio=0.03, max_seq_length=4096, engine="auto",
            merge=True),
    _preset("seed003-llama31-8b-qlora", "seed 003 (configs/llama3_1_8b_qlora.yaml)",
            "Llama-3.1-8B-Instruct QLoRA r64 alpha 128, lr 2e-4 cosine, warmup 3%, wd 0.01, batch 4x4, seq 2048, "
            "paged 8-bit AdamW, bf16",
            base_model="meta-llama/Meta-Llama-3.1-8B-Instruct", method="qlora", lora_r=64, lora_alpha=128,
            lora_dropout=0.05, learning_rate=2e-4, lr_scheduler="cosine", warmup_ratio=0.03, weight_decay=0.01,
            epochs=3, batch_size=4, grad_accum=4, max_seq_length=2048, optimizer="paged_adamw_8bit",
            precision="bf16", save_steps=500, eval_steps=500),
)}


def preset_spec(name: str, dataset: str, overrides: list[str] | dict | None = None) -> TrainSpec:
    if name not in PRESETS:
        raise LabError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return apply_overrides(replace(PRESETS[name].spec, dataset=dataset), overrides or [])
