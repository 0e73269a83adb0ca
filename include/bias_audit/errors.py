"""Errors that a user can fix, reported without a traceback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class UserInputError(Exception):
    """Bad input (a file, a field, a value) that the user must correct.

    The CLI prints the message and exits with status 2; nothing already recorded is touched.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        self.problem = message  # without its source: what a page may show (a source can be a server path)
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)

    @classmethod
    def from_validation(
        cls,
        exc: ValidationError,
        source: str | None = None,
        *,
        names: Mapping[str, str] | None = None,
        every: bool = False,
        show_values: bool = True,
    ) -> UserInputError:
        """pydantic's errors as one: each field's path (``cases[0].variants``; or as the user
        wrote it, ``names``), the problem and the value given. ``every``: all errors, each as
        ``field <path>: <problem>``, else the first. ``show_values=False`` for settings that may
        hold a secret (an API key is never echoed)."""
        problems = []
        for error in exc.errors() if every else exc.errors()[:1]:
            path = field_path(error["loc"])
            path = (names or {}).get(path, path)
            message = error["msg"].removeprefix("Value error, ")  # a validator's own words
            # shown unless missing, secret, or already named by the validator's own words
            shown = show_values and error["type"] != "missing" and "(value: " not in message
            problems.append((path, message + (f" (value: {_short(error['input'])})" if shown else "")))
        if not every:
            path, message = problems[0]
            return cls(message, source=source, field=path)
        return cls("; ".join(f"field {path}: {message}" for path, message in problems), source=source)


class ProviderSetupError(UserInputError):
    """The provider refused the run's settings (401, 403, 404, an unsupported api-version).

    Every further request would fail the same way, so the whole run stops at once; the message
    names the setting to fix and never contains a secret.
    """


def field_path(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a path: ``("cases", 0, "variants")`` -> ``cases[0].variants``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
