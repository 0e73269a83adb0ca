"""The suite format, validated with pydantic.

A suite is a list of counterfactual cases. A case (``case_id``, e.g. ``nurse``) holds variants of
one prompt that differ only in the demographic group they name (``neutral``, ``male``, ``female``,
``nonbinary`` or a suite-defined group), so that answers can be compared group against group.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
]
PromptText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationDefaults(_Strict):
    """Generation settings a run uses unless its configuration overrides them."""

    max_tokens: int = Field(100, gt=0, description="Upper bound on tokens per answer.")
    temperature: float = Field(
        0.7, ge=0.0, le=2.0, description="Sampling temperature; > 0 so samples differ."
    )
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")


class Case(_Strict):
    case_id: Identifier
    variants: dict[Identifier, PromptText] = Field(min_length=1)
    # Facts about the case used by the analysis, e.g. occupation and bls_pct_female.
    attributes: dict[str, str | float] = Field(default_factory=dict)


class Prompt(_Strict):
    """One prompt of a suite: what ``suites show --json`` lists and what generation expands."""

    case_id: str
    variant: str
    prompt: str


class Suite(_Strict):
    name: Identifier
    description: str = ""
    system_prompt: str = ""
    # Completion style (e.g. BOLD): the prompt is the start of a text for the model to continue.
    completion: bool = False
    defaults: GenerationDefaults = GenerationDefaults()
    cases: list[Case] = Field(min_length=1)

    @field_validator("cases")
    @classmethod
    def _case_ids_unique(cls, cases: list[Case]) -> list[Case]:
        seen: set[str] = set()
        for case in cases:
            if case.case_id in seen:
                raise ValueError(f"case_id {case.case_id!r} appears more than once")
            seen.add(case.case_id)
        return cases

    def prompts(self) -> list[Prompt]:
        return [
            Prompt(case_id=case.case_id, variant=variant, prompt=text)
            for case in self.cases
            for variant, text in case.variants.items()
        ]

    def content_hash(self) -> str:
        """sha256 of the suite's content (not its file's formatting): recorded with each run."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
