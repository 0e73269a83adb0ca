"""The run catalog: which audits exist and how they relate, read by compare, trends, the report and
the audit pages alike.

- ``read_runs``: the analysed runs of the warehouse's ``runs`` table, oldest first, as the pages
  show them (``run_summary``);
- ``all_runs``: those, the runs only mirrored into the runs folder (``analysis.json``, as the
  Databricks backend writes it) and the runs started but not analysed yet, newest first;
- ``previous_audit`` and ``neighbours``: the audits of the same suite, provider and model before
  and after one;
- ``airflow_run_path``: the one builder of the path of the Airflow DAG run that made an audit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bias_audit.run_folder import (
    MANIFEST_FILE,
    RunFolder,
    analysed_runs,
    failed_runs,
    is_run_id,
    started_runs,
)
from bias_audit.tables import Tables, open_tables

log = logging.getLogger(__name__)

RUN_COLUMNS = (
    "run_id",
    "suite",
    "language",
    "translates",
    "suite_hash",
    "provider",
    "model",
    "samples",
    "responses",
    "verdict",
    "verdict_scope",
    "verdict_summary",
    "task",
    "first_response_at",
    "analyzed_at",
    "mode",
    "stop_reason",
    "rounds",
    "thresholds",
    "airflow_dag_id",
    "airflow_run_id",
)
# An audit's series: the runs of one suite with one provider and model.
SERIES_KEY = ("suite", "provider", "model")

# What the list says of a run that has no analysis yet, by its manifest's status.
_NOT_ANALYSED = {
    "generating": "generating (or stopped during generation: see the generate task's log)",
    "generated": "generated, not analysed yet (or its analysis failed: see the analyze task's log)",
}


def suite_family(run: Mapping[str, Any]) -> str:
    """The suite whose cases a run asked: its own, or the one its suite translates (occupations-gender
    for occupations-gender-es). Runs of one family can be compared."""
    return str(run.get("translates") or run.get("suite"))


def run_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of the runs table as the pages show it: ``RUN_COLUMNS`` and ``at``, when the run was
    generated (a timestamp, or its ISO text as analysis.json keeps it)."""
    at = row.get("first_response_at") or row.get("analyzed_at") or ""
    return {
        **{c: row.get(c) for c in RUN_COLUMNS},
        "at": str(at).replace("T", " "),
        "shown_at": shown_time(at),
    }


def shown_time(value: object) -> str:
    """A time as the pages show it: to the minute, in UTC, saying so (``2026-11-29 10:59 UTC``)."""
    if not value:
        return ""
    when = value if isinstance(value, datetime) else None
    if when is None:
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if when.tzinfo is None:  # the tables keep UTC
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def read_runs(warehouse: Path | str | Tables) -> list[dict[str, Any]]:
    """Every analysed run of the local tables (one row each), oldest first."""
    rows = [run_summary(row) for row in open_tables(warehouse).rows("runs")]
    return sorted(rows, key=lambda r: (r["at"], r["run_id"]))


def unanalysed(folder: RunFolder) -> dict[str, Any]:
    """A run the tables do not have yet, as the list shows it: from its manifest (run.json)."""
    manifest = folder.read_manifest() if (folder.path / MANIFEST_FILE).is_file() else {}
    failure = folder.read_failure()
    at = manifest.get("updated_at") or (failure or {}).get("at") or ""
    status = _NOT_ANALYSED.get(str(manifest.get("status")), str(manifest.get("status")))
    return {
        **dict.fromkeys(RUN_COLUMNS),
        **{k: manifest.get(k) for k in ("suite", "provider", "model", "samples", "mode")},
        **{k: manifest.get(k) or (failure or {}).get(k) for k in ("airflow_dag_id", "airflow_run_id")},
        "run_id": folder.run_id,
        "status": f"failed: {failure['reason']}" if failure else status,
        "failed": failure is not None,
        "at": str(at).replace("T", " "),
        "shown_at": shown_time(at),
    }


def all_runs(local: list[dict[str, Any]], runs: Path) -> list[dict[str, Any]]:
    """Newest first: the runs of the local tables (``local``, from read_runs), those only mirrored
    into the runs folder, and those started but not analysed. Folders whose names are not run ids
    (copied in by hand) are left out and logged."""
    rows = list(local)
    known = {row["run_id"] for row in rows}
    for folder in analysed_runs(runs):
        mirrored = (folder.read_analysis() or {}).get("run")
        if mirrored and mirrored.get("run_id") not in known:
            rows.append(run_summary(mirrored))
            known.add(mirrored["run_id"])
    for folder in [*started_runs(runs), *failed_runs(runs)]:  # generating, failed or stopped before analysis
        if folder.run_id not in known and not folder.analysis.is_file():
            rows.append(unanalysed(folder))
            known.add(folder.run_id)
    stray = [row["run_id"] for row in rows if not is_run_id(str(row["run_id"]))]
    if stray:
        log.warning("not audit runs, left out of the list: %s", ", ".join(map(repr, stray)))
    listed = [row for row in rows if is_run_id(str(row["run_id"]))]
    return sorted(listed, key=lambda r: (r["at"], r["run_id"]), reverse=True)


def series_of(rows: list[dict[str, Any]], run_id: str) -> tuple[list[dict[str, Any]], int] | None:
    """The runs of ``run_id``'s series (same suite, provider and model), oldest first, and its
    place among them; None for an unknown run. ``rows`` in any order."""
    ordered = sorted(rows, key=lambda r: (r["at"], r["run_id"]))
    this = next((r for r in ordered if r["run_id"] == run_id), None)
    if this is None:
        return None
    same = [r for r in ordered if all(r.get(k) == this.get(k) for k in SERIES_KEY)]
    return same, same.index(this)


def neighbours(rows: list[dict[str, Any]], run_id: str) -> tuple[dict | None, dict | None] | None:
    """The audits just before and just after ``run_id`` in its series (None at either end); None
    for an unknown run."""
    found = series_of(rows, run_id)
    if found is None:
        return None
    same, at = found
    return (same[at - 1] if at > 0 else None), (same[at + 1] if at + 1 < len(same) else None)


def previous_audit(run_id: str, warehouse: Path | str | Tables) -> str | None:
    """The last analysed run of the same suite, provider and model generated before ``run_id``."""
    found = neighbours(read_runs(warehouse), run_id)
    previous = found[0] if found else None
    return previous["run_id"] if previous else None


def airflow_run_path(row: Mapping[str, Any]) -> str | None:
    """``dags/<dag id>/runs/<run id>``: the Airflow UI's page of the DAG run that made an audit,
    relative to the UI's root, or None when the run did not record one (started by the CLI)."""
    if not row.get("airflow_dag_id") or not row.get("airflow_run_id"):
        return None
    dag_id, run_id = (quote(str(row[k]), safe="") for k in ("airflow_dag_id", "airflow_run_id"))
    return f"dags/{dag_id}/runs/{run_id}"
