"""Scoring of task-style suites: what the analysis of a suite compares (``Scoring``), and each
answer parsed to what it decides, one function for the generate stage (a sequential run's rounds)
and the Spark job (a pandas UDF over ``tasks.task_scores``), so the two agree.

The kinds themselves (their config, parser, columns and metrics) are in tasks/, one module each.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bias_audit.metric_registry import SuiteTask, gap_metrics, left_out, level_metrics
from bias_audit.tasks import (
    KINDS,
    TASK_COLUMNS,
    UNPARSED,
    Task,
    parse_choice,
    parse_yes_no,
    task_of,
    task_scores,
    unit_of,
)
from bias_audit.tasks.crossed import Crossed

if TYPE_CHECKING:
    from pyspark.sql import Column

    from bias_audit.suites.model import Suite

__all__ = [
    "TASK_COLUMNS",
    "TEXT",
    "UNPARSED",
    "Scoring",
    "analysis_layout",
    "group_pairs",
    "parse_choice",
    "parse_yes_no",
    "run_scoring",
    "task_columns",
    "task_of",
    "task_scores",
    "unit_column",
    "unit_of",
]


@dataclass(frozen=True)
class Scoring:
    """What the analysis of a suite compares: the gap metrics of its task, the pairs of groups
    (``None``: female vs male, other groups vs each, named groups vs neutral; metrics.group_pairs)
    and the case attributes its overall gaps are also broken down by. Free-text suites have the
    default; a task suite's comes from its task (``Scoring.of``)."""

    task: SuiteTask = "text"
    pairs: tuple[tuple[str, str], ...] | None = None
    by: tuple[str, ...] = ()
    scenario: str | None = None  # yes/no tasks: the attribute whose values are the regression's fixed effects
    judged: bool = False  # a judge graded the answers (judge/): the stereotyping gap is compared too
    language: str = "en"  # the suite's: only metrics valid in it are compared (metric_registry)
    # comparing with a run in another language (bias-audit compare): only metrics valid in both
    paired_with: str | None = None
    # crossed attributes (tasks/crossed.py): its groups pool variants, its pairs are ``pairs``
    crossed: Crossed | None = None

    @classmethod
    def of(cls, task: Task | Mapping | None, judged: bool = False, language: str = "en") -> Scoring:
        task = task_of(task)
        if task is None:
            return cls(judged=judged, language=language)
        crossed = getattr(task, "groups", None)
        pairs = tuple((a, b) for a, b in task.compare) if task.compare else None
        if crossed is not None:
            pairs = tuple(crossed.pairs())
        scenario = getattr(task, "scenario", None)
        return cls(task.kind, pairs, tuple(task.by), scenario, judged, language, crossed=crossed)

    @functools.cached_property
    def _members(self) -> dict[str, frozenset[str]]:
        return self.crossed.groups() if self.crossed is not None else {}

    def members(self, group: str) -> frozenset[str]:
        """The variants a compared group pools: itself, or a crossed group's variants (``black``:
        every variant whose race is black)."""
        return self._members.get(group) or frozenset((group,))

    @property
    def one_prompt_for_all(self) -> bool:
        """Whether one prompt of a case is about every group (a ranking: its kind's ``per_group``)."""
        kind = KINDS.get(self.task)
        return kind is not None and kind.per_group is not None and self.crossed is not None

    @property
    def values_per_answer(self) -> int:
        """The per-group values one answer gives: 1, or for a ranking one per candidate (each
        crossing of its groups); a request's worth of a calibrate layout."""
        return len(self.crossed.variants()) if self.one_prompt_for_all and self.crossed else 1

    def pairs_among(self, variants: Iterable[str]) -> list[tuple[str, str]]:
        """The compared pairs both of whose groups have answers among ``variants`` (one case's,
        or a run's): the suite's pairs, else ``group_pairs`` of the variants."""
        present = set(variants)
        if self.pairs is None:
            return group_pairs(sorted(present))

        def has(group: str) -> bool:  # its variants, or itself (a run already pooled by group)
            return group in present or bool(self.members(group) & present)

        return [(a, b) for a, b in self.pairs if has(a) and has(b)]

    def groups(self, variants: Iterable[str]) -> list[str]:
        """The compared groups with answers among ``variants``, in the order of the pairs (then the
        variants themselves, for a suite without crossed groups)."""
        present = set(variants)
        ordered = [g for pair in self.pairs_among(present) for g in pair]
        if self.crossed is None:
            ordered += sorted(present)
        return list(dict.fromkeys(ordered))

    @classmethod
    def of_suite(cls, suite: Suite, judged: bool = False) -> Scoring:
        return cls.of(suite.task, judged, suite.language)

    @property
    def metrics(self) -> tuple[str, ...]:
        return self._valid(lambda language: gap_metrics(self.task, self.judged, language))

    @property
    def levels(self) -> tuple[tuple[str, str], ...]:
        """Its skews against 0, each with the group measured: (gender_skew, neutral) ..."""
        return self._valid(lambda language: level_metrics(self.task, language))

    def _valid(self, of: Callable[[str], tuple]) -> tuple:
        """What ``of`` gives for its language, or, compared with a run in another language, only
        what is valid in both."""
        mine = of(self.language)
        if self.paired_with is None or self.paired_with == self.language:
            return mine
        theirs = set(of(self.paired_with))
        return tuple(x for x in mine if x in theirs)

    @property
    def left_out(self) -> dict[str, str]:
        """The metrics of its task not valid in its language, each with why."""
        return left_out(self.task, self.language, self.judged)

    @property
    def words(self) -> bool:
        """Whether answers are measured by their words (the default-gender skew, grounding)."""
        return self.task == "text"


TEXT = Scoring()
NEUTRAL = "neutral"


def group_pairs(groups: list[str]) -> list[tuple[str, str]]:
    """female vs male; every other group (nonbinary, suite-defined) vs male and vs female; and
    every named group vs neutral."""
    named = [g for g in groups if g != NEUTRAL]
    pairs = [("female", "male")] if {"female", "male"} <= set(named) else []
    pairs += [
        (g, binary)
        for g in named
        if g not in {"female", "male"}
        for binary in ("male", "female")
        if binary in named
    ]
    pairs += [(g, NEUTRAL) for g in named if NEUTRAL in groups]
    return pairs


def task_columns(
    task: Task | Mapping | None,
    attributes: Mapping[str, Mapping],
    case_id: Column,
    prompt: Column,
    text: Column,
    variant: Column | None = None,
) -> dict[str, Column]:
    """The same scores as Spark columns: a pandas UDF over (case, prompt, text, variant) calling
    ``task_scores`` (parsing is not expressible in Spark's native functions); null columns without
    a task."""
    from pyspark.sql import functions as F

    task = task_of(task)
    if task is None:
        return {name: F.lit(None).cast(kind) for name, kind in TASK_COLUMNS.items()}
    facts = {case: dict(values) for case, values in attributes.items()}
    variant = F.lit(None).cast("string") if variant is None else variant
    scored = _scores_udf(task, facts)(case_id, prompt, text, variant)
    return {name: scored[name] for name in TASK_COLUMNS}


def unit_column(task: Task | Mapping | None, attributes: Mapping[str, Mapping], case_id: Column) -> Column:
    """The case each answer is analysed in (``tasks.unit_of``) as a Spark column: ``case_id``
    itself, or for a kind with a unit (EsBBQ: the template) the case's value of it."""
    from pyspark.sql import functions as F

    task = task_of(task)
    if task is None or KINDS[task.kind].unit(task) is None:
        return case_id
    pairs = [F.lit(x) for case, facts in attributes.items() for x in (case, unit_of(task, case, facts))]
    return F.coalesce(F.create_map(*pairs)[case_id], case_id) if pairs else case_id


def _scores_udf(task: Task, attributes: dict[str, dict]):
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    def scores(cases: pd.Series, prompts: pd.Series, texts: pd.Series, variants: pd.Series) -> pd.DataFrame:
        rows = [
            task_scores(task, attributes[case], text if isinstance(text, str) else None, prompt, variant)
            if case in attributes
            else dict.fromkeys(TASK_COLUMNS)
            for case, prompt, text, variant in zip(cases, prompts, texts, variants, strict=True)
        ]
        return pd.DataFrame(rows, columns=list(TASK_COLUMNS))

    # pandas_udf reads the type hints, which `from __future__ import annotations` turns into strings.
    scores.__annotations__ = {
        "cases": pd.Series,
        "prompts": pd.Series,
        "texts": pd.Series,
        "variants": pd.Series,
        "return": pd.DataFrame,
    }
    schema = ", ".join(f"{name} {kind}" for name, kind in TASK_COLUMNS.items())
    return pandas_udf(scores, schema)


def analysis_layout(suite: Suite) -> dict[str, list[str]]:
    """The cases of a suite's analysis and their variants: the suite's cases, or a kind's units
    (EsBBQ's templates), each with the variants of its instances."""
    layout: dict[str, list[str]] = {}
    for case in suite.cases:
        variants = layout.setdefault(unit_of(suite.task, case.case_id, case.attributes), [])
        variants += [v for v in case.variants if v not in variants]
    return layout


def run_scoring(run: Mapping[str, Any]) -> Scoring:
    """What a run's analysis compares, from its row of the runs table (a run from before
    languages is English)."""
    task = run.get("task")
    return Scoring.of(json.loads(task) if task else None, language=run.get("language") or "en")
