"""The environment a job process starts with: an allowlist, not the starter's whole environment.

A job used to inherit everything of whoever started it (the dashboard, the CLI, a finishing job's runner), so
a provider key exported for the dashboard sat in every job's environment, readable with `ps eww` or
/proc/<pid>/environ. Now a job gets only what it needs to run:

- the system: PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, LC_*, TZ, TERM, TMPDIR/TMP/TEMP,
  LD_LIBRARY_PATH, VIRTUAL_ENV, CONDA_*, XDG_CACHE_HOME, TLS certificate bundles and HTTP(S)_PROXY/NO_PROXY;
- Python: PYTHONPATH and the other PYTHON* settings;
- the compute stack: HF_*, HUGGINGFACE_*, TRANSFORMERS_*, TORCH*, PYTORCH_*, CUDA_*, NVIDIA_*, NCCL_*, CUBLAS_*,
  CUDNN_*, TRITON_*, BNB_*, UNSLOTH_*, ACCELERATE_*, TOKENIZERS_*, TIKTOKEN_*, SENTENCE_TRANSFORMERS_*, OMP_*,
  KMP_*, GOMP_*, MKL_*, OPENBLAS_*, NUMEXPR_*, VECLIB_*, MASTER_ADDR/MASTER_PORT;
- the cluster and the lab: SLURM_*, FTLAB_*; and COVERAGE_* for measuring tests;

and never a variable whose name says it holds a secret (a part KEY, TOKEN, SECRET, PASSWORD, PASSWD, CREDENTIAL
or CREDENTIALS: HF_TOKEN, OPENAI_API_KEY, FTLAB_..._SECRET), whatever its prefix. Keys a job needs reach it
another way (backend/keys.py: the owner's saved keys and secrets.toml are read by the job itself; a key from
the submitter's environment is handed over in a 0600 file the job deletes as it starts). The same allowlist
is the environment `sbatch` runs with, so a Slurm job (which exports sbatch's environment) gets no more.
"""
from __future__ import annotations

import os
import re

EXACT = {
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR", "TMP", "TEMP",
    "LD_LIBRARY_PATH", "VIRTUAL_ENV", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "MASTER_ADDR", "MASTER_PORT", "MPLCONFIGDIR",
}
PREFIXES = (
    "LC_", "CONDA_", "PYTHON", "HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "CUDA_", "NVIDIA_",
    "NCCL_", "CUBLAS_", "CUDNN_", "TRITON_", "BNB_", "UNSLOTH_", "ACCELERATE_", "TOKENIZERS_", "TIKTOKEN_",
    "SENTENCE_TRANSFORMERS_", "OMP_", "KMP_", "GOMP_", "MKL_", "OPENBLAS_", "NUMEXPR_", "VECLIB_", "SLURM_",
    "FTLAB_", "COVERAGE_",
)
SECRET_PARTS = {"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS", "APIKEY"}


def looks_secret(name: str) -> bool:
    """A name with a part (split on '_' and '-') that says it holds a secret: OPENAI_API_KEY, HF_TOKEN, ..."""
    return any(part in SECRET_PARTS for part in re.split(r"[_\-]+", name.upper()))


def allowed(name: str) -> bool:
    return (name in EXACT or name.startswith(PREFIXES)) and not looks_secret(name)


def job_environment(extra: dict[str, str] | None = None, source: dict[str, str] | None = None) -> dict[str, str]:
    """The allowlisted part of `source` (default: this process's environment), plus `extra` (set by the lab)."""
    source = os.environ if source is None else source
    env = {name: value for name, value in source.items() if allowed(name)}
    env.update(extra or {})
    return env
