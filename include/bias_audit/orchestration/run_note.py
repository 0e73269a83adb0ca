"""The verdict in words as the note of the Airflow DAG run, so that it shows in the grid and the
run's header, not only in the report.

A task cannot write a DAG run's note (the Task SDK has no call for it, and the REST API would need
credentials in the worker), so the plugin registers this module as a listener: when a run of the
audit DAG ends, the scheduler (or ``dag.test``) calls ``on_dag_run_success`` / ``on_dag_run_failed``
with the run bound to its database session, and the note is set there, committed with the run's
state (a separate session would wait on the row the scheduler has locked); a run handed over
detached (``dag.test``) is updated in a session of its own. The text is the run's
``verdict_summary`` from its analysis summary (``analysis.json`` in the run folder, written by the
analysis locally and mirrored by the gate from Databricks). A note a person wrote is kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from airflow.listeners import hookimpl

from bias_audit.orchestration.gate import FAILURE_KEY
from bias_audit.paths import runs_dir
from bias_audit.run_folder import RunFolder, safe_run_id

log = logging.getLogger(__name__)

DAG_ID = "llm_bias_audit"
NOTE_LIMIT = 1000  # the length of Airflow's dag_run_note.content column
MARK = "Bias audit"  # how a note this module wrote begins, so a later run of it may replace it


def note_of(airflow_run_id: str, *, failed: bool, reason: str | None = None) -> str | None:
    """The note for an audit run: the verdict in words, or, for a run that failed before its
    analysis, that it has none and why (``reason``: "generate: suite: …", when a task left it)."""
    analysis = RunFolder.of(runs_dir(), safe_run_id(airflow_run_id)).read_analysis()
    if analysis is None:
        if not failed:
            return None
        why = f" {reason}" if reason else " the run failed before its analysis (see the failed task's log)."
        return _limited(f"{MARK}: no verdict;{why}")
    run: dict[str, Any] = analysis.get("run") or {}
    summary = run.get("verdict_summary") or str(analysis.get("verdict", "")).upper()
    return _limited(f"{MARK}: {summary}")


def _limited(text: str) -> str:
    return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 1] + "…"


def failure_reason(dag_run: Any, session: Any) -> str | None:
    """What the task that failed on bad input left as its reason (gate.FAILURE_KEY), as
    "<task> failed: <reason>"; None when no task left one."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    query = select(XComModel.task_id, XComModel.value).where(
        XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id, XComModel.key == FAILURE_KEY
    )
    for task_id, value in session.execute(query).all():
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # stored as JSON text by some backends
                value = json.loads(value)
        return f"{task_id} failed: {value}"
    return None


# How Airflow says a run was failed by a person ("Mark as failed": the REST API's PATCH of its state).
MANUALLY = "manually set"
STOPPED = "stopped by hand (marked failed in Airflow) before it finished"


def reason_of_failure(left: str | None, msg: str | None, recorded: str | None = None) -> str | None:
    """Why a run failed: what its failed task left (``left``), else "stopped by hand" when Airflow's
    message says a person set its state or the run was recorded so before (``recorded``: the
    teardown of a run stopped by hand then fails it once more, with no reason of its own), else
    None (the note then points to the task logs)."""
    if left is None and (MANUALLY in (msg or "") or recorded == STOPPED):
        return STOPPED
    return left


def _annotate(dag_run: Any, *, failed: bool, msg: str = "") -> None:
    if dag_run.dag_id != DAG_ID:
        return
    try:
        from airflow.utils.session import create_session
        from sqlalchemy.orm import object_session

        held = object_session(dag_run)
        reason = None
        if failed:
            if held is not None:
                reason = failure_reason(dag_run, held)
            else:
                with create_session() as session:
                    reason = failure_reason(dag_run, session)
            recorded = RunFolder.of(runs_dir(), safe_run_id(dag_run.run_id)).read_failure() or {}
            reason = reason_of_failure(reason, msg, recorded.get("reason"))
        _record_failure(dag_run, failed=failed, reason=reason)
        note = note_of(dag_run.run_id, failed=failed, reason=reason)
        if not note:
            return
        if held is not None:
            # the scheduler's run, in its session (which holds the run's row lock): set it there
            _set(dag_run, note)
            return
        # a run handed over detached (dag.test): no transaction holds it, so a session of our own
        from airflow.models.dagrun import DagRun
        from sqlalchemy import select

        with create_session() as session:
            query = select(DagRun).where(DagRun.dag_id == dag_run.dag_id, DagRun.run_id == dag_run.run_id)
            _set(session.scalar(query), note)
    except Exception:  # a note must never break the scheduler's loop
        log.exception("could not set the verdict as the note of %s", dag_run.run_id)


def _record_failure(dag_run: Any, *, failed: bool, reason: str | None) -> None:
    """A failed run's reason in its run folder (failure.json), for the runs page and the report tab;
    a run that later succeeds (cleared and run again) drops it."""
    folder = RunFolder.of(runs_dir(), safe_run_id(dag_run.run_id))
    if not failed:
        if folder.analysis.is_file():  # it finished after all (cleared and run again): not failed
            folder.failure.unlink(missing_ok=True)
        return
    folder.write_failure(
        {
            "reason": reason or "the run failed (see the failed task's log in the Airflow grid)",
            "airflow_dag_id": dag_run.dag_id,
            "airflow_run_id": dag_run.run_id,
            "at": datetime.now(UTC).isoformat(),
        }
    )


def _set(dag_run: Any, note: str) -> None:
    current = dag_run.note
    if not current or current.startswith(MARK):
        dag_run.note = note


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _annotate(dag_run, failed=False)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _annotate(dag_run, failed=True, msg=msg)
