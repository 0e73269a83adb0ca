"""The local backend: the worker itself is the compute. Generation and the Spark job run in-process.

Each function returns a small JSON-able summary, which the DAG passes on as XCom.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bias_audit.config import RunConfig, runs_dir, warehouse_dir

log = logging.getLogger(__name__)

ANALYSIS_FILE = "analysis.json"


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


def generate(
    config: RunConfig, provider_settings: Mapping[str, Any] | None = None, runs: Path | None = None
) -> dict[str, object]:
    """Run generation here; ``provider_settings`` (from an Airflow connection) override the environment."""
    from bias_audit.generate import generate as run_generation
    from bias_audit.llm import make_provider

    result = run_generation(config, runs or runs_dir(), make_provider(config.provider, provider_settings))
    return {
        "run_id": config.run_id,
        "run_dir": str(result.run_dir),
        "requests": result.total,
        "sent": result.sent,
        "already_recorded": result.already_recorded,
        "outcomes": result.outcomes,
    }


def analyze(run_id: str, runs: Path | None = None, tables: str | None = None) -> dict[str, object]:
    """``runs`` and ``tables`` (a location, see tables.py) default to $BIAS_AUDIT_HOME's."""
    from bias_audit.analyze.job import analyze as run_analysis

    runs = runs or runs_dir()
    summary = run_analysis(run_id, runs, tables or warehouse_dir()).as_dict()
    path = write_analysis(runs / run_id, summary)
    log.info("analysis of run %s: tables in %s, summary in %s", run_id, summary["warehouse"], path)
    return {**summary, "summary_file": str(path)}


def write_analysis(run_dir: Path, summary: Mapping[str, Any]) -> Path:
    """The analysis summary beside the run's answers (what the pages and the demo read)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / ANALYSIS_FILE
    path.write_text(json.dumps(dict(summary), indent=2, default=str) + "\n", encoding="utf-8")
    return path


def report(run_id: str, runs: Path | None = None, tables: str | None = None) -> dict[str, object]:
    from bias_audit.report import write_report
    from bias_audit.tables import open_tables
    from bias_audit.trends import trends as read_trends
    from bias_audit.trends import write_trends

    runs, store = runs or runs_dir(), open_tables(tables or warehouse_dir())
    history = read_trends(store)  # once, for the report's drift section and the trend page
    path = write_report(run_id, runs, store, history)
    trends = write_trends(history, runs)
    log.info("report of run %s: %s; trends of every audited suite and model: %s", run_id, path, trends)
    return {"run_id": run_id, "report": str(path), "trends": str(trends)}


def stop(handle: dict[str, str]) -> None:
    """Nothing to release locally: the Spark session ends with the worker process."""
    log.info("local compute released (%s)", handle.get("backend"))
