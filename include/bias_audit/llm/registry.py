"""Pick a provider by name; settings come from the environment unless given (e.g. by the DAG,
from an Airflow connection)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bias_audit.errors import UserInputError
from bias_audit.llm.base import Provider

PROVIDERS = ("local", "azure", "openai")
JUDGE_ENV_PREFIX = "BIAS_AUDIT_JUDGE_"


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
    env = os.environ if env is None else env
    if name == "local":
        from bias_audit.llm.local import LocalProvider

        return LocalProvider()
    if name == "azure":
        from bias_audit.llm.remote import AzureProvider, AzureSettings

        return AzureProvider(
            AzureSettings.from_mapping(settings, "connection") if settings else AzureSettings.from_env(env)
        )
    if name == "openai":
        from bias_audit.llm.remote import OpenAICompatibleProvider, OpenAISettings

        return OpenAICompatibleProvider(
            OpenAISettings.from_mapping(settings, "connection") if settings else OpenAISettings.from_env(env)
        )
    raise UserInputError(f"unknown provider {name!r}; available: {', '.join(PROVIDERS)}", field="provider")
