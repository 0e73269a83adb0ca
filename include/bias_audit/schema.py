"""What every validated file shares (suites, task kinds): strict pydantic models and identifiers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
]
PromptText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Strict(BaseModel):
    """Unknown keys are errors (a typo is not silently ignored); values cannot change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
