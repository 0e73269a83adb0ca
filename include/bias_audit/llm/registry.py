"""Pick a provider by name; settings come from the environment unless given (e.g. by the DAG,
from an Airflow connection)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bias_audit.errors import UserInputError
from bias_audit.llm.base import Provider

PROVIDERS = ("local", "azure", "openai")


def make_provider(name: str, settings: Mapping[str, Any] | None = None) -> Provider:
    if name == "local":
        from bias_audit.llm.local import LocalProvider

        return LocalProvider()
    if name == "azure":
        from bias_audit.llm.remote import AzureProvider, AzureSettings

        return AzureProvider(
            AzureSettings.from_mapping(settings, "connection") if settings else AzureSettings.from_env()
        )
    if name == "openai":
        from bias_audit.llm.remote import OpenAICompatibleProvider, OpenAISettings

        return OpenAICompatibleProvider(
            OpenAISettings.from_mapping(settings, "connection") if settings else OpenAISettings.from_env()
        )
    raise UserInputError(f"unknown provider {name!r}; available: {', '.join(PROVIDERS)}", field="provider")
