"""What the DAG's tasks need from Airflow's side: params -> RunConfig, user errors -> no retry.

Kept here (compute/ may know Airflow; the job code may not) so the DAG file stays wiring only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bias_audit.config import RunConfig, safe_run_id
from bias_audit.errors import UserInputError

log = logging.getLogger(__name__)


def run_config(params: Mapping[str, Any], airflow_run_id: str) -> RunConfig:
    """The audit's RunConfig from the DAG run's params; its run_id from Airflow's, made path-safe."""
    return RunConfig.build(
        run_id=safe_run_id(airflow_run_id),
        suite=params["suite"],
        samples=params["samples"],
        provider=params["provider"],
        max_tokens=params.get("max_tokens"),
        temperature=params.get("temperature"),
        top_p=params.get("top_p"),
        seed=params.get("seed", 0),
        tpm=params.get("tpm"),
        rpm=params.get("rpm"),
        concurrency=params.get("concurrency") or 8,
        thresholds=params.get("thresholds"),
    )


# Airflow connections that hold a remote provider's settings; the ids can be changed by environment.
CONNECTION_IDS = {
    "azure": ("BIAS_AUDIT_AZURE_CONN_ID", "azure_openai_default"),
    "openai": ("BIAS_AUDIT_OPENAI_CONN_ID", "openai_default"),
}


def provider_settings(provider: str) -> dict[str, Any] | None:
    """A remote provider's settings from its Airflow connection; None (use the environment) when
    the provider is local or the connection is not defined.

    azure:  host = endpoint (https://<resource>.openai.azure.com), password = API key (empty for
            Entra ID), extra = {"deployment": ..., "api_version": ...}
    openai: host = base URL, password = API key, extra = {"model": ...}
    """
    if provider not in CONNECTION_IDS:
        return None
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    variable, default = CONNECTION_IDS[provider]
    conn_id = os.environ.get(variable, default)
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("no Airflow connection %r: %s settings come from the environment", conn_id, provider)
        return None
    url = _url(conn.host, conn.port, conn.schema)
    extra = conn.extra_dejson
    if provider == "azure":
        settings = {
            "endpoint": url,
            "deployment": extra.get("deployment"),
            "api_version": extra.get("api_version"),
        }
    else:
        settings = {"base_url": url, "model": extra.get("model")}
    log.info("%s settings from Airflow connection %r: %s", provider, conn_id, settings)
    return {**settings, "api_key": conn.password or None}


def _url(host: str | None, port: int | None, path: str | None) -> str | None:
    """Connections store the endpoint in ``host``, with or without its scheme."""
    if not host:
        return None
    url = host if "://" in host else f"https://{host}"
    if port and "://" not in host:
        url += f":{port}"
    if path and "://" not in host:
        url += "/" + path.strip("/")
    return url


@contextmanager
def fail_fast_on_user_error() -> Iterator[None]:
    """A bad param or suite will not get better on retry: fail the task without retrying."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except UserInputError as exc:
        raise AirflowFailException(str(exc)) from None


# The verdicts at which the gate fails the DAG run, per value of the DAG param ``fail_on``.
FAIL_ON = {"fail": ("fail",), "warn": ("fail", "warn"), "never": ()}


def verdict_gate(analyzed: Mapping[str, Any], fail_on: str, report: str | None = None) -> str:
    """Fail the task (and so the DAG run) when the audit's verdict is one ``fail_on`` names; else
    log a warning for a fail or warn verdict. The report is written before the gate runs."""
    from airflow.sdk.exceptions import AirflowFailException

    if fail_on not in FAIL_ON:
        raise UserInputError(f"must be one of {', '.join(FAIL_ON)} (value: {fail_on!r})", field="fail_on")
    verdict = str(analyzed["verdict"])
    failing = [
        f"{f['metric']} {f['group_a']} vs {f['group_b']}: {f['difference']} ({f['finding']})"
        for f in analyzed.get("findings", [])
        if f.get("finding") in ("fail", "warn")
    ]
    message = f"audit {analyzed['run_id']}: verdict {verdict}; {'; '.join(failing) or 'no failing finding'}"
    if report:
        message += f"; report: {report}"
    if verdict in FAIL_ON[fail_on]:
        raise AirflowFailException(f"{message} (the DAG param fail_on={fail_on!r} fails the run on it)")
    if verdict in ("fail", "warn"):
        log.warning("%s (fail_on=%r: the run still succeeds)", message, fail_on)
    else:
        log.info("%s", message)
    return verdict


ON_FAILURE_VARIABLE = "bias_audit_on_failure"


def on_audit_failure(context: Mapping[str, Any]) -> None:
    """The DAG's on_failure_callback: hands a summary of the failed audit to the notifier named
    by ``$BIAS_AUDIT_ON_FAILURE`` or the Airflow Variable ``bias_audit_on_failure``
    (``package.module:function``, called with one dict: dag_id, run_id, audit_run_id, reason,
    task, verdict, report). A notifier that raises is logged, never re-raised."""
    import importlib
    import json

    from bias_audit.config import runs_dir

    target = os.environ.get("BIAS_AUDIT_ON_FAILURE") or _variable(ON_FAILURE_VARIABLE)
    dag_run = context.get("dag_run")
    run_id = str(getattr(dag_run, "run_id", context.get("run_id", "")))
    audit_run_id = safe_run_id(run_id)
    run_dir = runs_dir() / audit_run_id
    analysis = run_dir / "analysis.json"
    summary = {
        "dag_id": getattr(dag_run, "dag_id", None),
        "run_id": run_id,
        "audit_run_id": audit_run_id,
        "reason": context.get("reason"),
        # the task instance Airflow names with the callback (a failed one on failure)
        "task": getattr(context.get("ti") or context.get("task_instance"), "task_id", None),
        "verdict": json.loads(analysis.read_text())["verdict"] if analysis.is_file() else None,
        "report": str(run_dir / "report.html") if (run_dir / "report.html").is_file() else None,
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
