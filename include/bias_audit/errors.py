"""Errors that a user can fix, reported without a traceback."""

from __future__ import annotations


class UserInputError(Exception):
    """Bad input (a file, a field, a value) that the user must correct.

    The CLI prints the message and exits with status 2; nothing already recorded is touched.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)
