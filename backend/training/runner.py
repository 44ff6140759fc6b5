"""The "train" job: SFT of a base model on a dataset version with TRL's SFTTrainer.

    data (rows -> chat messages) -> engine + model -> SFTTrainer -> train (resuming from the latest
    complete checkpoint) -> final eval -> adapter / merged model / Modelfile + run.json

Everything a run writes lives in the job folder: metrics.jsonl and progress.jsonl (callbacks.py),
artifacts/checkpoints, artifacts/adapter (or model), artifacts/merged, artifacts/Modelfile and
artifacts/run.json. Under torchrun every rank trains; rank 0 alone writes files.
"""
from __future__ import annotations

import gc
from dataclasses import fields
from pathlib import Path

from backend.errors import LabError
from backend.jobs.context import JobContext
from backend.jobs.manager import spec_hash
from backend.training.data import TrainingData, load_training_data
from backend.training.engines import UNSLOTH, LoadedModel, choose_engine, load_model
from backend.training.outputs import CHECKPOINTS
from backend.training.run_outputs import is_checkpoint
from backend.training.spec import TrainSpec

SAVE_TOTAL_LIMIT = 3
TRAINER_STATE = "trainer_state.json"  # written last in a checkpoint: its presence means the checkpoint is whole


def spec_from_job(job_spec: dict) -> TrainSpec:
    names = {f.name for f in fields(TrainSpec)}
    return TrainSpec(**{k: v for k, v in job_spec.items() if k in names})


def micro_batches(spec: TrainSpec, loaded: LoadedModel) -> tuple[int, int]:
    """(rows per device per micro-batch, accumulation steps).

    TRL flattens a packed batch into one padding-free sequence. Flash attention handles that per row;
    other implementations (sdpa, eager) attend over the whole flattened batch under a block mask, which
    grows with the square of the batch (0.7x the speed of no packing here instead of 2.3x). So without
    flash attention a packed run feeds one packed row per micro-batch and accumulates to the same
    effective batch."""
    from trl.trainer.sft_trainer import FLASH_ATTENTION_VARIANTS

    attention = str(getattr(loaded.model.config, "_attn_implementation", "")).split("@")[0].split(":")[0]
    if spec.packing and attention not in FLASH_ATTENTION_VARIANTS:
        return 1, spec.batch_size * spec.grad_accum
    return spec.batch_size, spec.grad_accum


def sft_config(spec: TrainSpec, output_dir: Path, loaded: LoadedModel, has_eval: bool):
    from trl import SFTConfig

    periodic_eval = has_eval and spec.eval_steps > 0
    batch_size, grad_accum = micro_batches(spec, loaded)
    return SFTConfig(
        output_dir=str(output_dir),
        assistant_only_loss=spec.assistant_only_loss,
        packing=spec.packing,
        max_length=spec.max_seq_length,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        learning_rate=spec.learning_rate,
        lr_scheduler_type=spec.lr_scheduler,
        warmup_steps=spec.warmup_ratio,  # transformers 5 takes a ratio (< 1) here; warmup_ratio is gone
        weight_decay=spec.weight_decay,
        num_train_epochs=spec.epochs,
        max_steps=spec.max_steps,
        logging_steps=spec.logging_steps,
        save_strategy="steps",
        save_steps=spec.save_steps,
        save_total_limit=SAVE_TOTAL_LIMIT,
        eval_strategy="steps" if periodic_eval else "no",
        eval_steps=spec.eval_steps if periodic_eval else None,
        seed=spec.seed,
        bf16=loaded.precision == "bf16",  # set both explicitly: SFTConfig turns bf16 on when neither is given
        fp16=loaded.precision == "fp16",
        optim=spec.optimizer,
        # Unsloth applies its own checkpointing in get_peft_model; SFTConfig's default would be True
        gradient_checkpointing=spec.gradient_checkpointing and loaded.engine != UNSLOTH,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        dataloader_num_workers=0,
        dataloader_pin_memory=loaded.device == "cuda",
        disable_tqdm=True,
    )


def build_trainer(spec: TrainSpec, loaded: LoadedModel, data: TrainingData, output_dir: Path, callbacks=()):
    """The SFTTrainer for this run (tokenization, masks and packing happen here, as TRL does them)."""
    from trl import SFTTrainer

    eval_dataset = data.eval_dataset()
    return SFTTrainer(
        model=loaded.model,
        args=sft_config(spec, output_dir, loaded, eval_dataset is not None),
        train_dataset=data.train_dataset(),
        eval_dataset=eval_dataset,
        processing_class=loaded.tokenizer,
        peft_config=loaded.peft_config,
        callbacks=list(callbacks),
    )


def latest_checkpoint(folder: Path) -> Path | None:
    """The highest-step checkpoint that was written completely (a kill mid-save leaves one without state)."""
    whole = [p for p in folder.glob("checkpoint-*") if is_checkpoint(p.name) and (p / TRAINER_STATE).is_file()]
    return max(whole, key=lambda p: int(p.name[11:]), default=None)


def parameter_counts(model) -> tuple[int, int]:
    if hasattr(model, "get_nb_trainable_parameters"):  # PEFT: counts 4-bit weights at their real size
        return tuple(int(n) for n in model.get_nb_trainable_parameters())
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def out_of_memory_message(spec: TrainSpec) -> str:
    hints = [f"lower batch_size (now {spec.batch_size}; raise grad_accum to keep the effective batch)",
             f"lower max_seq_length (now {spec.max_seq_length})"]
    if not spec.gradient_checkpointing:
        hints.append("turn on gradient_checkpointing")
    if spec.method != "qlora":
        hints.append("use method qlora (a 4-bit base)")
    return "the device ran out of memory while training " + spec.base_model + ": " + "; ".join(hints)


def _check_rows_left(ctx: JobContext, spec: TrainSpec, rows: int, prepared) -> None:
    """TRL leaves out rows with nothing to learn once cut to max_seq_length; say so, and stop when none is left."""
    left = len(prepared) if prepared is not None and hasattr(prepared, "__len__") else rows
    if left == 0:
        raise LabError(f"none of the {rows} training rows has an answer left within max_seq_length="
                       f"{spec.max_seq_length} tokens: raise max_seq_length or shorten the prompts")
    if left < rows:
        ctx.log(f"{rows - left} of {rows} training rows have no answer left within max_seq_length="
                f"{spec.max_seq_length} and are left out")


def _last(history: list[dict], key: str) -> dict | None:
    """The latest log entry that has `key`."""
    return next((entry for entry in reversed(history) if key in entry), None)


def run_training_job(ctx: JobContext) -> dict:
    spec = spec_from_job(ctx.spec)
    try:
        return _run(ctx, spec)
    except Exception as exc:
        if is_out_of_memory(exc):
            raise LabError(out_of_memory_message(spec)) from exc
        raise


def _quiet_progress_bars() -> None:
    """Progress bars redraw with carriage returns, which only clutter a job's stdout.log."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def _run(ctx: JobContext, spec: TrainSpec) -> dict:
    engine = choose_engine(spec)  # before transformers/TRL are imported, for Unsloth's patches
    from transformers import set_seed

    from backend.training import outputs
    from backend.training.callbacks import MetricsCallback, StopOnCancel

    _quiet_progress_bars()
    set_seed(spec.seed)  # LoRA weights are initialised before the Trainer seeds anything
    data = load_training_data(spec)
    ctx.log(f"dataset {data.version.ref}: {data.train_rows} train rows, {data.eval_rows} eval rows")
    loaded = load_model(spec, engine, data.texts())
    ctx.log(f"engine {loaded.engine}, device {loaded.device}, precision {loaded.precision}, base {loaded.base_model}")
    checkpoints = ctx.artifacts / CHECKPOINTS
    trainer = build_trainer(spec, loaded, data, checkpoints, [MetricsCallback(ctx), StopOnCancel(ctx)])
    _check_rows_left(ctx, spec, data.train_rows, trainer.train_dataset)
    trainable, total = parameter_counts(trainer.model)
    rank_zero = trainer.is_world_process_zero()
    result = {"steps": 0, "final_loss": None, "eval_loss": None, "adapter": None, "merged": None,
              "engine": loaded.engine, "device": loaded.device, "train_rows": data.train_rows,
              "eval_rows": data.eval_rows, "trainable_params": trainable, "total_params": total}
    info = {"engine": loaded.engine, "device": loaded.device, "world_size": trainer.args.world_size,
            "precision": loaded.precision, "method": spec.method, "base_model": loaded.base_model,
            "trainable_params": trainable, "total_params": total, "train_rows": data.train_rows,
            "eval_rows": data.eval_rows, "spec_hash": spec_hash(spec.to_json()), "dataset": data.version.ref,
            "dataset_content_hash": data.version.content_hash, "recipe": data.version.recipe}
    if rank_zero:
        outputs.write_run_info(ctx.artifacts, info)

    resume = latest_checkpoint(checkpoints)
    if not ctx.cancelled:
        if resume:
            ctx.log(f"resuming from {resume.name}")
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    step = trainer.state.global_step
    last_loss = _last(trainer.state.log_history, "loss")
    result.update(steps=step, final_loss=last_loss["loss"] if last_loss else None)
    if ctx.cancelled:
        saved = latest_checkpoint(checkpoints)
        return {**result, "checkpoint": str(saved) if saved else None}
    if data.eval_rows:
        last_eval = _last(trainer.state.log_history, "eval_loss")
        fresh = last_eval is not None and last_eval["step"] == step  # the periodic eval ran at the last step
        result["eval_loss"] = last_eval["eval_loss"] if fresh else trainer.evaluate()["eval_loss"]
    if not rank_zero:
        return result

    full = spec.method == "full"
    model = trainer.accelerator.unwrap_model(trainer.model)
    trained = outputs.save_trained(model, loaded.tokenizer, ctx.artifacts, full)
    result["adapter"] = str(trained)
    ctx.log(f"saved {trained}")
    if spec.merge:
        del model, trainer, loaded  # free the training copy before loading the base again
        _free_memory()
        precision = outputs.merged_precision(info["precision"], info["base_model"])
        merged = outputs.merge(info["base_model"], trained, ctx.artifacts, precision, full)
        result["merged"] = str(merged)
        ctx.log(f"merged ({precision}) into {merged}")
        if spec.modelfile:
            result["modelfile"] = str(outputs.write_modelfile(merged, ctx.artifacts))
    outputs.write_run_info(ctx.artifacts, {**info, "result": result})
    return result


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
