"""A remote provider's settings from its Airflow connection."""

from __future__ import annotations

import logging
import os
from typing import Any

from bias_audit.errors import UserInputError
from bias_audit.llm.registry import ENTRIES

log = logging.getLogger(__name__)

# The judge's connection (judge/): an azure or openai connection as above, for the judge's deployment.
JUDGE_CONNECTION_ID = ("BIAS_AUDIT_JUDGE_CONN_ID", "bias_audit_judge")


def judge_settings(provider: str) -> dict[str, Any] | None:
    """The judge's settings from its own connection (``bias_audit_judge``), read as ``provider``'s;
    None (the environment: BIAS_AUDIT_JUDGE_*, else the provider's own variables) without one."""
    return provider_settings(provider, JUDGE_CONNECTION_ID)


def provider_settings(provider: str, connection: tuple[str, str] | None = None) -> dict[str, Any] | None:
    """A remote provider's settings from its Airflow connection; None (use the environment) when
    the provider has no connection (local) or the connection is not defined. What a connection
    holds is the provider's registry entry's (llm/registry.py: ``connection_help``,
    ``from_connection``); its password is the API key."""
    entry = ENTRIES.get(provider)
    if entry is None or entry.connection is None:
        return None
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    variable, default = connection or entry.connection
    conn_id = os.environ.get(variable, default)
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        where = entry.endpoint_variable
        # the audited provider (not the judge, which has variables of its own): fail now, naming
        # what is missing, before a cluster starts or a model is asked anything
        if connection is None and where and not os.environ.get(where):
            raise UserInputError(
                f"no Airflow connection {conn_id!r} and no {where} in the worker's environment: create "
                f"the connection ({entry.connection_help}; Admin -> Connections) or set {where}",
                field="provider",
            ) from None
        log.info("no Airflow connection %r: %s settings come from the environment", conn_id, provider)
        return None
    url = _url(conn.host, conn.port, conn.schema)
    settings = entry.from_connection(url, conn.extra_dejson)
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
