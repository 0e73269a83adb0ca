"""Where things live on disk: the data home, its runs and warehouse, the local model's cache.
Read from the environment at each call, so a test or a worker can point them elsewhere."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """Root of runs and warehouse: ``$BIAS_AUDIT_HOME``, else ``~/bias-audit``."""
    return Path(os.environ.get("BIAS_AUDIT_HOME") or Path.home() / "bias-audit").expanduser()


def runs_dir() -> Path:
    """Where ``<run_id>/responses.jsonl`` files are written."""
    return data_home() / "runs"


def warehouse_dir() -> Path:
    """Where the Spark tables (Parquet, partitioned by run_id) are stored."""
    return Path(os.environ.get("BIAS_AUDIT_WAREHOUSE") or data_home() / "warehouse").expanduser()


def model_cache_dir() -> Path:
    """Where the local model file is assembled once: ``$BIAS_AUDIT_MODEL_CACHE``."""
    default = Path.home() / ".cache" / "bias-audit" / "models"
    return Path(os.environ.get("BIAS_AUDIT_MODEL_CACHE") or default).expanduser()
