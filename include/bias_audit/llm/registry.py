"""The providers: one registry entry each, read by the run's configuration (its choices and their
titles, which can batch), the CLI (``--provider``, ``--judge``), the Airflow connections
(orchestration/connections.py) and the Databricks backend (which settings travel to a cluster, and
which are secrets). docs/development.md, "A provider", is the recipe.

Settings come from the environment unless given (e.g. by the DAG, from an Airflow connection).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bias_audit.errors import UserInputError
from bias_audit.llm.base import Provider

JUDGE_ENV_PREFIX = "BIAS_AUDIT_JUDGE_"


@dataclass(frozen=True)
class ProviderEntry:
    """Everything the project knows of one provider.

    - ``title``: how the form and the docs name it;
    - ``make(settings, env)``: the provider, from a connection's ``settings`` (None: from ``env``);
    - ``connection``: (the environment variable that names its Airflow connection, the default id),
      None for a provider without one; ``connection_help`` says what the connection holds and
      ``from_connection(url, extra)`` turns the connection's URL and extra into settings (its
      password is the ``api_key``); ``endpoint_variable``: the variable that must be set when there
      is no connection;
    - ``plain_env``: setting -> environment variable of the settings that are not secret (they reach
      a Databricks cluster as spark_env_vars); ``secret_env``: environment variable -> key in the
      Databricks secret scope (what is secret never travels as a value);
    - ``batch``: whether it has a batch API (``--batch``)."""

    name: str
    title: str
    make: Callable[[Mapping[str, Any] | None, Mapping[str, str]], Provider]
    connection: tuple[str, str] | None = None
    connection_help: str = ""
    from_connection: Callable[[str | None, Mapping[str, Any]], dict[str, Any]] = lambda url, extra: {}
    endpoint_variable: str | None = None
    plain_env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, str] = field(default_factory=dict)
    batch: bool = False


def _local(settings: Mapping[str, Any] | None, env: Mapping[str, str]) -> Provider:
    from bias_audit.llm.local import LocalProvider  # loads llama.cpp: only when asked for

    return LocalProvider()


def _azure(settings: Mapping[str, Any] | None, env: Mapping[str, str]) -> Provider:
    from bias_audit.llm.remote import AzureProvider, AzureSettings

    return AzureProvider(
        AzureSettings.from_mapping(settings, "connection") if settings else AzureSettings.from_env(env)
    )


def _openai(settings: Mapping[str, Any] | None, env: Mapping[str, str]) -> Provider:
    from bias_audit.llm.remote import OpenAICompatibleProvider, OpenAISettings

    return OpenAICompatibleProvider(
        OpenAISettings.from_mapping(settings, "connection") if settings else OpenAISettings.from_env(env)
    )


REGISTRY: tuple[ProviderEntry, ...] = (
    ProviderEntry("local", "Local model (Gemma 3 270M, in-process)", _local),
    ProviderEntry(
        "azure",
        "Azure OpenAI",
        _azure,
        connection=("BIAS_AUDIT_AZURE_CONN_ID", "azure_openai_default"),
        connection_help="host = the endpoint, password = the API key (empty for Entra ID), "
        'extra = {"deployment": "<deployment name>", "api_version": "<version>"}',
        from_connection=lambda url, extra: {
            "endpoint": url,
            "deployment": extra.get("deployment"),
            "api_version": extra.get("api_version"),
            "batch_poll_seconds": extra.get("batch_poll_seconds"),
            "batch_enqueued_tokens": extra.get("batch_enqueued_tokens"),
        },
        endpoint_variable="AZURE_OPENAI_ENDPOINT",
        plain_env={
            "endpoint": "AZURE_OPENAI_ENDPOINT",
            "deployment": "AZURE_OPENAI_DEPLOYMENT",
            "api_version": "AZURE_OPENAI_API_VERSION",
        },
        secret_env={"AZURE_OPENAI_API_KEY": "azure-openai-api-key"},
        batch=True,
    ),
    ProviderEntry(
        "openai",
        "OpenAI-compatible endpoint",
        _openai,
        connection=("BIAS_AUDIT_OPENAI_CONN_ID", "openai_default"),
        connection_help='host = the base URL, password = the API key, extra = {"model": "<model>"}',
        from_connection=lambda url, extra: {"base_url": url, "model": extra.get("model")},
        endpoint_variable="OPENAI_BASE_URL",
        plain_env={"base_url": "OPENAI_BASE_URL", "model": "OPENAI_MODEL"},
        secret_env={"OPENAI_API_KEY": "openai-api-key"},
    ),
)
ENTRIES: dict[str, ProviderEntry] = {entry.name: entry for entry in REGISTRY}
PROVIDERS = tuple(ENTRIES)


def entry(name: str) -> ProviderEntry:
    """The registry entry of a provider; an unknown name is a UserInputError that lists them."""
    if name not in ENTRIES:
        raise UserInputError(
            f"unknown provider {name!r}; available: {', '.join(PROVIDERS)}", field="provider"
        )
    return ENTRIES[name]


def titled(name: str, connection: str | None = None) -> str:
    """How the form shows a provider: its title and the connection it reads."""
    found = ENTRIES[name]
    conn = connection or (found.connection[1] if found.connection else None)
    return f"{found.title} (connection {conn})" if conn else found.title


def connections_help() -> str:
    """What the trigger form says of the providers: which Airflow connection each remote one reads,
    what it holds, and the environment variables used without it."""
    said = []
    for found in REGISTRY:
        if found.connection is None:
            said.append(f"{found.name}: {found.title}.")
            continue
        said.append(
            f"{found.name}: {found.title}, from the Airflow connection {found.connection[1]} (create it "
            f"under Admin → Connections: {found.connection_help}); without it, from "
            f"{found.endpoint_variable} and the rest of its variables in the worker's environment."
        )
    return " ".join(said) + " A remote run with neither fails before asking anything, naming what is missing."


def judge_environment(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment a judge's settings are read from: ``BIAS_AUDIT_JUDGE_<NAME>`` where set, else
    ``<NAME>`` (a judge deployment usually sits on the audited one's resource: set only
    BIAS_AUDIT_JUDGE_AZURE_OPENAI_DEPLOYMENT)."""
    judged = {k.removeprefix(JUDGE_ENV_PREFIX): v for k, v in env.items() if k.startswith(JUDGE_ENV_PREFIX)}
    return {**env, **judged}


def make_provider(
    name: str, settings: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Provider:
    """``settings`` (an Airflow connection's) or else ``env`` (default: the process environment)."""
    return entry(name).make(settings, os.environ if env is None else env)
