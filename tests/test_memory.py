import json
import shutil
from dataclasses import replace

import pytest

from backend.errors import LabError
from backend.training.memory import estimate_memory
from backend.training.spec import TrainSpec, apply_overrides

H100 = [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "total_gb": 79.2, "free_gb": 78.9}]
RTX_4090 = [{"index": 0, "name": "NVIDIA GeForce RTX 4090", "total_gb": 23.6, "free_gb": 23.1}]

# Unsloth's published minimum VRAM (REFERENCE.md), with the models their notebooks use for each size.
# Settings assumed for their table: batch 1, 2048 tokens, LoRA r16 on all linear layers, 8-bit AdamW,
# bf16, gradient checkpointing on (Unsloth turns on its offloaded checkpointing by default) and the
# Unsloth engine (chunked cross-entropy). Our formula sits within 25% of every row (worst: 8B, +22% for
# QLoRA and -23% for LoRA; their LoRA rows carry more headroom than the weights explain).
UNSLOTH_MINIMUM_GB = [
    ("qlora", "unsloth/Llama-3.2-3B-Instruct", 3.5),
    ("qlora", "mistralai/Mistral-7B-v0.1", 5.0),
    ("qlora", "meta-llama/Llama-3.1-8B", 6.0),
    ("qlora", "meta-llama/Llama-3.1-70B", 41.0),
    ("lora", "unsloth/Llama-3.2-3B-Instruct", 8.0),
    ("lora", "mistralai/Mistral-7B-v0.1", 19.0),
    ("lora", "meta-llama/Llama-3.1-8B", 22.0),
]
TOLERANCE = 0.25


def unsloth_spec(**settings) -> TrainSpec:
    base = {"method": "lora", "batch_size": 1, "max_seq_length": 2048, "lora_r": 16, "optimizer": "adamw_8bit",
            "gradient_checkpointing": True, "engine": "unsloth", "precision": "bf16"}
    return TrainSpec(**{**base, **settings})


@pytest.mark.parametrize("method,model,published_gb", UNSLOTH_MINIMUM_GB)
def test_matches_unsloth_minimum_vram(method, model, published_gb):
    estimate = estimate_memory(unsloth_spec(base_model=model, method=method), devices=H100)
    assert abs(estimate.total_gb - published_gb) <= TOLERANCE * published_gb, estimate.to_json()


def test_parameter_counts_of_known_models():
    counts = {"meta-llama/Meta-Llama-3.1-8B-Instruct": 8.03e9, "unsloth/Llama-3.2-3B-Instruct": 3.21e9,
              "TinyLlama/TinyLlama-1.1B-Chat-v1.0": 1.10e9, "Qwen/Qwen3-4B-Instruct-2507": 4.02e9}
    for model, published in counts.items():
        params = estimate_memory(TrainSpec(base_model=model), devices=H100).params
        assert abs(params - published) / published < 0.01, model


def total(devices=H100, **settings) -> float:
    return estimate_memory(TrainSpec(base_model="meta-llama/Llama-3.2-1B", **settings), devices=devices).total_gb


def test_monotonic_in_batch_sequence_and_rank():
    assert total(batch_size=1) < total(batch_size=2) < total(batch_size=8)
    assert total(max_seq_length=512) < total(max_seq_length=1024) < total(max_seq_length=4096)
    assert total(lora_r=8) < total(lora_r=16) < total(lora_r=128)
    assert total(gradient_checkpointing=True) < total(gradient_checkpointing=False)
    assert total(method="full", optimizer="adamw_8bit") < total(method="full", optimizer="adamw_torch")


def test_qlora_below_lora_below_full():
    parts = {m: estimate_memory(TrainSpec(base_model="meta-llama/Llama-3.1-8B", method=m), devices=H100)
             for m in ("qlora", "lora", "full")}
    assert parts["qlora"].total_gb < parts["lora"].total_gb < parts["full"].total_gb
    assert parts["qlora"].weights_gb < parts["lora"].weights_gb == parts["full"].weights_gb
    assert parts["qlora"].trainable == parts["lora"].trainable < parts["full"].trainable == parts["full"].params
    assert parts["full"].adapter_gb == 0


def test_fits_on_a_big_gpu_with_no_suggestions():
    estimate = estimate_memory(unsloth_spec(base_model="meta-llama/Llama-3.1-8B"), devices=H100)
    assert estimate.fits is True and estimate.suggestions == []
    assert "fits" in estimate.verdict and "GPU 0" in estimate.verdict
    json.dumps(estimate.to_json())


def test_does_not_fit_and_each_suggestion_is_the_estimate_of_its_settings():
    spec = TrainSpec(base_model="meta-llama/Llama-3.1-8B", method="lora", batch_size=4, max_seq_length=4096)
    estimate = estimate_memory(spec, devices=RTX_4090)
    assert estimate.fits is False and "does not fit" in estimate.verdict
    assert estimate.suggestions and estimate.suggestions[-1].fits
    for suggestion in estimate.suggestions:
        again = estimate_memory(apply_overrides(spec, suggestion.settings), devices=RTX_4090)
        assert again.total_gb == suggestion.total_gb and again.fits is suggestion.fits
        assert str(suggestion).endswith(f"{suggestion.total_gb:.2f} GB ({'fits' if suggestion.fits else 'still too big'})")
    json.dumps(estimate.to_json())


def test_single_changes_that_fit_are_offered_first():
    spec = unsloth_spec(base_model="meta-llama/Llama-3.1-8B", batch_size=2)
    twelve_gb = [{"index": 0, "name": "RTX 3060", "total_gb": 12.0, "free_gb": 11.5}]
    estimate = estimate_memory(spec, devices=twelve_gb)
    assert estimate.fits is False
    assert [s.change for s in estimate.suggestions] == ["use qlora (4-bit)"]
    assert estimate.suggestions[0].settings == {"method": "qlora"} and estimate.suggestions[0].total_gb <= 11.5


def test_free_memory_not_total_decides():
    busy = [{"index": 0, "name": "A100", "total_gb": 80.0, "free_gb": 4.0}]
    assert estimate_memory(unsloth_spec(base_model="meta-llama/Llama-3.1-8B"), devices=busy).fits is False


def test_data_parallel_needs_every_gpu_and_enough_of_them():
    two = [{"index": 0, "name": "L4", "total_gb": 22.0, "free_gb": 22.0},
           {"index": 1, "name": "L4", "total_gb": 22.0, "free_gb": 8.0}]
    spec = unsloth_spec(base_model="meta-llama/Llama-3.1-8B", method="qlora")
    assert estimate_memory(replace(spec, gpus=1), devices=two).fits is True  # picks the emptier GPU
    assert estimate_memory(replace(spec, gpus=2), devices=two).fits is True
    lora = estimate_memory(replace(spec, method="lora", gpus=2), devices=two)
    assert lora.fits is False and "GPU 1" in lora.verdict
    too_many = estimate_memory(replace(spec, gpus=3), devices=two)
    assert too_many.fits is False and "asks for 3 GPUs" in too_many.verdict


def test_without_a_gpu_it_runs_on_the_cpu_in_fp32():
    cpu = estimate_memory(TrainSpec(base_model="meta-llama/Llama-3.2-1B"), devices=[])
    gpu = estimate_memory(TrainSpec(base_model="meta-llama/Llama-3.2-1B"), devices=H100)
    assert cpu.fits is None and "CPU" in cpu.verdict and "RAM" in cpu.verdict
    assert cpu.weights_gb == pytest.approx(2 * gpu.weights_gb, rel=0.01)  # fp32 on the CPU, bf16 on a GPU
    assert estimate_memory(TrainSpec(base_model="meta-llama/Llama-3.2-1B", gpus=0), devices=H100).fits is None
    huge = estimate_memory(TrainSpec(base_model="meta-llama/Llama-3.1-70B", method="full"), devices=[])
    assert "does not fit" in huge.verdict and huge.suggestions


def test_tiny_model_from_its_settings():
    small = estimate_memory(TrainSpec(base_model="tiny", tiny_hidden_size=64, tiny_layers=2), devices=[])
    big = estimate_memory(TrainSpec(base_model="tiny", tiny_hidden_size=128, tiny_layers=4), devices=[])
    # 2048-token vocabulary: embeddings and lm head, 2 x 2048 x 64, plus 2 layers of attention and MLP
    assert small.params == 2 * 2048 * 64 + 2 * (4 * 64 * 64 + 3 * 64 * 128 + 2 * 64) + 64
    assert small.params < big.params


def test_tiny_model_parts_are_shown_in_mb_not_zero_gb():
    estimate = estimate_memory(TrainSpec(base_model="tiny", method="full", optimizer="adamw_torch", precision="fp32",
                                         tiny_hidden_size=64, tiny_layers=2), devices=[])
    mb = estimate.params * 4 / 2**20  # fp32 weights
    assert estimate.weights_gb * 1024 == pytest.approx(mb, rel=1e-3) and 1 < mb < 2
    table = estimate.table()
    assert list(table) == ["weights", "adapter", "gradients", "optimizer", "activations", "overhead", "total"]
    assert table["weights"] == table["gradients"] == f"{mb:.3g} MB" and table["optimizer"] == f"{2 * mb:.3g} MB"
    assert table["adapter"] == "0" and table["overhead"] == "512 MB"
    lora = estimate_memory(TrainSpec(base_model="tiny", method="lora", lora_r=8), devices=[])
    adapter_kb = 2 * 8 * (4 * (64 + 64) + 3 * (64 + 128)) * 4 / 1024  # r8 on q,k,v,o and gate,up,down of 2 layers
    assert lora.table()["adapter"] == f"{adapter_kb:.3g} KB" == "68 KB"
    assert "MB of the" in estimate.verdict  # "using about 5xx MB of the N GB RAM available"
    big = estimate_memory(TrainSpec(base_model="meta-llama/Llama-3.1-8B", method="full"), devices=H100)
    assert big.table()["weights"] == f"{big.weights_gb:.2f} GB"


def test_local_folder_config_counts_exactly_what_transformers_builds(tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(hidden_size=96, num_hidden_layers=3, num_attention_heads=6, num_key_value_heads=2,
                         intermediate_size=256, vocab_size=1000, tie_word_embeddings=False)
    config.save_pretrained(tmp_path)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    spec = TrainSpec(base_model=str(tmp_path), method="lora", lora_r=8)
    estimate = estimate_memory(spec, devices=H100)
    assert "config.json" in estimate.model
    assert estimate.params == sum(p.numel() for p in model.parameters())
    lora_params = sum(8 * (m.in_features + m.out_features) for name, m in model.named_modules()
                      if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in spec.target_modules)
    assert estimate.trainable == lora_params


def test_unknown_model_and_bad_configs_explain_the_fix(tmp_path):
    with pytest.raises(LabError, match="config.json"):
        estimate_memory(TrainSpec(base_model="acme/mystery-model"), devices=[])
    with pytest.raises(LabError, match="no config.json"):
        estimate_memory(TrainSpec(base_model=str(tmp_path)), devices=[])
    (tmp_path / "config.json").write_text(json.dumps({"n_embd": 768, "n_layer": 12}))
    with pytest.raises(LabError, match="hidden_size"):
        estimate_memory(TrainSpec(base_model=str(tmp_path)), devices=[])
    moe = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
           "vocab_size": 100, "num_local_experts": 8}
    with pytest.raises(LabError, match="mixture-of-experts"):
        estimate_memory(TrainSpec(), model_config=moe, devices=[])
    with pytest.raises(LabError, match="target_modules lm_head"):
        estimate_memory(TrainSpec(base_model="meta-llama/Llama-3.2-1B", target_modules=["lm_head"]), devices=[])


def test_config_from_the_local_hugging_face_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    snapshot = tmp_path / "models--acme--custom-llama" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    (snapshot / "config.json").write_text(json.dumps({
        "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 8,
        "intermediate_size": 512, "vocab_size": 5000, "tie_word_embeddings": True}))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    estimate = estimate_memory(TrainSpec(base_model="acme/custom-llama"), devices=H100)
    assert "Hugging Face cache" in estimate.model
    assert estimate.params == 5000 * 256 + 4 * (4 * 256 * 256 + 3 * 256 * 512 + 2 * 256) + 256


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_default_devices_without_a_gpu_mean_the_cpu():
    estimate = estimate_memory(TrainSpec(base_model="meta-llama/Llama-3.2-1B"))
    assert estimate.devices == [] and estimate.fits is None and "on the CPU" in estimate.verdict
