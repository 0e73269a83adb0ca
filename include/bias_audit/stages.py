"""The stages of an audit run in this process: generate, analyze, report. Each returns a small
JSON-able summary, which the DAG passes on as XCom and the Databricks job prints as its result.

The local backend runs them in the Airflow worker; on Databricks, the project's wheel runs them on
the cluster (compute/databricks_job.py). No Airflow here: the same code runs in the CLI, a worker
and a cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.paths import runs_dir, warehouse_dir
from bias_audit.run_folder import RunFolder

if TYPE_CHECKING:
    from bias_audit.judge.grading import JudgeLimits

log = logging.getLogger(__name__)


def generate(
    config: RunConfig,
    provider_settings: Mapping[str, Any] | None = None,
    runs: Path | None = None,
    origin: Mapping[str, str] | None = None,
    judge_settings: Mapping[str, Any] | None = None,
) -> dict[str, object]:
    """Run generation here; ``provider_settings`` (from an Airflow connection) override the
    environment; ``origin`` (the Airflow DAG and run) is recorded in run.json. A run with a judge
    then has its answers graded (``judge_settings``: the judge's connection), see ``grade``."""
    from bias_audit.generate import generate as run_generation
    from bias_audit.llm import make_provider

    runs = runs or runs_dir()
    provider = make_provider(config.provider, provider_settings)
    result = run_generation(config, runs, provider, origin=origin)
    summary: dict[str, object] = {
        "run_id": config.run_id,
        "run_dir": str(result.run_dir),
        "requests": result.total,
        "sent": result.sent,
        "already_recorded": result.already_recorded,
        "outcomes": result.outcomes,
    }
    if config.judge != "none":
        summary["judge"] = judge_run(config, runs, judge_settings)
    return summary


def judge_run(config: RunConfig, runs: Path, settings: Mapping[str, Any] | None = None) -> dict[str, object]:
    """``grade`` with the run's own judge and its quota (``config.judge``, ``judge_tpm`` ...)."""
    from bias_audit.judge.grading import JudgeLimits

    return grade(config.run_id, config.judge, runs, JudgeLimits.of(config), settings)


def grade(
    run_id: str,
    provider_name: str,
    runs: Path | None = None,
    limits: JudgeLimits | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, object]:
    """Grade the run's answers with a judge (judge/grading.py; ``limits``: its tpm, rpm and
    concurrency; ``settings``: its connection, else BIAS_AUDIT_JUDGE_* and the provider's
    variables); then make sure the judge's own error is measured (judge-check, once per judge and
    rubric), for the report."""
    from bias_audit.judge.check import ensure_check
    from bias_audit.judge.grading import grade_run
    from bias_audit.llm.registry import judge_environment, make_provider

    runs = runs or runs_dir()
    folder = RunFolder.of(runs, run_id)
    if not folder.responses.is_file():
        raise UserInputError(
            "no answers recorded here to grade; run `bias-audit generate` first", source=str(folder.path)
        )
    provider = make_provider(provider_name, settings, env=judge_environment())
    result = grade_run(folder, runs, provider, limits)
    check = ensure_check(provider, runs, limits)
    return {**result.as_dict(), "check": str(check)}


def analyze(run_id: str, runs: Path | None = None, tables: str | None = None) -> dict[str, object]:
    """``runs`` and ``tables`` (a location, see tables.py) default to $BIAS_AUDIT_HOME's."""
    from bias_audit.analyze.job import analyze as run_analysis

    runs = runs or runs_dir()
    summary = run_analysis(run_id, runs, tables or warehouse_dir()).as_dict()
    path = RunFolder.of(runs, run_id).write_analysis(summary)
    log.info("analysis of run %s: tables in %s, summary in %s", run_id, summary["warehouse"], path)
    return {**summary, "summary_file": str(path)}


def report(
    run_id: str, runs: Path | None = None, tables: str | None = None, baseline: str | None = None
) -> dict[str, object]:
    """The report and the trend page; with a ``baseline`` (``previous`` or a run id, see
    compare.resolve_baseline), first the comparison with it, which the report links."""
    from bias_audit.compare import compare_and_record, resolve_baseline, summary
    from bias_audit.report import write_report
    from bias_audit.tables import open_tables
    from bias_audit.trends import trends as read_trends
    from bias_audit.trends import write_trends

    runs, store = runs or runs_dir(), open_tables(tables or warehouse_dir())
    comparison = None
    against = resolve_baseline(baseline, run_id, store)
    if against:
        result, _, page = compare_and_record(against, run_id, runs, store)
        comparison = summary(result, page)
        log.info("run %s against %s: %s (%s)", run_id, against, result.conclusion, page)
    elif baseline not in (None, "none"):
        log.info("run %s: no earlier audit of its suite, provider and model to compare with", run_id)
    history = read_trends(store)  # once, for the report's drift section and the trend page
    path = write_report(run_id, runs, store, history, comparison=comparison)
    trends = write_trends(history, runs)
    log.info("report of run %s: %s; trends of every audited suite and model: %s", run_id, path, trends)
    return {"run_id": run_id, "report": str(path), "trends": str(trends), "comparison": comparison}
