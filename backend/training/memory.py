"""Peak memory of a training run, estimated before launch from the model's shape (nothing is downloaded).

GB here means GiB (2**30 bytes), the unit nvidia-smi and torch report. h = hidden size, i = MLP
(intermediate) size, V = vocabulary, L = layers, tokens = batch_size x max_seq_length (padding to the
longest row in a batch makes max_seq_length the worst case, which is what "will it fit" needs).

    total = weights + adapter + gradients + optimizer + activations + overhead

weights      every parameter at the training precision: fp32 4 B, bf16/fp16 2 B ("auto": bf16 on a GPU,
             fp32 on the CPU). qlora keeps the decoder's linear layers in 4-bit NF4, 0.5 B plus 0.016 B
             of double-quantised block constants per parameter; embeddings, lm head and norms stay 16-bit.
adapter      LoRA A and B on each targeted module of each layer: r x (in + out) parameters, in fp32
             (PEFT upcasts adapters), 4 B each. Full fine-tuning has no adapter.
gradients    one per trainable parameter at its own dtype (fp32 adapters; the precision for full).
optimizer    per trainable parameter: AdamW 8 B (two fp32 moments), 8-bit AdamW (adamw_8bit and
             paged_adamw_8bit, paging counted the same) 2 B, SGD 0 (no momentum).
activations  a decoder layer keeps about 10 h-sized and 4 i-sized values per token for the backward pass
             (attention through SDPA/flash kernels, so no seq x seq matrix), at the activation precision:
               without gradient checkpointing:  tokens x L x (10 h + 4 i)
               with gradient checkpointing:     tokens x L x h  (each layer's saved input)
                                              + tokens x (10 h + 4 i)  (the one layer being recomputed)
             Unsloth offloads the saved layer inputs to CPU RAM, so on that engine only the recomputed
             layer counts. Then the logits, tokens x V: at the activation precision plus the fp32 copy the
             loss takes (4 B); Unsloth's chunked cross-entropy never makes the fp32 copy.
overhead     CUDA context and allocator slack, 0.75 GB on a GPU; the Python and torch runtime, 0.5 GB on
             the CPU.

Biases and per-head norms are left out (under 0.1% of any model here). With batch 1, 2048 tokens,
LoRA r16 on all linear layers, 8-bit AdamW, gradient checkpointing and the Unsloth engine this lands
within 25% of Unsloth's published minimum VRAM (tests/test_memory.py checks their table).

Data parallel training keeps a full copy on every GPU, so the total is what each GPU needs.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import psutil

from backend.errors import LabError
from backend.jobs.gpus import gpu_inventory
from backend.jobs.system import gpu_stats
from backend.training.spec import ALL_LINEAR, TINY, TrainSpec

GB = 2**30
NF4_BYTES = 0.5 + 0.016
OVERHEAD_GB = {"gpu": 0.75, "cpu": 0.5}
OPTIMIZER_BYTES = {"adamw_torch": 8, "adamw_8bit": 2, "paged_adamw_8bit": 2, "sgd": 0}
LAYER_ACTIVATIONS_H, LAYER_ACTIVATIONS_I = 10, 4
MIN_SUGGESTED_SEQ = 512
PARTS = ("weights", "adapter", "gradients", "optimizer", "activations", "overhead", "total")


@dataclass(frozen=True)
class ModelShape:
    name: str
    source: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    tied_embeddings: bool = False
    head_dim: int = 0

    def __post_init__(self) -> None:
        if not self.head_dim:
            object.__setattr__(self, "head_dim", self.hidden // self.heads)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer in one decoder layer, by the module names PEFT targets."""
        h, i, q, kv = self.hidden, self.intermediate, self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    @property
    def decoder_linear_params(self) -> int:
        return self.layers * sum(a * b for a, b in self.linear_shapes().values())

    @property
    def unquantised_params(self) -> int:
        """Embeddings, lm head (unless tied) and norms: what qlora leaves at 16 bit."""
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return embeddings + (2 * self.layers + 1) * self.hidden

    @property
    def params(self) -> int:
        return self.decoder_linear_params + self.unquantised_params


def _known(hidden, layers, heads, kv_heads, intermediate, vocab, tied=False, head_dim=0) -> dict:
    return {"hidden": hidden, "layers": layers, "heads": heads, "kv_heads": kv_heads, "intermediate": intermediate,
            "vocab": vocab, "tied_embeddings": tied, "head_dim": head_dim}


# Shapes from each model's published config.json, matched as a case-insensitive substring of the
# Hugging Face id (the longest match wins, so "mistral-7b-v0.3" beats "mistral-7b").
KNOWN_ARCHITECTURES: dict[str, dict] = {
    "llama-3.2-1b": _known(2048, 16, 32, 8, 8192, 128256, tied=True),
    "llama-3.2-3b": _known(3072, 28, 24, 8, 8192, 128256, tied=True),
    "llama-3-8b": _known(4096, 32, 32, 8, 14336, 128256),
    "llama-3.1-8b": _known(4096, 32, 32, 8, 14336, 128256),
    "llama-3-70b": _known(8192, 80, 64, 8, 28672, 128256),
    "llama-3.1-70b": _known(8192, 80, 64, 8, 28672, 128256),
    "llama-3.3-70b": _known(8192, 80, 64, 8, 28672, 128256),
    "llama-2-7b": _known(4096, 32, 32, 32, 11008, 32000),
    "llama-2-13b": _known(5120, 40, 40, 40, 13824, 32000),
    "mistral-7b": _known(4096, 32, 32, 8, 14336, 32000),
    "mistral-7b-v0.3": _known(4096, 32, 32, 8, 14336, 32768),
    "mistral-7b-instruct-v0.3": _known(4096, 32, 32, 8, 14336, 32768),
    "tinyllama-1.1b": _known(2048, 22, 32, 4, 5632, 32000),
    "qwen2.5-0.5b": _known(896, 24, 14, 2, 4864, 151936, tied=True),
    "qwen2.5-1.5b": _known(1536, 28, 12, 2, 8960, 151936, tied=True),
    "qwen2.5-3b": _known(2048, 36, 16, 2, 11008, 151936, tied=True),
    "qwen2.5-7b": _known(3584, 28, 28, 4, 18944, 152064),
    "qwen3-0.6b": _known(1024, 28, 16, 8, 3072, 151936, tied=True, head_dim=128),
    "qwen3-1.7b": _known(2048, 28, 16, 8, 6144, 151936, tied=True, head_dim=128),
    "qwen3-4b": _known(2560, 36, 32, 8, 9728, 151936, tied=True, head_dim=128),
    "qwen3-8b": _known(4096, 36, 32, 8, 12288, 151936, head_dim=128),
    "qwen3-14b": _known(5120, 40, 40, 8, 17408, 151936, head_dim=128),
}

TINY_VOCAB, TINY_HEADS = 2048, 4


@dataclass
class Suggestion:
    change: str
    settings: dict
    total_gb: float
    fits: bool

    def __str__(self) -> str:
        return f"{self.change}: {format_size(self.total_gb)} ({'fits' if self.fits else 'still too big'})"


@dataclass
class MemoryEstimate:
    model: str
    assumptions: str
    params: int
    trainable: int
    weights_gb: float
    adapter_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    overhead_gb: float
    total_gb: float
    devices: list[dict]
    fits: bool | None
    verdict: str
    suggestions: list[Suggestion] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def table(self) -> dict[str, str]:
        """Each part of the estimate with a readable unit (a tiny model's parts are MB, not 0.00 GB)."""
        return {name: format_size(getattr(self, f"{name}_gb")) for name in PARTS}


def format_size(gb: float) -> str:
    """GB from 1 GB up, MB below, KB below 1 MB; three significant digits under 1 GB."""
    if gb >= 1:
        return f"{gb:.2f} GB"
    if gb * 1024 >= 1:
        return f"{gb * 1024:.3g} MB"
    return f"{gb * 1024 * 1024:.3g} KB" if gb > 0 else "0"


def _gb(value: float) -> float:
    """GB kept to the byte, so the KB- and MB-sized parts of a tiny model survive in the JSON."""
    return round(value, 9)


def _from_config(config: dict, name: str, source: str) -> ModelShape:
    if "hidden_size" not in config and isinstance(config.get("text_config"), dict):
        config = config["text_config"]  # multimodal configs nest the language model's
    if config.get("num_local_experts") or config.get("num_experts"):
        raise LabError(f"{source}: mixture-of-experts models are not covered by the memory estimate")
    required = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
    missing = [key for key in required if not isinstance(config.get(key), int)]
    if missing:
        raise LabError(f"{source}: no {', '.join(missing)} in the model config; the memory estimate covers "
                       "Llama-style decoders (hidden_size, num_hidden_layers, num_attention_heads, "
                       "intermediate_size, vocab_size)")
    heads = config["num_attention_heads"]
    return ModelShape(name, source, config["hidden_size"], config["num_hidden_layers"], heads,
                      config.get("num_key_value_heads") or heads, config["intermediate_size"],
                      config["vocab_size"], bool(config.get("tie_word_embeddings", False)),
                      config.get("head_dim") or 0)


def _cached_config(model_id: str) -> Path | None:
    """config.json from the local Hugging Face cache, when this model was fetched before (no network)."""
    if model_id.count("/") != 1:
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model_id, "config.json")
    except ValueError:  # not a valid repo id
        return None
    return Path(found) if isinstance(found, str) else None


def _read_config(path: Path) -> dict:
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"{path}: cannot read the model config ({exc})") from None
    if not isinstance(config, dict):
        raise LabError(f"{path}: a model config is a JSON object")
    return config


def model_shape(spec: TrainSpec, model_config: dict | None = None) -> ModelShape:
    """The base model's shape: from model_config, the tiny settings, a local folder, the HF cache or the table."""
    name = spec.base_model
    if model_config is not None:
        return _from_config(model_config, name, "the given model config")
    if name == TINY:
        return ModelShape(TINY, "tiny model settings", spec.tiny_hidden_size, spec.tiny_layers, TINY_HEADS,
                          TINY_HEADS, 2 * spec.tiny_hidden_size, TINY_VOCAB)
    folder = Path(name).expanduser()
    if folder.is_dir():
        config = folder / "config.json"
        if not config.is_file():
            raise LabError(f"{folder}: no config.json in this model folder, so its size is unknown")
        return _from_config(_read_config(config), name, str(config))
    cached = _cached_config(name)
    if cached is not None:
        return _from_config(_read_config(cached), name, f"{cached} (Hugging Face cache)")
    lowered = name.lower()
    matches = [key for key in KNOWN_ARCHITECTURES if key in lowered]
    if matches:
        key = max(matches, key=len)
        return ModelShape(name, f"known architecture {key}", **KNOWN_ARCHITECTURES[key])
    raise LabError(f"unknown model {name!r}: its size cannot be estimated without downloading. Put the model "
                   "(or just its config.json) in a local folder and give that folder as base_model. Known ids "
                   f"contain one of: {', '.join(sorted(KNOWN_ARCHITECTURES))}")


def _adapter_params(shape: ModelShape, spec: TrainSpec) -> int:
    shapes = shape.linear_shapes()
    targets = list(ALL_LINEAR) if spec.target_modules in (["all-linear"], ["all_linear"]) else spec.target_modules
    unknown = [m for m in targets if m not in shapes]
    if unknown:
        raise LabError(f"training spec: target_modules {', '.join(unknown)} not in the model's linear layers "
                       f"({', '.join(shapes)}, or 'all-linear')")
    return shape.layers * sum(spec.lora_r * sum(shapes[m]) for m in set(targets))


def _engine(spec: TrainSpec, on_gpu: bool) -> str:
    if spec.engine != "auto":
        return spec.engine
    return "unsloth" if on_gpu and importlib.util.find_spec("unsloth") is not None else "transformers"


def _components(shape: ModelShape, spec: TrainSpec, on_gpu: bool) -> dict:
    """Bytes of each part of peak memory for this spec on a GPU or the CPU (formula: module docstring)."""
    precision = spec.precision if spec.precision != "auto" else ("bf16" if on_gpu else "fp32")
    width = 4 if precision == "fp32" else 2
    engine = _engine(spec, on_gpu)
    if spec.method == "qlora":
        weights = shape.decoder_linear_params * NF4_BYTES + shape.unquantised_params * width
    else:
        weights = shape.params * width
    adapter_params = 0 if spec.method == "full" else _adapter_params(shape, spec)
    trainable = shape.params if spec.method == "full" else adapter_params
    trainable_width = width if spec.method == "full" else 4
    tokens = spec.batch_size * spec.max_seq_length
    per_layer = tokens * (LAYER_ACTIVATIONS_H * shape.hidden + LAYER_ACTIVATIONS_I * shape.intermediate) * width
    if not spec.gradient_checkpointing:
        activations = shape.layers * per_layer
    elif engine == "unsloth":
        activations = per_layer
    else:
        activations = shape.layers * tokens * shape.hidden * width + per_layer
    logit_bytes = width if engine == "unsloth" else width + 4
    activations += tokens * shape.vocab * logit_bytes
    parts = {
        "weights": weights,
        "adapter": adapter_params * 4,
        "gradients": trainable * trainable_width,
        "optimizer": trainable * OPTIMIZER_BYTES[spec.optimizer],
        "activations": activations,
        "overhead": OVERHEAD_GB["gpu" if on_gpu else "cpu"] * GB,
    }
    return {"parts": {k: v / GB for k, v in parts.items()}, "total": sum(parts.values()) / GB,
            "trainable": trainable, "precision": precision, "engine": engine}


def detect_devices() -> list[dict]:
    """The GPUs jobs may use (gpu_inventory), with total and free memory in GB."""
    allowed = set(gpu_inventory())
    return [{"index": g["index"], "name": g["name"], "total_gb": g["mem_total_gb"], "free_gb": g["mem_free_gb"]}
            for g in gpu_stats() if g["index"] in allowed and g["mem_total_gb"] is not None]


def _candidate_changes(spec: TrainSpec, on_gpu: bool) -> list[tuple[str, dict]]:
    """Changes that lower memory, least intrusive first."""
    changes = []
    if not spec.gradient_checkpointing:
        changes.append(("enable gradient_checkpointing", {"gradient_checkpointing": True}))
    if spec.batch_size > 1:
        accum = spec.grad_accum * spec.batch_size
        text = (f"batch_size {spec.batch_size} -> 1 with grad_accum x{spec.batch_size} "
                f"({spec.grad_accum} -> {accum}, same effective batch)")
        changes.append((text, {"batch_size": 1, "grad_accum": accum}))
    if on_gpu and spec.optimizer == "adamw_torch":
        changes.append(("optimizer adamw_torch -> adamw_8bit", {"optimizer": "adamw_8bit"}))
    if spec.method == "full":
        changes.append(("use lora (16-bit base, adapter only)", {"method": "lora"}))
    if spec.method != "qlora":
        changes.append(("use qlora (4-bit)", {"method": "qlora"}))
    if spec.max_seq_length > MIN_SUGGESTED_SEQ:
        shorter = max(MIN_SUGGESTED_SEQ, spec.max_seq_length // 2)
        changes.append((f"max_seq_length {spec.max_seq_length} -> {shorter}", {"max_seq_length": shorter}))
    return changes


def _suggestions(shape: ModelShape, spec: TrainSpec, on_gpu: bool, budget_gb: float) -> list[Suggestion]:
    """Single changes that make it fit; when none does, the changes combined one after another."""
    singles = []
    for text, settings in _candidate_changes(spec, on_gpu):
        total = _components(shape, replace(spec, **settings), on_gpu)["total"]
        if total <= budget_gb:
            singles.append(Suggestion(text, settings, _gb(total), True))
    if singles:
        return singles
    chain, current, combined = [], spec, {}
    while True:
        changes = _candidate_changes(current, on_gpu)
        if not changes:
            return chain
        text, settings = changes[0]
        combined = {**combined, **settings}
        current = replace(current, **settings)
        total = _components(shape, current, on_gpu)["total"]
        chain.append(Suggestion(("then " if chain else "") + text, combined, _gb(total), total <= budget_gb))
        if total <= budget_gb:
            return chain


def _free_gb(device: dict) -> float:
    return device["total_gb"] if device.get("free_gb") is None else device["free_gb"]


def _gpu_verdict(total: float, wanted: int, devices: list[dict]) -> tuple[bool, str, float]:
    if wanted > len(devices):
        return False, (f"the spec asks for {wanted} GPUs but {len(devices)} are available to jobs; "
                       f"each would need about {format_size(total)}"), 0.0
    chosen = sorted(devices, key=_free_gb, reverse=True)[:wanted]
    budget = min(_free_gb(d) for d in chosen)
    names = ", ".join(f"GPU {d['index']} ({d['name']})" for d in chosen)
    copies = " (data parallel: a full copy on each)" if wanted > 1 else ""
    if total <= budget:
        return True, (f"Needs about {format_size(total)} per GPU{copies}; {names} has {budget:.1f} GB free: "
                      f"fits with {budget - total:.1f} GB to spare."), budget
    return False, (f"Needs about {format_size(total)} per GPU{copies}; {names} has {budget:.1f} GB free: "
                   f"does not fit, {total - budget:.1f} GB short."), budget


def estimate_memory(spec: TrainSpec, *, model_config: dict | None = None,
                    devices: list[dict] | None = None) -> MemoryEstimate:
    """Peak memory of this run against the GPUs present (or `devices`: [{index, name, total_gb, free_gb}])."""
    shape = model_shape(spec, model_config)
    devices = detect_devices() if devices is None else devices
    on_gpu = bool(devices) and spec.gpus != 0
    estimate = _components(shape, spec, on_gpu)
    total = estimate["total"]
    if on_gpu:
        fits, verdict, budget = _gpu_verdict(total, max(1, spec.gpus), devices)
    else:
        fits, budget = None, psutil.virtual_memory().available / GB
        reason = "The spec sets gpus 0" if devices else "No GPU is available to jobs"
        room = "fits" if total <= budget else "does not fit"
        verdict = (f"{reason}: it will run on the CPU, using about {format_size(total)} of the "
                   f"{budget:.1f} GB RAM available ({room}).")
    over_budget = fits is False or (fits is None and total > budget)
    suggestions = _suggestions(shape, spec, on_gpu, budget) if over_budget and budget > 0 else []
    if over_budget and suggestions and not suggestions[-1].fits:
        verdict += " Even with every change below it is too big: use a smaller model or a larger GPU."
    method = spec.method if spec.method == "full" else f"{spec.method} r{spec.lora_r}"
    assumptions = (f"{estimate['precision']}, {method}, batch {spec.batch_size} x {spec.max_seq_length} tokens, "
                   f"{spec.optimizer}, gradient checkpointing {'on' if spec.gradient_checkpointing else 'off'}, "
                   f"{estimate['engine']} engine, on the {'GPU' if on_gpu else 'CPU'}")
    parts = estimate["parts"]
    return MemoryEstimate(
        model=f"{shape.name} ({shape.source})", assumptions=assumptions, params=shape.params,
        trainable=estimate["trainable"], weights_gb=_gb(parts["weights"]), adapter_gb=_gb(parts["adapter"]),
        gradients_gb=_gb(parts["gradients"]), optimizer_gb=_gb(parts["optimizer"]),
        activations_gb=_gb(parts["activations"]), overhead_gb=_gb(parts["overhead"]),
        total_gb=_gb(total), devices=devices, fits=fits, verdict=verdict, suggestions=suggestions,
    )
