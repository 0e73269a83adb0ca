"""The verdict gate (the DAG param ``fail_on``), and failing a task without retries on bad input."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bias_audit.errors import UserInputError

log = logging.getLogger(__name__)


@contextmanager
def fail_fast_on_user_error() -> Iterator[None]:
    """A bad param or suite will not get better on retry: fail the task without retrying, and
    leave the reason as the task's XCom ``FAILURE_KEY`` for the run's note (run_note.py). The
    reason is a UserInputError's message, which names the field and value but never a secret
    (errors.py)."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except UserInputError as exc:
        _leave_reason(str(exc))
        raise AirflowFailException(str(exc)) from None


FAILURE_KEY = "failure_reason"  # the XCom a task that failed on bad input leaves its reason in


def _leave_reason(reason: str) -> None:
    try:
        from airflow.sdk import get_current_context

        get_current_context()["ti"].xcom_push(key=FAILURE_KEY, value=reason)
    except Exception:  # outside a task, or the API unreachable: the task log still has the reason
        log.warning("could not keep the failure's reason for the run's note", exc_info=True)


def comparison_gate(comparison: Mapping[str, Any] | None, fail_on_increase: bool) -> None:
    """With ``fail_on_increase``, fail the task when a gap increased against the baseline audit."""
    from airflow.sdk.exceptions import AirflowFailException

    if not comparison:
        return
    increased = comparison.get("increased") or []
    message = f"against {comparison['baseline']}: {comparison['conclusion']} ({comparison.get('page')})"
    if increased and fail_on_increase:
        raise AirflowFailException(f"{message} (the DAG param fail_on_increase fails the run on it)")
    (log.warning if increased else log.info)("%s", message)


# The verdicts at which the gate fails the DAG run, per value of the DAG param ``fail_on``.
FAIL_ON = {"fail": ("fail",), "warn": ("fail", "warn"), "never": ()}


def _in_case(finding: Mapping[str, Any]) -> str:
    """ " in case doctor" for a finding of the scope "these prompts" (a per-case row)."""
    scope = finding.get("scope")
    return f" in case {scope}" if scope and scope != "(overall)" else ""


def verdict_gate(analyzed: Mapping[str, Any], fail_on: str, report: str | None = None) -> str:
    """Fail the task (and so the DAG run) when the audit's verdict is one ``fail_on`` names; else
    log a warning for a fail or warn verdict. The report is written before the gate runs."""
    from airflow.sdk.exceptions import AirflowFailException

    if fail_on not in FAIL_ON:
        raise UserInputError(f"must be one of {', '.join(FAIL_ON)} (value: {fail_on!r})", field="fail_on")
    verdict = str(analyzed["verdict"])
    failing = [
        f"{f['metric']} {f['group_a']} vs {f['group_b']}{_in_case(f)}: {f['difference']} ({f['finding']})"
        for f in analyzed.get("findings", [])
        if f.get("finding") in ("fail", "warn")
    ]
    scope = (analyzed.get("run") or {}).get("verdict_scope")
    shown = f"{verdict} ({scope})" if scope and verdict != "inconclusive" else verdict
    message = f"audit {analyzed['run_id']}: verdict {shown}; {'; '.join(failing) or 'no failing finding'}"
    if report:
        message += f"; report: {report}"
    summary = (analyzed.get("run") or {}).get("verdict_summary")
    if summary:  # the verdict in words: what decided it, or why it is inconclusive and what would settle it
        log.info("%s", summary)
    if verdict in FAIL_ON[fail_on]:
        raise AirflowFailException(f"{message} (the DAG param fail_on={fail_on!r} fails the run on it)")
    if verdict in ("fail", "warn"):
        log.warning("%s (fail_on=%r: the run still succeeds)", message, fail_on)
    else:
        log.info("%s", message)
    return verdict


# Task states that mean the run's audit did not complete.
FAILED_STATES = ("failed", "upstream_failed")


def watch_tasks(ti: Any, task_ids: list[str]) -> None:
    """The watcher: fail, naming them, when any of ``task_ids`` failed in this DAG run; else
    succeed. Reads the final states through the Task SDK (the watcher runs when all are done)."""
    from airflow.sdk.exceptions import AirflowFailException

    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=task_ids, run_ids=[ti.run_id]).get(ti.run_id, {})
    failed = [task for task in task_ids if states.get(task) == "failed"]
    skipped = [task for task in task_ids if states.get(task) == "upstream_failed"]
    if failed or skipped:
        logs = "see its log" if len(failed) == 1 else "see their logs"
        because = f" ({', '.join(skipped)} did not run because of it)" if skipped else ""
        raise AirflowFailException(
            f"the audit did not complete: {', '.join(failed) or 'an upstream task'} failed{because}; {logs}"
        )
    log.info("every task of the audit completed: %s", ", ".join(sorted(states)))


def fail_if_stopped_by_hand(ti: Any, task_ids: list[str], watcher: str = "watcher") -> None:
    """The teardown, after stopping compute: fail (which fails the run, on_failure_fail_dagrun) when
    the run was stopped by hand. Airflow's "Mark as failed" fails the running task, skips the
    pending ones (the watcher too) and leaves the teardown to run; with the watcher skipped, a
    successful teardown would end the run green. In a run that failed by itself the watcher has not
    run yet when the teardown does, and fails the run itself."""
    from airflow.sdk.exceptions import AirflowFailException

    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[*task_ids, watcher], run_ids=[ti.run_id])
    states = states.get(ti.run_id, {})
    failed = [task for task in task_ids if states.get(task) == "failed"]
    if states.get(watcher) == "skipped" and failed:
        raise AirflowFailException(
            f"compute stopped; the run was stopped by hand ({', '.join(failed)} marked failed), so it "
            "ends failed, not green"
        )
