"""A sequential audit's design: its looks (samples per prompt at each), the alpha each look spends,
and why a comparison no sample size up to the last look can settle stays inconclusive
(``futility_note``). The rest of sequential.py's docstring explains the method.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from bias_audit.schedule import check_schedule
from bias_audit.stats.metrics import (
    OVERALL,
    MetricRow,
)
from bias_audit.stats.per_case import MIN_DECIDING
from bias_audit.stats.verdict import FUTILE

FIRST_ROUND = 5  # samples per prompt of the first round
SEQUENTIAL = "sequential"  # RunConfig.mode of a sequential run
DEFAULT_MAX_SAMPLES = 50

Key = tuple[str, str, str, str]  # (metric, scope, group_a, group_b)


@dataclass(frozen=True)
class Design:
    """The planned looks of a sequential audit and the alpha spent at each."""

    max_samples: int = DEFAULT_MAX_SAMPLES
    alpha: float = 0.05
    first: int = FIRST_ROUND
    # looks fixed before the first one (the suite's ``sequential.looks`` or the run's ``looks``):
    # those below max_samples, then max_samples; None: formula (1)
    schedule: tuple[int, ...] | None = None
    # stop sampling what no sample size up to max_samples can settle (formula 4); False: the rule
    # before futility stops, kept to measure what they cost (benchmarks/validity.py)
    futility: bool = True

    def __post_init__(self) -> None:
        if self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1 (value: {self.max_samples})")
        if self.schedule is not None:
            check_schedule(self.schedule)

    @functools.cached_property
    def looks(self) -> tuple[int, ...]:
        """Cumulative samples per prompt at each look: the schedule, or formula (1)."""
        if self.schedule:
            return (*(s for s in self.schedule if s < self.max_samples), self.max_samples)
        looks = [min(self.first, self.max_samples)]
        while looks[-1] < self.max_samples:
            step = looks[-1] * 2 if looks[-1] >= MIN_DECIDING else MIN_DECIDING
            looks.append(min(step, self.max_samples))
        return tuple(looks)

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / len(self.looks)

    def describe(self) -> str:
        looks = ", ".join(str(s) for s in self.looks)
        return (
            f"looks at {looks} samples per prompt; each look's interval at "
            f"{1 - self.alpha_per_look:.1%} (alpha {self.alpha:g} spread over {len(self.looks)} looks)"
        )


def _key(row: MetricRow) -> Key:
    return (row.metric, row.scope, row.group_a, row.group_b)


def futility_note(row: MetricRow, design: Design) -> str:
    """Why a futile comparison stays inconclusive (it starts with ``metrics.FUTILE``)."""
    if row.scope == OVERALL:
        return (
            f"{FUTILE} with {row.comparison.cases} cases at any sample size up to "
            f"{design.max_samples} per prompt: add cases"
        )
    return (
        f"{FUTILE} in this case at any sample size up to {design.max_samples} per prompt: "
        "rewording alone moves it as much"
    )
