"""The models the playground can chat with, and the process-wide cache that keeps them loaded.

A model is loaded once and shared by every session (the dashboard serves sessions on threads). The cache
holds at most a memory budget's worth of weights, unloading the least recently used model to make room,
and never loads onto a GPU that a running job holds: it raises ModelBusy, which the page shows and retries.
"""
from __future__ import annotations

import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from backend import config
from backend.errors import LabError, NotFound
from backend.jobs.gpus import gpu_inventory
from backend.jobs.status import STARTED
from backend.traces.teachers import Teacher, teacher_from_json
from backend.training.model_size import GB, in_hf_cache, weights_gb
from backend.training.run_outputs import RunOutputs

MEMORY_ENV = config.PLAYGROUND_MEMORY_GB
TEACHER_PREFIX = "teacher:"
MERGED_PART = "merged"  # JOB_ID:merged names a run's merged model

Progress = Callable[[str], None]


class ModelBusy(LabError):
    """Every GPU is held by a running job; the model loads once one is free."""


@dataclass(frozen=True)
class ModelChoice:
    label: str
    kind: str  # "local" | "teacher"
    base: str | None = None
    adapter: str | None = None
    teacher: dict | None = None

    @property
    def key(self) -> str:
        if self.kind == "teacher":
            return TEACHER_PREFIX + json.dumps(self.teacher, sort_keys=True)
        return f"{self.base}+{self.adapter}" if self.adapter else str(self.base)

    def to_json(self) -> dict:
        return asdict(self)


def teacher_choice(teacher: Teacher | dict) -> ModelChoice:
    teacher = teacher if isinstance(teacher, Teacher) else teacher_from_json(teacher)
    return ModelChoice(f"teacher {teacher.label}", "teacher", teacher=teacher.to_json())


def _run_choices(job) -> list[ModelChoice]:
    run = RunOutputs.of(job)
    info = run.info
    if not info.get("base_model"):
        return []
    found = [ModelChoice(f"{Path(info['base_model']).name} (base of {job.id})", "local", info["base_model"])]
    try:
        refs = run.models("all")
    except LabError:
        refs = []
    found += [ModelChoice(ref.label, "local", ref.base, ref.adapter) for ref in refs]
    if run.merged:
        found.append(ModelChoice(f"{job.id} merged", "local", str(run.merged)))
    return found


def available_models(teachers: list[Teacher | dict] | None = None) -> list[ModelChoice]:
    """Every training run's base model (once per model), final adapter, checkpoints and merged model, newest
    run first; then the given teachers."""
    from backend.jobs.manager import list_jobs

    choices: list[ModelChoice] = []
    seen: set[str] = set()
    for job in list_jobs(kind="train"):
        for choice in _run_choices(job):
            if choice.key not in seen:
                seen.add(choice.key)
                choices.append(choice)
    return choices + [teacher_choice(t) for t in teachers or []]


def _folder_choice(folder: Path) -> ModelChoice:
    adapter_config = folder / "adapter_config.json"
    if adapter_config.is_file():
        base = (json.loads(adapter_config.read_text()) or {}).get("base_model_name_or_path")
        if not base:
            raise LabError(f"{adapter_config}: no base_model_name_or_path, so the adapter's base model is unknown")
        return ModelChoice(f"{Path(base).name} + {folder.name}", "local", base, str(folder))
    if not (folder / "config.json").is_file():
        raise LabError(f"{folder}: not a model folder (no config.json) and not an adapter (no adapter_config.json)")
    return ModelChoice(folder.name, "local", str(folder))


def resolve_choice(text: str) -> ModelChoice:
    """"JOB_ID", "JOB_ID:checkpoint-N", "JOB_ID:merged", a local folder (a model or an adapter), a Hugging Face
    id already in the local cache, "teacher:MODEL@BASE_URL" or "teacher:MODEL" (OpenAI)."""
    from backend.jobs.manager import get

    text = text.strip()
    if text.startswith(TEACHER_PREFIX):
        model, _, base_url = text[len(TEACHER_PREFIX):].partition("@")
        if not model:
            raise LabError(f"{text!r}: name the teacher's model, e.g. teacher:gpt-4o-mini or teacher:MODEL@BASE_URL")
        return teacher_choice(Teacher(model=model, base_url=base_url or None))
    folder = Path(text).expanduser()
    if folder.is_dir():
        return _folder_choice(folder.resolve())
    job_id, _, part = text.partition(":")
    try:
        job = get(job_id)
    except NotFound:
        if in_hf_cache(text):
            return ModelChoice(text, "local", text)
        raise LabError(f"{text!r} is not a training job id, a model folder or a cached Hugging Face model; use "
                       "JOB_ID, JOB_ID:checkpoint-N, JOB_ID:merged, a folder, teacher:MODEL or "
                       "teacher:MODEL@BASE_URL") from None
    run = RunOutputs.of(job)
    if part == MERGED_PART:
        if not run.merged:
            raise LabError(f"job {job_id} has no merged model (train with merge on to get one)")
        return ModelChoice(f"{job_id} merged", "local", str(run.merged))
    [ref] = run.models(part or None)
    return ModelChoice(ref.label, "local", ref.base, ref.adapter)


def estimate_gb(choice: ModelChoice) -> float:
    """Memory the model's weights take once loaded: parameter count x dtype bytes (base + adapter)."""
    if choice.kind != "local" or not choice.base:
        raise LabError(f"{choice.label}: only local models are loaded into memory")
    return weights_gb(choice.base, choice.adapter)


def budget_gb() -> float:
    """FTLAB_PLAYGROUND_MEMORY_GB, else half of the GPU's memory on a GPU machine, half of RAM on the CPU."""
    setting = config.playground_memory_gb()
    if setting is not None:
        return setting
    if _cuda_available():
        from backend.training.memory import detect_devices

        devices = detect_devices()
        if devices:
            return max(d["total_gb"] for d in devices) / 2
    return psutil.virtual_memory().total / GB / 2


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _gb(value: float) -> str:
    return f"{value:.3g} GB"


def _free_gpu() -> int | None:
    """A GPU no running job holds; ModelBusy when jobs hold all of them; None on a machine without GPUs."""
    from backend.jobs.manager import list_jobs

    inventory = gpu_inventory()
    if not inventory:
        return None
    holders: dict[int, str] = {}
    for status in STARTED:
        for job in list_jobs(status=status):
            for gpu in (job.gpu_ids or "").split(","):
                if gpu.strip().isdigit():
                    holders[int(gpu)] = f"job {job.id}" + (f" ({job.title})" if job.title else "")
    free = [gpu for gpu in inventory if gpu not in holders]
    if free:
        return free[0]
    held = "; ".join(f"GPU {gpu} is held by {holders[gpu]}" for gpu in inventory)
    raise ModelBusy(f"every GPU is in use: {held}. The model loads when that job ends; waiting and retrying.")


class ModelCache:
    """Loaded models shared between sessions, least recently used first out when the budget is reached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._loaded: OrderedDict[str, tuple[object, float]] = OrderedDict()
        self.loads: Counter = Counter()  # how many times each model key was loaded, for tests and the page

    def loaded(self) -> list[dict]:
        with self._lock:
            return [{"key": key, "gb": size} for key, (_, size) in self._loaded.items()]

    def unload(self, choice: ModelChoice) -> None:
        with self._lock:
            self._loaded.pop(choice.key, None)

    def _cached(self, key: str):
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key][0]
        return None

    def _make_room(self, size: float, budget: float, progress: Progress | None) -> None:
        with self._lock:
            while self._loaded and sum(s for _, s in self._loaded.values()) + size > budget:
                key, _ = self._loaded.popitem(last=False)
                if progress:
                    progress(f"unloaded {key} to make room")

    def get(self, choice: ModelChoice, progress: Progress | None = None):
        """The loaded model (a LocalTeacher: .model, .tokenizer), loading it once however many callers ask."""
        if choice.kind != "local":
            raise LabError(f"{choice.label} is a teacher endpoint; there is nothing to load")
        found = self._cached(choice.key)
        if found is not None:
            return found
        with self._lock:
            key_lock = self._key_locks.setdefault(choice.key, threading.Lock())
        with key_lock:
            found = self._cached(choice.key)
            if found is not None:
                return found
            size, budget = estimate_gb(choice), budget_gb()
            if size > budget:
                raise LabError(f"{choice.label} needs {_gb(size)}, the budget is {_gb(budget)} "
                               f"({MEMORY_ENV}); pick a smaller model or raise the budget")
            gpu = _free_gpu()
            device = f"cuda:{gpu}" if gpu is not None and _cuda_available() else "cpu"
            self._make_room(size, budget, progress)
            if progress:
                progress(f"loading {choice.label} ({_gb(size)}) on {device}")
            from backend.traces.local_teacher import LocalTeacher

            model = LocalTeacher(choice.base, device=device, adapter=choice.adapter)
            with self._lock:
                self._loaded[choice.key] = (model, size)
                self.loads[choice.key] += 1
            return model


_CACHE = ModelCache()


def get_cache() -> ModelCache:
    return _CACHE
