"""A model card (README.md) written from a run's lineage: base, method, data, metrics, usage."""
from __future__ import annotations

from backend.errors import LabError
from backend.recipes import DEFAULT_RECIPE
from backend.training.outputs import RUN_INFO
from backend.training.run_outputs import RunOutputs

HYPERPARAMETERS = ("method", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "learning_rate",
                   "lr_scheduler", "warmup_ratio", "epochs", "max_steps", "batch_size", "grad_accum",
                   "max_seq_length", "packing", "assistant_only_loss", "precision", "optimizer", "seed")


def _value(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def model_card(job_id: str) -> str:
    from backend.evaluation.runner import list_evaluations
    from backend.jobs.manager import get

    job = get(job_id)
    run = RunOutputs.of(job)
    info = run.info
    if not info.get("base_model"):
        raise LabError(f"job {job_id} has no {RUN_INFO}: is it a training run that started?")
    spec = run.spec
    result = info.get("result") or {}
    full = info.get("method") == "full"
    lines = [
        "---", f"base_model: {info['base_model']}", "library_name: " + ("transformers" if full else "peft"),
        "tags: [finetune-lab, " + (info.get("recipe") or DEFAULT_RECIPE) + "]", "---", "",
        f"# {job.title or job_id}", "",
        (f"Fine-tuned from `{info['base_model']}` with {info.get('method', '?')} "
        f"({info.get('engine', '?')} engine, {info.get('precision', '?')}) by Finetune Lab run `{job_id}`."), "",
        "## Training", "", "| setting | value |", "|---|---|",
    ]
    lines += [f"| {name} | {_value(spec[name])} |" for name in HYPERPARAMETERS if name in spec]
    lines += [f"| trainable parameters | {info.get('trainable_params', '?')} of {info.get('total_params', '?')} |",
              f"| steps | {result.get('steps', '?')} |", f"| final train loss | {result.get('final_loss')} |",
              f"| final eval loss | {result.get('eval_loss')} |", "",
              "## Data", "",
              (f"- dataset version `{info.get('dataset')}` (recipe {info.get('recipe')}), "
              f"content hash `{info.get('dataset_content_hash')}`"),
              f"- {info.get('train_rows', '?')} training rows, {info.get('eval_rows', '?')} evaluation rows", "",
              "## Evaluation", ""]
    evaluations = list_evaluations(train_job=job_id)
    if evaluations:
        lines += ["| dataset | split | checkpoint | metric | value |", "|---|---|---|---|---|"]
        lines += [f"| {e['dataset']} | {e['split'] or 'all'} | {e['checkpoint'] or 'final'} | {e['headline']} | "
                  f"{e['headline_value']} |" for e in evaluations]
    else:
        lines.append("No evaluations recorded yet.")
    lines += ["", "## How to use", "", "Transformers" + ("" if full else " + PEFT (the adapter)") + ":", "", "```python",
              "from transformers import AutoModelForCausalLM, AutoTokenizer"]
    if full:
        lines += ['model = AutoModelForCausalLM.from_pretrained("path/to/merged")',
                  'tokenizer = AutoTokenizer.from_pretrained("path/to/merged")']
    else:
        lines += ["from peft import PeftModel", "",
                  f'base = AutoModelForCausalLM.from_pretrained("{info["base_model"]}")',
                  'model = PeftModel.from_pretrained(base, "path/to/adapter")',
                  'tokenizer = AutoTokenizer.from_pretrained("path/to/adapter")']
    lines += ['messages = [{"role": "user", "content": "..."}]',
              ("inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\", "
              "return_dict=True)"),
              "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=256)[0]))", "```", "",
              "The merged 16-bit model (`merged/`) loads with `AutoModelForCausalLM.from_pretrained` alone.", "",
              "Ollama (from the exported GGUF and Modelfile):", "", "```sh",
              "ollama create my-model -f Modelfile", "ollama run my-model", "```", ""]
    return "\n".join(lines)
