"""How much memory a model's weights take once loaded, read from its files without loading them: parameter
count x dtype bytes from the safetensors headers (else the size of the .bin files), base plus adapter.

The Playground's model cache budgets with it; the evaluation's time estimate scales with it.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

from backend.errors import LabError

GB = 2**30
DTYPE_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
               "I8": 1, "U8": 1, "BOOL": 1}


def in_hf_cache(name: str) -> bool:
    """Whether `name` is a Hugging Face id ("org/model") whose config is in the local cache."""
    if name.count("/") != 1:
        return False
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except ValueError:
        return False


def _safetensors_bytes(path: Path) -> int:
    """Parameter count x dtype bytes of every tensor, read from the file's JSON header (no weights loaded)."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    total = 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in tensor["shape"]:
            count *= dim
        total += count * DTYPE_BYTES.get(tensor["dtype"], 4)
    return total


def _model_folder(name: str) -> Path:
    folder = Path(name).expanduser()
    if folder.is_dir():
        return folder
    if in_hf_cache(name):
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    raise LabError(f"{name}: no model folder there and not in the local Hugging Face cache")


def _weights_bytes(folder: Path) -> int:
    tensors = list(folder.glob("*.safetensors"))
    if tensors:
        return sum(_safetensors_bytes(p) for p in tensors)
    return sum(p.stat().st_size for p in folder.glob("*.bin"))


def weights_gb(base: str, adapter: str | None = None) -> float:
    """GB of a base model (a folder or a cached Hugging Face id) plus an adapter folder, once loaded."""
    total = _weights_bytes(_model_folder(base))
    if adapter:
        total += _weights_bytes(Path(adapter))
    return total / GB
