"""``bias-audit compare`` on synthetic pairs of audits of one model: false reduced/increased findings
and the power to see a reduction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from bias_audit.calibrate.synthetic import (
    SyntheticRun,
    _about,
    _comparisons,
    answers_per_sample,
    biased_group,
    draw,
    layout,
)
from bias_audit.metric_registry import Variation, calibrated
from bias_audit.scoring.tasks import Scoring
from bias_audit.stats.change import Change, apply_change_thresholds
from bias_audit.stats.within_case import (
    paired_change,
)
from bias_audit.suites.model import Suite
from bias_audit.thresholds import Thresholds


def change_rows(before: SyntheticRun, after: SyntheticRun) -> list:
    """The rows of ``bias-audit compare`` (compare.py) for two synthetic runs of one layout."""

    changes = []
    for (metric, a, b, s_before), (*_, s_after) in zip(
        _comparisons(before), _comparisons(after), strict=True
    ):
        change = paired_change(s_before, s_after) if s_before and s_after else None
        if change is not None:
            gaps = [float((s.mean_a - s.mean_b).mean()) for s in (s_before, s_after)]
            changes.append(Change(metric, a, b, gaps[0], gaps[1], change))
    return changes


@dataclass(frozen=True)
class CompareCalibration:
    """How far ``bias-audit compare`` can be trusted, for one metric at one sample size."""

    metric: str
    samples: int
    runs: int
    fail_threshold: float
    false_finding_rate: float  # nothing changed, yet a row of the metric said reduced or increased
    unchanged_rate: float  # nothing changed, and every row of the metric said unchanged
    power_reduction: float  # the baseline had a gap of the fail threshold, the candidate none

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def calibrate_compare(
    suite: Suite,
    samples: int,
    *,
    runs: int = 100,
    thresholds: Thresholds | None = None,
    metrics: tuple[str, ...] | None = None,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[CompareCalibration]:
    """Pairs of synthetic audits of one model (the same case and prompt effects, new answers):
    unchanged, and with a baseline gap of the fail threshold that the candidate no longer has (a
    mitigation that worked), judged as ``bias-audit compare`` judges them."""

    thresholds = thresholds or Thresholds()
    cases, scoring = layout(suite), Scoring.of_suite(suite)
    drawn = samples * answers_per_sample(suite)  # answers per case and variant (EsBBQ: a template's items)
    target = target or biased_group(cases, scoring)

    def pair(rng: np.random.Generator, inject: dict[str, float]) -> list:
        effects = rng.integers(2**32)
        before = draw(
            cases,
            drawn,
            rng,
            inject,
            variation=variation,
            target=target,
            effects=np.random.default_rng(effects),
            scoring=scoring,
        )
        after = draw(
            cases,
            drawn,
            rng,
            {},
            variation=variation,
            target=target,
            effects=np.random.default_rng(effects),
            scoring=scoring,
        )
        changes = change_rows(before, after)
        apply_change_thresholds(changes, thresholds)
        return changes

    rng = np.random.default_rng([seed, samples, 7])
    null = [pair(rng, {}) for _ in range(runs)]
    results = []
    for metric in metrics or calibrated(scoring.task, scoring.language):
        mine = [[c for c in changes if c.metric == metric] for changes in null]
        false = sum(any(c.finding in ("reduced", "increased") for c in rows) for rows in mine)
        unchanged = sum(bool(rows) and all(c.finding == "unchanged" for c in rows) for rows in mine)
        fail = thresholds.fail[metric]
        detected = 0
        for _ in range(runs):
            rows = [c for c in pair(rng, {metric: fail}) if c.metric == metric]
            detected += any(
                c.finding == "reduced" and _about(target, metric, c.group_a, c.group_b) for c in rows
            )
        result = CompareCalibration(
            metric, samples, runs, fail, false / runs, unchanged / runs, detected / runs
        )
        if progress:
            progress(
                f"{samples:>7}  {metric:<15}{fail:>8g}{result.false_finding_rate:>16.1%}"
                f"{result.unchanged_rate:>12.1%}{result.power_reduction:>10.1%}"
            )
        results.append(result)
    return results


COMPARE_HEADER = (
    f"{'samples':>7}  {'metric':<15}{'fail at':>8}{'false findings':>16}{'unchanged':>12}{'power':>10}"
)
