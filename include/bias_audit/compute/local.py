"""The local backend: the worker itself is the compute; the stages run in-process (stages.py)."""

from __future__ import annotations

import logging
import os

from bias_audit.paths import runs_dir, warehouse_dir

log = logging.getLogger(__name__)


def start() -> dict[str, str]:
    """Nothing to provision: report where the work will run and where its output goes."""
    handle = {
        "backend": "local",
        "spark_master": os.environ.get("BIAS_AUDIT_SPARK_MASTER", "local[*]"),
        "runs_dir": str(runs_dir()),
        "warehouse": str(warehouse_dir()),
    }
    log.info("local compute ready: %s", handle)
    return handle


def stop(handle: dict[str, str]) -> None:
    """Nothing to release locally: the Spark session ends with the worker process."""
    log.info("local compute released (%s)", handle.get("backend"))
