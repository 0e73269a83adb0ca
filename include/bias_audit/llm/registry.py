"""Pick a provider by name."""

from __future__ import annotations

from bias_audit.errors import UserInputError
from bias_audit.llm.base import Provider


def make_provider(name: str) -> Provider:
    if name == "local":
        from bias_audit.llm.local import LocalProvider

        return LocalProvider()
    raise UserInputError(f"unknown provider {name!r}; available: local", field="provider")
