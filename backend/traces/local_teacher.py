"""A teacher that runs a local Transformers causal LM on this machine (CPU, CUDA or MPS), no network."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from backend.errors import LabError

DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class LocalCompletion:
    text: str
    prompt_tokens: int
    completion_tokens: int  # generated tokens, the end-of-turn token included when the model stopped
    finish_reason: str  # "stop" (the model ended its turn) or "length" (max_new_tokens reached)

    def to_json(self) -> dict:
        return asdict(self)


class LocalTeacher:
    """Loads a model by local path (or a Hugging Face id already in the local cache), optionally with a LoRA
    adapter on top, and generates replies in batches. Used as a teacher and to evaluate trained models."""

    def __init__(self, model_path: str, device: str = "auto", dtype: str = "auto", adapter: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device == "auto":  # a job sees only its own GPUs (CUDA_VISIBLE_DEVICES); without one, the CPU
            device = "cuda" if torch.cuda.is_available() else "cpu"

        if dtype not in DTYPES:
            raise LabError(f"dtype must be one of {', '.join(DTYPES)}, not '{dtype}'")
        self.model_path = str(model_path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                self.model_path, local_files_only=True, dtype=dtype if dtype == "auto" else getattr(torch, dtype)
            )
        except (OSError, ValueError) as exc:
            raise LabError(
                f"{self.model_path}: no model found on this machine (a local directory with config, weights "
                f"and tokenizer, or a Hugging Face id already downloaded to the cache): {exc}"
            ) from exc
        if adapter:  # base + a LoRA adapter (a run's final adapter or one of its checkpoints)
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, adapter)
            except (OSError, ValueError) as exc:
                raise LabError(f"{adapter}: no PEFT adapter there ({exc})") from exc
        if not self.tokenizer.chat_template:
            raise LabError(f"{self.model_path}: the tokenizer has no chat template, so it cannot act as a teacher")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device
        self.model = model.to(device).eval()
        self._stop_ids = self._stop_token_ids()

    def _stop_token_ids(self) -> set[int]:
        configured = self.model.generation_config.eos_token_id
        ids = set(configured if isinstance(configured, list) else [configured] if configured is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    def _prompt_ids(self, conversation: list[dict]) -> list[int]:
        rendered = self.tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(rendered["input_ids"])

    def generate(
        self,
        conversations: list[list[dict]],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        batch_size: int = 8,
        seed: int | None = None,
    ) -> list[LocalCompletion]:
        """One completion per conversation, in input order; greedy when temperature is 0."""
        import torch

        if max_new_tokens < 1 or batch_size < 1:
            raise LabError("max_new_tokens and batch_size must be at least 1")
        if temperature < 0 or not 0 < top_p <= 1:
            raise LabError("temperature must be >= 0 and top_p in (0, 1]")
        prompts = [self._prompt_ids(conversation) for conversation in conversations]
        # Longest first: similar lengths share a batch (little padding) and memory trouble shows up at once.
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p}
        else:  # None overrides sampling settings in the model's generation_config, which greedy would warn about
            sampling = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if seed is not None:
            torch.manual_seed(seed)
        results: list[LocalCompletion | None] = [None] * len(prompts)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            padded = self.tokenizer.pad(
                {"input_ids": [prompts[i] for i in batch]}, padding=True, return_tensors="pt"
            ).to(self.device)
            with torch.inference_mode():
                output = self.model.generate(
                    **padded,
                    max_new_tokens=max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=sorted(self._stop_ids),
                    **sampling,
                )
            new_tokens = output[:, padded["input_ids"].shape[1]:].tolist()
            for index, tokens in zip(batch, new_tokens):
                results[index] = self._completion(tokens, len(prompts[index]))
        return results

    def _completion(self, tokens: list[int], prompt_tokens: int) -> LocalCompletion:
        stop_at = next((n for n, token in enumerate(tokens) if token in self._stop_ids), None)
        kept = tokens if stop_at is None else tokens[:stop_at]
        return LocalCompletion(
            text=self.tokenizer.decode(kept, skip_special_tokens=True),
            prompt_tokens=prompt_tokens,
            completion_tokens=len(kept) + (stop_at is not None),
            finish_reason="length" if stop_at is None else "stop",
        )
