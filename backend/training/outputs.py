"""What a finished run leaves in artifacts/: the adapter (or full model), a merged 16-bit model, an
Ollama Modelfile, and run.json; and the names of what export jobs add in artifacts/exports/. Each folder
is written under a temporary name and renamed into place, so a reader never sees half of one.

This module writes those names; backend/training/run_outputs.py is the one that reads them.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.jobs.files import write_json_atomic
from backend.training.engines import torch_dtype

ADAPTER = "adapter"
FULL_MODEL = "model"
MERGED = "merged"
MODELFILE = "Modelfile"
RUN_INFO = "run.json"
CHECKPOINTS = "checkpoints"  # checkpoint-N folders, written by the Trainer
EXPORTS = "exports"  # what export jobs make: merged/, GGUF files, a Modelfile, a card
LINEAGE = "lineage.json"  # in exports/: which model each export was made from
GGUF_QUANTS = ("f16", "q8_0")


def gguf_file(folder: Path, quant: str) -> Path:
    """Where an export writes the GGUF file of one quantisation."""
    return folder / f"model-{quant}.gguf"


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """A scratch folder that replaces `final` only when the block completes."""
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)


def save_trained(model, tokenizer, artifacts: Path, full: bool) -> Path:
    """The PEFT adapter (artifacts/adapter) or, for full fine-tuning, the whole model (artifacts/model)."""
    final = artifacts / (FULL_MODEL if full else ADAPTER)
    with staged_folder(final) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return final


def merged_precision(run_precision: str, base_model: str) -> str:
    """bf16 when the run trained in bf16; otherwise the base checkpoint's own 16-bit dtype, else fp16."""
    if run_precision == "bf16":
        return "bf16"
    from transformers import AutoConfig

    dtype = str(getattr(AutoConfig.from_pretrained(base_model), "dtype", "") or "")
    return "bf16" if "bfloat16" in dtype else "fp16"


def merge(base_model: str, trained: Path, artifacts: Path, precision: str, full: bool) -> Path:
    """Base + adapter folded into one model (merge_and_unload), saved as 16-bit safetensors with the tokenizer.

    The base is loaded again in 16 bits (not the 4-bit copy a QLoRA run trained against)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch_dtype(precision)
    device_map = {"": "cuda"} if torch.cuda.is_available() else None
    if full:
        model = AutoModelForCausalLM.from_pretrained(trained, dtype=dtype, device_map=device_map)
    else:
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype, device_map=device_map)
        model = PeftModel.from_pretrained(base, trained).merge_and_unload()
    model = model.to(dtype)  # adapters may have been upcast to fp32 on load
    final = artifacts / MERGED
    with staged_folder(final) as tmp:
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(trained).save_pretrained(tmp)
    return final


def _has_tokens(tokenizer, *tokens: str) -> bool:
    vocab = tokenizer.get_vocab()
    return all(t in vocab for t in tokens)


def _needs_bos(tokenizer) -> bool:
    """The chat template writes BOS itself and the tokenizer would not add it, so the Ollama template must."""
    bos = tokenizer.bos_token
    if not bos:
        return False
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
    adds_bos = tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]
    return rendered.startswith(bos) and not adds_bos


def _turns(system: tuple[str, str], user: tuple[str, str], assistant: tuple[str, str], prefix: str = "") -> str:
    """A Go template over Ollama's .System and .Messages, one (open, close) pair per role, ending on the
    assistant's opening so the model writes the answer. No whitespace-trimming markers: the text is exact."""
    return (prefix
            + f"{{{{ if .System }}}}{system[0]}{{{{ .System }}}}{system[1]}{{{{ end }}}}"
            + "{{ range .Messages }}"
            + f'{{{{ if eq .Role "user" }}}}{user[0]}{{{{ .Content }}}}{user[1]}'
            + f'{{{{ else if eq .Role "assistant" }}}}{assistant[0]}{{{{ .Content }}}}{assistant[1]}'
            + "{{ end }}{{ end }}"
            + assistant[0])


def ollama_template(tokenizer) -> tuple[str, list[str], str]:
    """(TEMPLATE, stop strings, format name) matching the model's chat format."""
    eos = tokenizer.eos_token
    if _has_tokens(tokenizer, "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"):
        def header(role: str) -> tuple[str, str]:
            return f"<|start_header_id|>{role}<|end_header_id|>\n\n", "<|eot_id|>"
        prefix = tokenizer.bos_token if _needs_bos(tokenizer) else ""
        stops = ["<|eot_id|>"] + [t for t in ("<|end_of_text|>",) if _has_tokens(tokenizer, t)]
        return _turns(header("system"), header("user"), header("assistant"), prefix), stops, "llama3-headers"
    if _has_tokens(tokenizer, "<|im_start|>", "<|im_end|>"):
        def block(role: str) -> tuple[str, str]:
            return f"<|im_start|>{role}\n", "<|im_end|>\n"
        stops = ["<|im_end|>"] + ([eos] if eos and eos != "<|im_end|>" else [])
        return _turns(block("system"), block("user"), block("assistant")), stops, "chatml"
    if "<|user|>" in (tokenizer.chat_template or "") and "<|assistant|>" in (tokenizer.chat_template or ""):
        end = eos or "</s>"

        def zephyr(role: str) -> tuple[str, str]:
            return f"<|{role}|>\n", f"{end}\n"
        return _turns(zephyr("system"), zephyr("user"), zephyr("assistant")), [end, "<|user|>"], "zephyr"
    end = eos or ""
    template = _turns(("", "\n\n"), ("User: ", "\n"), ("Assistant: ", f"{end}\n"))
    return template, [s for s in (end, "User:") if s], "plain"


def write_modelfile(model: Path, folder: Path, tokenizer_dir: Path | None = None) -> Path:
    """folder/Modelfile importing `model` (a merged model folder, or a GGUF file) into Ollama with the chat
    template of the tokenizer in `tokenizer_dir` (default: `model` itself). A GGUF file beside the Modelfile
    is named relative to it (FROM ./model-q8_0.gguf), so the folder can be copied or pushed as it is."""
    from transformers import AutoTokenizer

    template, stops, fmt = ollama_template(AutoTokenizer.from_pretrained(tokenizer_dir or model))
    path = folder / MODELFILE
    if model.is_file() and model.parent == folder:
        how, source = f"cd {folder} && ollama create NAME -f {MODELFILE}", f"./{model.name}"
    else:
        how, source = f"ollama create NAME -f {path}", str(model.resolve())
    lines = [f"# Ollama Modelfile ({fmt} chat format): {how}", f"FROM {source}", f'TEMPLATE """{template}"""']
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    tmp = path.with_name(f".{MODELFILE}.tmp")  # hidden: a hub push skips dot files
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def write_run_info(artifacts: Path, info: dict) -> Path:
    path = artifacts / RUN_INFO
    write_json_atomic(path, info)
    return path
