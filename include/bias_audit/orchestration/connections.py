"""A remote provider's settings from its Airflow connection."""

from __future__ import annotations

import logging
import os
from typing import Any

from bias_audit.errors import UserInputError

log = logging.getLogger(__name__)

# Airflow connections that hold a remote provider's settings; the ids can be changed by environment.
CONNECTION_IDS = {
    "azure": ("BIAS_AUDIT_AZURE_CONN_ID", "azure_openai_default"),
    "openai": ("BIAS_AUDIT_OPENAI_CONN_ID", "openai_default"),
}
# Without a connection, the settings come from the environment; these must then be set.
ENDPOINT_VARIABLES = {"azure": "AZURE_OPENAI_ENDPOINT", "openai": "OPENAI_BASE_URL"}
CONNECTION_HELP = {
    "azure": 'host = the endpoint, password = the API key (empty for Entra ID), extra = {"deployment": '
    '"<deployment name>", "api_version": "<version>"}',
    "openai": 'host = the base URL, password = the API key, extra = {"model": "<model>"}',
}
# The judge's connection (judge/): an azure or openai connection as above, for the judge's deployment.
JUDGE_CONNECTION_ID = ("BIAS_AUDIT_JUDGE_CONN_ID", "bias_audit_judge")


def judge_settings(provider: str) -> dict[str, Any] | None:
    """The judge's settings from its own connection (``bias_audit_judge``), read as ``provider``'s;
    None (the environment: BIAS_AUDIT_JUDGE_*, else the provider's own variables) without one."""
    return provider_settings(provider, JUDGE_CONNECTION_ID)


def provider_settings(provider: str, connection: tuple[str, str] | None = None) -> dict[str, Any] | None:
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

    variable, default = connection or CONNECTION_IDS[provider]
    conn_id = os.environ.get(variable, default)
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        where = ENDPOINT_VARIABLES[provider]
        # the audited provider (not the judge, which has variables of its own): fail now, naming
        # what is missing, before a cluster starts or a model is asked anything
        if connection is None and not os.environ.get(where):
            raise UserInputError(
                f"no Airflow connection {conn_id!r} and no {where} in the worker's environment: create "
                f"the connection ({CONNECTION_HELP[provider]}; Admin -> Connections) or set {where}",
                field="provider",
            ) from None
        log.info("no Airflow connection %r: %s settings come from the environment", conn_id, provider)
        return None
    url = _url(conn.host, conn.port, conn.schema)
    extra = conn.extra_dejson
    if provider == "azure":
        settings = {
            "endpoint": url,
            "deployment": extra.get("deployment"),
            "api_version": extra.get("api_version"),
            "batch_poll_seconds": extra.get("batch_poll_seconds"),
            "batch_enqueued_tokens": extra.get("batch_enqueued_tokens"),
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
