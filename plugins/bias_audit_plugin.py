"""Airflow plugin: the audit pages inside the Airflow UI.

Mounts ``bias_audit.web`` under the api-server at ``/bias-audit`` behind Airflow's own auth (the
caller needs read access to the DAG ``llm_bias_audit``), and adds a nav entry "Bias audits"
(Browse menu) and a "Bias audit report" tab on the DAG's runs. Its listener writes each audit
run's verdict in words as the DAG run's note (orchestration/run_note.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from bias_audit.orchestration import run_note
from bias_audit.web import MOUNT as URL_PREFIX  # the pages link to the Airflow UI beside them

DAG_ID = "llm_bias_audit"


def _app():
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends

    from bias_audit.web import create_app

    return create_app(dependencies=[Depends(requires_access_dag("GET", param_dag_id=DAG_ID))])


class BiasAuditPlugin(AirflowPlugin):
    name = "bias_audit"
    listeners: ClassVar[list[Any]] = [run_note]
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": _app(), "url_prefix": URL_PREFIX, "name": "Bias audits"}
    ]
    external_views: ClassVar[list[dict[str, Any]]] = [
        {
            "name": "Bias audits",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "bias-audits",
        },
        {
            "name": "Bias audit report",
            "href": f"{URL_PREFIX}/dag-runs/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "bias-audit-report",
        },
    ]
