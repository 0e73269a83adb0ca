"""The report of one run: a self-contained HTML page (plots embedded) with PNGs beside it.

Three steps: read the run's rows from the tables (read.py; Parquet with pyarrow, no Spark needed),
draw its figures in their order (figures.py, matplotlib) and make the template's context
(context.py), then render ``templates/report.html.j2`` with Jinja2 (autoescaped: answers are model
output and are shown as text, never as markup).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bias_audit.html import environment
from bias_audit.report.context import (
    airflow_run_link,
    echoes_system_prompt,
    judge_section,
    report_context,
)
from bias_audit.report.figures import (
    FIGURES_BEFORE_TASK,
    Figure,
    draw_figures,
    figures_of,
    gap_rows,
)
from bias_audit.report.read import RunData, applied_thresholds, case_gaps, read_run
from bias_audit.tables import Tables
from bias_audit.trends import Trend, drifts_of_run, trends

__all__ = [
    "FIGURES_BEFORE_TASK",
    "Figure",
    "RunData",
    "airflow_run_link",
    "applied_thresholds",
    "case_gaps",
    "echoes_system_prompt",
    "figures_of",
    "gap_rows",
    "judge_section",
    "read_run",
    "write_report",
]


def write_report(
    run_id: str,
    runs_dir: Path,
    warehouse: Path | str | Tables,
    history: list[Trend] | None = None,
    comparison: dict[str, Any] | None = None,
) -> Path:
    """``history``: the trends of every audit (trends.trends), if the caller has read them already;
    ``comparison``: the run against its baseline (compare.summary), which the report links."""
    data = read_run(run_id, runs_dir, warehouse)
    drifts = drifts_of_run(trends(data.store) if history is None else history, run_id)
    context = report_context(data, draw_figures(data), drifts, comparison)
    html = environment().get_template("report.html.j2").render(**context)
    data.folder.report.write_text(html, encoding="utf-8")
    return data.folder.report
