"""GGUF files for Llama-architecture models, written with the `gguf` package (no llama.cpp needed),
then read back and checked.

Weights come from a merged Hugging Face folder (safetensors). Names follow llama.cpp's llama layout
(token_embd, blk.N.attn_q ..., output_norm, output); the vocabulary is the fast tokenizer's byte-level
BPE ("gpt2" tokenizer model) with its merges, special-token ids and chat template.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.errors import LabError
from backend.training.outputs import EXPORTS

ARCH = "llama"
SUPPORTED = ("LlamaForCausalLM",)
QUANTS = ("f16", "q8_0")
LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"

# Hugging Face parameter name (after "model.layers.N.") -> GGUF name (after "blk.N.")
LAYER_NAMES = {
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
}
TOP_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}


@dataclass(frozen=True)
class GGUFCheck:
    path: str
    quant: str
    tensors: int
    bytes: int
    architecture: str
    vocab: int


def rotary_interleave(weight: np.ndarray, heads: int) -> np.ndarray:
    """Hugging Face stores each head's q/k rows as [first halves of the rotary pairs | second halves];
    GGML's rope rotates adjacent rows (x0, x1), (x2, x3) ... So per head, row i of the first half and
    row i of the second half become neighbours."""
    rows = weight.shape[0]
    head_dim = rows // heads
    return (weight.reshape(heads, 2, head_dim // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def _config(model_dir: Path) -> dict:
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"{model_dir}: no readable config.json ({exc})") from exc
    architectures = config.get("architectures") or []
    if not any(a in SUPPORTED for a in architectures):
        raise LabError(f"{model_dir}: GGUF export supports {', '.join(SUPPORTED)}; this model is "
                       f"{', '.join(architectures) or config.get('model_type', 'of an unknown architecture')}")
    return config


def _rope_theta(config: dict) -> float:
    params = config.get("rope_parameters") or {}
    return float(config.get("rope_theta") or params.get("rope_theta") or 10000.0)


def _rope_scaling(config: dict) -> dict | None:
    scaling = config.get("rope_scaling") or config.get("rope_parameters") or {}
    kind = scaling.get("rope_type") or scaling.get("type")
    if kind in (None, "default"):
        return None
    if kind != "llama3":
        raise LabError(f"GGUF export: rope scaling {kind!r} is not supported (only Llama 3's)")
    return scaling


def llama3_rope_factors(config: dict, head_dim: int) -> np.ndarray:
    """Per-frequency divisors of Llama 3's long-context rope, stored as the `rope_freqs` tensor."""
    scaling = _rope_scaling(config) or {}
    factor = float(scaling["factor"])
    low, high = float(scaling.get("low_freq_factor", 1.0)), float(scaling.get("high_freq_factor", 4.0))
    old_context = float(scaling.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / (_rope_theta(config) ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    out = []
    for freq in freqs:
        wavelength = 2 * math.pi / freq
        if wavelength < old_context / high:
            out.append(1.0)
        elif wavelength > old_context / low:
            out.append(factor)
        else:
            smooth = (old_context / wavelength - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def _hf_tensors(model_dir: Path) -> Iterator[tuple[str, np.ndarray]]:
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise LabError(f"{model_dir}: no .safetensors weights to convert")
    for file in files:
        with safe_open(file, "pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                yield name, f.get_tensor(name).float().numpy()


def gguf_name(hf_name: str) -> str | None:
    if hf_name in TOP_NAMES:
        return TOP_NAMES[hf_name]
    parts = hf_name.split(".", 3)
    if len(parts) == 4 and parts[:2] == ["model", "layers"] and parts[3] in LAYER_NAMES:
        return f"blk.{parts[2]}.{LAYER_NAMES[parts[3]]}"
    return None


def converted_tensors(model_dir: Path) -> dict[str, np.ndarray]:
    """GGUF name -> float32 array in Hugging Face (row-major) shape, q/k already interleaved."""
    config = _config(model_dir)
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    out: dict[str, np.ndarray] = {}
    for hf_name, array in _hf_tensors(model_dir):
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        name = gguf_name(hf_name)
        if name is None:
            raise LabError(f"{model_dir}: weight {hf_name} has no place in a llama GGUF")
        if name.endswith("attn_q.weight"):
            array = rotary_interleave(array, heads)
        elif name.endswith("attn_k.weight"):
            array = rotary_interleave(array, kv_heads)
        out[name] = array
    if _rope_scaling(config):
        out["rope_freqs.weight"] = llama3_rope_factors(config, _head_dim(config))
    return out


def _head_dim(config: dict) -> int:
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def _vocab(model_dir: Path, vocab_size: int) -> dict:
    """tokens, token types and merges of a byte-level BPE tokenizer.json, padded to the model's vocab."""
    from gguf import TokenType

    try:
        spec = json.loads((model_dir / "tokenizer.json").read_text())
    except (OSError, ValueError) as exc:
        raise LabError(f"{model_dir}: GGUF export needs a fast tokenizer (tokenizer.json): {exc}") from exc
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise LabError(f"{model_dir}: GGUF export supports byte-level BPE tokenizers; this one is {model.get('type')}")
    by_id = {i: (t, TokenType.NORMAL) for t, i in model["vocab"].items()}
    for added in spec.get("added_tokens", []):
        by_id[added["id"]] = (added["content"], TokenType.CONTROL if added.get("special") else TokenType.USER_DEFINED)
    size = max(vocab_size, max(by_id) + 1)
    tokens = [by_id.get(i, (f"[PAD{i}]", TokenType.UNUSED)) for i in range(size)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return {"tokens": [t for t, _ in tokens], "types": [int(k) for _, k in tokens], "merges": merges,
            "pre": "llama-bpe" if LLAMA3_SPLIT in json.dumps(spec.get("pre_tokenizer")) else "default"}


def _add_metadata(writer, model_dir: Path, config: dict, quant: str) -> int:
    from gguf import LlamaFileType
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    vocab = _vocab(model_dir, int(config["vocab_size"]))
    writer.add_name(model_dir.parent.parent.name if model_dir.parent.name == EXPORTS else model_dir.name)
    writer.add_context_length(int(config.get("max_position_embeddings") or 2048))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or config["num_attention_heads"]))
    writer.add_rope_dimension_count(_head_dim(config))
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_vocab_size(len(vocab["tokens"]))
    writer.add_file_type(LlamaFileType.MOSTLY_Q8_0 if quant == "q8_0" else LlamaFileType.MOSTLY_F16)
    writer.add_quantization_version(2)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab["pre"])
    writer.add_token_list(vocab["tokens"])
    writer.add_token_types(vocab["types"])
    writer.add_token_merges(vocab["merges"])
    for name, add in (("bos_token_id", writer.add_bos_token_id), ("eos_token_id", writer.add_eos_token_id),
                      ("pad_token_id", writer.add_pad_token_id)):
        token_id = getattr(tokenizer, name)
        if token_id is not None:
            add(int(token_id))
    adds_bos = tokenizer.bos_token_id is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    writer.add_add_bos_token(adds_bos)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)
    return len(vocab["tokens"])


def _encode(array: np.ndarray, quant: str):
    """(data, raw GGML type or None): norms and other 1-D tensors stay f32 as llama.cpp keeps them;
    q8_0 needs rows that are a multiple of its 32-value block, others fall back to f16."""
    from gguf import GGMLQuantizationType, quants

    if array.ndim == 1:
        return array.astype(np.float32), None
    if quant == "q8_0" and array.shape[-1] % 32 == 0:
        return quants.quantize(array, GGMLQuantizationType.Q8_0), GGMLQuantizationType.Q8_0
    return array.astype(np.float16), None


def write_gguf(model_dir: Path, out: Path, quant: str) -> Path:
    """Convert the merged Hugging Face model in `model_dir` to one GGUF file (written whole or not at all)."""
    from gguf import GGUFWriter

    if quant not in QUANTS:
        raise LabError(f"GGUF quantization must be one of {', '.join(QUANTS)}, got {quant!r}")
    config = _config(model_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    writer = GGUFWriter(tmp, ARCH)
    try:
        _add_metadata(writer, model_dir, config, quant)
        for name, array in converted_tensors(model_dir).items():
            data, raw = _encode(array, quant)
            writer.add_tensor(name, data, raw_dtype=raw)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    writer.close()
    tmp.replace(out)
    return out


def _field(reader, key: str):
    field = reader.get_field(key)
    return None if field is None else field.contents()


def check_gguf(path: Path, model_dir: Path, quant: str) -> GGUFCheck:
    """Read the file back: architecture, every expected tensor with its shape, type and values, the vocab."""
    from gguf import GGMLQuantizationType, GGUFReader, quants

    expected = converted_tensors(model_dir)
    config = _config(model_dir)
    reader = GGUFReader(path)
    problems = []
    arch = _field(reader, "general.architecture")
    if arch != ARCH:
        problems.append(f"general.architecture is {arch!r}, not {ARCH!r}")
    if _field(reader, f"{ARCH}.block_count") != int(config["num_hidden_layers"]):
        problems.append("block_count does not match the model's layers")
    found = {t.name: t for t in reader.tensors}
    if set(found) != set(expected):
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        problems.append(f"tensors differ (missing {missing[:5]}, unexpected {extra[:5]})")
    for name, array in expected.items():
        tensor = found.get(name)
        if tensor is None:
            continue
        shape = tuple(reversed([int(d) for d in tensor.shape]))
        if shape != array.shape:
            problems.append(f"{name} has shape {shape}, expected {array.shape}")
            continue
        _, raw = _encode(array[:1] if array.ndim > 1 else array, quant)
        wanted = raw or (GGMLQuantizationType.F32 if array.ndim == 1 else GGMLQuantizationType.F16)
        if tensor.tensor_type != wanted:
            problems.append(f"{name} is {tensor.tensor_type.name}, expected {wanted.name}")
            continue
        values = quants.dequantize(np.asarray(tensor.data), tensor.tensor_type).reshape(array.shape)
        scale = float(np.abs(array).max()) or 1.0
        if float(np.abs(values - array).max()) > scale * (1e-2 if quant == "q8_0" else 1e-3):
            problems.append(f"{name} values differ from the model's weights")
    tokens = _field(reader, "tokenizer.ggml.tokens") or []
    if len(tokens) != int(config["vocab_size"]):
        problems.append(f"{len(tokens)} tokens, the model has {config['vocab_size']}")
    if problems:
        raise LabError(f"GGUF check of {path.name} failed: " + "; ".join(problems))
    return GGUFCheck(str(path), quant, len(found), path.stat().st_size, arch, len(tokens))
