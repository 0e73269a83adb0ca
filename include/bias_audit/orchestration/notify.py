"""The DAG's on-failure callback: a summary of the failed audit for the user's notifier."""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from typing import Any

from bias_audit.paths import runs_dir
from bias_audit.run_folder import RunFolder, safe_run_id

log = logging.getLogger(__name__)

ON_FAILURE_VARIABLE = "bias_audit_on_failure"
ON_FAILURE_ENV = "BIAS_AUDIT_ON_FAILURE"
# The notifiers the Variable may choose from: a Variable is edited in the UI by more people than
# can change the deployment's environment, and the notifier is imported and called in the worker.
NOTIFIERS_ENV = "BIAS_AUDIT_NOTIFIERS"


def notifier(variable: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The ``module:function`` to call: ``$BIAS_AUDIT_ON_FAILURE``, else the Variable's value if
    the deployment allows it (``$BIAS_AUDIT_NOTIFIERS``, comma-separated); None when there is none
    or the Variable names one not allowed (logged, never imported)."""
    environ = os.environ if environ is None else environ
    if environ.get(ON_FAILURE_ENV):
        return environ[ON_FAILURE_ENV]
    if not variable:
        return None
    allowed = {name.strip() for name in environ.get(NOTIFIERS_ENV, "").split(",") if name.strip()}
    if variable.strip() not in allowed:
        log.error(
            "the Variable %s names a notifier the deployment does not allow (%s: %s); not called",
            ON_FAILURE_VARIABLE, NOTIFIERS_ENV, ", ".join(sorted(allowed)) or "none",
        )  # fmt: skip
        return None
    return variable.strip()


def on_audit_failure(context: Mapping[str, Any]) -> None:
    """The DAG's on_failure_callback: hands a summary of the failed audit to the notifier named
    by ``$BIAS_AUDIT_ON_FAILURE`` or the Airflow Variable ``bias_audit_on_failure`` among those
    ``$BIAS_AUDIT_NOTIFIERS`` allows (``package.module:function``, called with one dict: dag_id,
    run_id, audit_run_id, reason, task, verdict, report). A notifier that raises is logged,
    never re-raised."""
    target = notifier(None if os.environ.get(ON_FAILURE_ENV) else _variable(ON_FAILURE_VARIABLE))
    dag_run = context.get("dag_run")
    run_id = str(getattr(dag_run, "run_id", context.get("run_id", "")))
    audit_run_id = safe_run_id(run_id)
    folder = RunFolder.of(runs_dir(), audit_run_id)
    analysis = folder.read_analysis()
    summary = {
        "dag_id": getattr(dag_run, "dag_id", None),
        "run_id": run_id,
        "audit_run_id": audit_run_id,
        "reason": context.get("reason"),
        # the task instance Airflow names with the callback (a failed one on failure)
        "task": getattr(context.get("ti") or context.get("task_instance"), "task_id", None),
        "verdict": analysis["verdict"] if analysis else None,
        "report": str(folder.report) if folder.report.is_file() else None,
    }
    log.error("bias audit failed: %s", summary)
    if not target:
        return
    try:
        module, _, name = target.partition(":")
        getattr(importlib.import_module(module), name)(summary)
    except Exception:
        log.exception("the on-failure notifier %r failed", target)


def _variable(name: str) -> str | None:
    try:
        from airflow.sdk import Variable

        return Variable.get(name, default=None)
    except Exception:  # no Airflow context (e.g. called outside a worker): no Variable
        return None
