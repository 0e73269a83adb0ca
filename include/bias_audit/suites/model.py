"""The suite format, validated with pydantic.

A suite is a list of counterfactual cases. A case (``case_id``, e.g. ``nurse``) holds variants of
one prompt that differ only in the demographic group they name (``neutral``, ``male``, ``female``,
``nonbinary`` or a suite-defined group), so that answers can be compared group against group.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bias_audit.metric_info import Language
from bias_audit.schedule import check_schedule, check_spend
from bias_audit.schema import Identifier, PromptText, Strict
from bias_audit.tasks import KINDS, ChoiceTask, Task, YesNoTask

_Strict = Strict


class GenerationDefaults(_Strict):
    """Generation settings a run uses unless its configuration overrides them."""

    max_tokens: int = Field(100, gt=0, description="Upper bound on tokens per answer.")
    temperature: float = Field(
        0.7, ge=0.0, le=2.0, description="Sampling temperature; > 0 so samples differ."
    )
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")


class SequentialPlan(_Strict):
    """How a sequential audit of the suite samples (stats/sequential.py): its looks, samples
    per prompt at each, fixed before the first (the alpha spending needs that), e.g. WinoBias's
    [1, 2, 3, 4, 8, 16]: its 790 cases decide most gaps at 1-4 samples per prompt; and how alpha is
    shared over them (``spend``; equal shares without it). A run's ``looks`` overrides both (its own
    looks, equal shares); the run's max_samples caps the looks and gives the shares of those at or
    past it to the look at max_samples."""

    looks: list[int] = Field(min_length=1, description="samples per prompt at each look, increasing")
    spend: list[float] | None = Field(
        None,
        description="relative share of alpha at each look, then one for the look at max_samples "
        "(so one more than looks), each > 0; e.g. less at a first look that rarely decides",
    )

    @field_validator("looks")
    @classmethod
    def _increasing(cls, looks: list[int]) -> list[int]:
        return list(check_schedule(looks))

    @field_validator("spend")
    @classmethod
    def _one_share_per_look(cls, spend: list[float] | None, info: ValidationInfo) -> list[float] | None:
        looks = info.data.get("looks")  # absent when the looks themselves were refused
        if spend is not None and looks is not None:
            check_spend(spend, looks)
        return spend


class GeneratedFrom(_Strict):
    """Where a suite made by ``bias-audit suites from-prompts`` came from: the team's file (its
    name and sha256), the review file written beside the suite, and what became of the prompts."""

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    review: str | None = None
    prompts: int = Field(ge=0)
    cases: int = Field(ge=0)
    persona_cases: int = Field(0, ge=0)
    left_out: int = Field(ge=0)


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
    # The language of its prompts and answers: "en" or "es". Answers are scored only by what is
    # valid in it (scoring/features.py), and metrics not valid in it are left out (metric_registry).
    language: Language = "en"
    # The suite whose cases this one asks in another language, with the same case ids and groups
    # (occupations-gender-es translates occupations-gender): their runs can be compared
    # (bias-audit compare: "is each gap larger in Spanish?").
    translates: Identifier | None = None
    # First names the answers may give the person, and their gender: read as evidence in Spanish
    # answers (scoring/spanish.py; English answers are not read by name).
    names: dict[str, Literal["female", "male"]] = Field(default_factory=dict)
    system_prompt: str = ""
    # Completion style (e.g. BOLD): the prompt is the start of a text for the model to continue.
    completion: bool = False
    defaults: GenerationDefaults = GenerationDefaults()
    cases: list[Case] = Field(min_length=1)
    # A task-style suite's scoring (None: free answers, measured by their words); tasks/ has the kinds.
    task: Task | None = None
    # A sequential audit's looks (None: 5, 15, then doubling; stats/sequential.py).
    sequential: SequentialPlan | None = None
    # A suite made from a team's own prompts (own_prompts/from_prompts.py): its source and review file.
    generated_from: GeneratedFrom | None = None

    @field_validator("cases")
    @classmethod
    def _case_ids_unique(cls, cases: list[Case]) -> list[Case]:
        seen: set[str] = set()
        for case in cases:
            if case.case_id in seen:
                raise ValueError(f"case_id {case.case_id!r} appears more than once")
            seen.add(case.case_id)
        return cases

    @model_validator(mode="after")
    def _task_fits_cases(self) -> Suite:
        task = self.task
        if task is None:
            return self
        groups = {variant for case in self.cases for variant in case.variants}
        for a, b in task.compare or ():
            for group in (a, b):
                if group not in groups:
                    raise ValueError(f"task.compare names {group!r}, a variant no case has")
        kind = KINDS[task.kind]
        if self.language not in kind.languages:
            raise ValueError(
                f"task kind {task.kind!r} reads answers in {', '.join(kind.languages)} only; "
                f"the suite's language is {self.language!r}"
            )
        crossed = getattr(task, "groups", None) if kind.variants_are_groups else None
        for case in self.cases:
            if crossed is not None:
                _check_crossed(crossed, case)
            for name in kind.reads(task):
                if name not in case.attributes:
                    raise ValueError(f"case {case.case_id!r} lacks the attribute {name!r} the task reads")
            kind.check_case(task, case.case_id, case.attributes)
        return self

    def prompts(self) -> list[Prompt]:
        return [
            Prompt(case_id=case.case_id, variant=variant, prompt=text)
            for case in self.cases
            for variant, text in case.variants.items()
        ]

    def document(self) -> dict:
        """The suite as JSON-able data (what a suite file holds); a suite without a task has no
        ``task`` key (an English one no ``language``), so it hashes as before those existed and its
        earlier runs stay comparable."""
        unset = {
            name
            for name in ("task", "sequential", "translates", "generated_from")
            if getattr(self, name) is None
        }
        unset |= {"language"} if self.language == "en" else set()
        unset |= set() if self.names else {"names"}
        return self.model_dump(mode="json", exclude=unset or None)

    def content_hash(self) -> str:
        """sha256 of the suite's content (not its file's formatting): recorded with each run. How a
        sequential audit samples it (``sequential``) is not content: the prompts are the same."""
        document = {k: v for k, v in self.document().items() if k != "sequential"}
        canonical = json.dumps(document, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_crossed(crossed, case: Case) -> None:
    """Every variant of a case with crossed groups names one level of each attribute."""
    for variant in case.variants:
        if crossed.levels_of(variant) is None:
            order, example = ", ".join(crossed.attributes), crossed.variants()[0]
            raise ValueError(
                f"case {case.case_id!r}: variant {variant!r} is not task.groups' levels joined by '.' "
                f"in the order {order} (e.g. {example!r})"
            )


__all__ = [
    "Case",
    "ChoiceTask",
    "GenerationDefaults",
    "Identifier",
    "Prompt",
    "PromptText",
    "SequentialPlan",
    "Suite",
    "Task",
    "YesNoTask",
]
