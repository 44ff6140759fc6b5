"""Which GPUs this machine has, without importing torch: FTLAB_GPUS, else nvidia-smi, else none."""
from __future__ import annotations

import functools
import shutil
import subprocess

from backend import config


@functools.lru_cache(maxsize=1)
def _detected() -> tuple[int, ...]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return ()
    try:
        out = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(int(line) for line in out.split() if line.strip().isdigit())


def gpu_inventory() -> list[int]:
    """GPU indices jobs may use. FTLAB_GPUS="0,1" (or a count, "2") overrides detection; "" means none."""
    setting = config.gpus_setting()
    if setting is None:
        return list(_detected())
    setting = setting.strip()
    if setting.isdigit():
        return list(range(int(setting)))
    return [int(x) for x in setting.split(",") if x.strip().isdigit()]
