"""A sequential audit's design: its looks (samples per prompt at each), the alpha each look spends
(equal shares, or the suite's ``sequential.spend``),
and why a comparison no sample size up to the last look can settle stays inconclusive
(``futility_note``). The rest of sequential.py's docstring explains the method.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from bias_audit.schedule import check_schedule, check_spend
from bias_audit.stats.metrics import (
    OVERALL,
    MetricRow,
)
from bias_audit.stats.per_case import MIN_DECIDING
from bias_audit.stats.verdict import FUTILE
from bias_audit.suites.model import Suite

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
    # relative shares of alpha: one per look of ``schedule``, then one for the look at max_samples
    # (the suite's ``sequential.spend``); the shares of looks at or past max_samples go to that
    # last look. None: equal shares. Valid for any shares fixed before the first look (formula 2)
    spend: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1 (value: {self.max_samples})")
        if self.schedule is not None:
            check_schedule(self.schedule)
        if self.spend is not None:
            if self.schedule is None:
                raise ValueError("spend needs the schedule of looks it shares alpha over")
            check_spend(self.spend, self.schedule)

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

    @functools.cached_property
    def alphas(self) -> tuple[float, ...]:
        """The alpha each look spends (formula 2): they sum to ``alpha``, whichever look the run
        stops at, so the Bonferroni bound holds."""
        count = len(self.looks)
        if not self.spend:
            return (self.alpha / count,) * count
        shares = (*self.spend[: count - 1], sum(self.spend[count - 1 :]))
        return tuple(self.alpha * share / sum(shares) for share in shares)

    def alpha_at(self, look: int) -> float:
        """The alpha of look ``look`` (1 for the first)."""
        return self.alphas[look - 1]

    def alpha_ahead(self, look: int) -> float:
        """The largest alpha of the looks after ``look``: the narrowest interval the comparison
        could still get, which a futility stop must assume (formula 4)."""
        return max(self.alphas[look:], default=self.alphas[-1])

    def describe(self) -> str:
        looks = ", ".join(str(s) for s in self.looks)
        if len(set(self.alphas)) == 1:
            levels = f"each look's interval at {1 - self.alphas[0]:.1%}"
        else:
            levels = "the looks' intervals at " + ", ".join(f"{1 - a:.2%}" for a in self.alphas)
        return (
            f"looks at {looks} samples per prompt; {levels} "
            f"(alpha {self.alpha:g} spread over {len(self.looks)} looks)"
        )


def suite_design(
    suite: Suite,
    max_samples: int,
    *,
    looks: tuple[int, ...] | None = None,
    spend: tuple[float, ...] | None = None,
    futility: bool = True,
    alpha: float = Design.alpha,
) -> Design:
    """A sequential audit's design on ``suite``, for a run (run_requests.design_of) and for
    calibrate alike: the given ``looks`` (with ``spend``, else equal shares of alpha), else the
    suite's looks and spend, else formula (1) (ValueError: a spend that does not fit the looks)."""
    plan = suite.sequential
    if looks is None and plan is not None:
        looks = tuple(plan.looks)
        spend = spend if spend is not None else (tuple(plan.spend) if plan.spend else None)
    return Design(max_samples, alpha=alpha, schedule=looks, spend=spend, futility=futility)


def recorded_design(max_samples: int, looks: list[int], alphas: list[float] | None) -> Design:
    """The design a run sampled by, from what its run.json recorded: its looks (the last is
    max_samples) and the alpha each spent, which sum to the run's alpha (None: the default alpha in
    equal shares)."""
    if not alphas or len(alphas) != len(looks):
        alphas = None
    alpha = sum(alphas) if alphas else Design.alpha
    if not looks:  # none recorded: the default schedule
        return Design(max_samples, alpha=alpha)
    if len(looks) == 1:  # one look, at max_samples: it spends all of alpha
        return Design(max_samples, alpha=alpha, schedule=(max_samples,))
    spend = tuple(alphas) if alphas else None
    return Design(max_samples, alpha=alpha, schedule=tuple(looks[:-1]), spend=spend)


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
