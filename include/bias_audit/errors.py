"""Errors that a user can fix, reported without a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class UserInputError(Exception):
    """Bad input (a file, a field, a value) that the user must correct.

    The CLI prints the message and exits with status 2; nothing already recorded is touched.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)

    @classmethod
    def from_validation(cls, exc: ValidationError, source: str | None = None) -> UserInputError:
        """pydantic's first error as one: the field's path, the problem and the value given."""
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        return cls(f"{error['msg']} (value: {error.get('input')!r})", source=source, field=field)


class ProviderSetupError(UserInputError):
    """The provider refused the run's settings (401, 403, 404, an unsupported api-version).

    Every further request would fail the same way, so the whole run stops at once; the message
    names the setting to fix and never contains a secret.
    """
