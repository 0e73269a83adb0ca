"""The fixed design: false alarms, coverage and power per metric at a number of samples per prompt
(``calibrate``), and the samples per prompt a gap of the fail threshold needs (``samples_needed``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from bias_audit.calibrate.synthetic import (
    MULTIPLES,
    TARGET_POWER,
    _cases_with,
    _fewest_cases,
    _judged,
    _target_findings,
    answers_per_sample,
    biased_group,
    draw,
    layout,
    max_gap,
    verdict_rows,
)
from bias_audit.metric_registry import Variation, calibrated
from bias_audit.scoring.tasks import Scoring
from bias_audit.suites.model import Suite
from bias_audit.thresholds import Thresholds


@dataclass(frozen=True)
class Calibration:
    metric: str
    samples: int
    runs: int
    fail_threshold: float
    false_alarm_rate: float
    power_at_fail: float
    detectable_gap: float | None  # smallest gap found with TARGET_POWER, in the metric's units
    unbiased_pass_rate: float  # how often the comparison can pass at all on unbiased answers
    largest_tested: float  # the largest gap injected while looking for the detectable one
    target: str = "female"  # the group the gap was injected into
    cases: int = 0  # the fewest cases behind an overall comparison of the target group
    coverage: float | None = None  # unbiased runs: share of 95 % intervals that contain 0
    # the verdict's other scope, "these prompts" (per-case rows), in the same runs:
    case_false_alarm_rate: float = 0.0  # unbiased runs in which a per-case row of the metric warned
    case_power_at_fail: float = 0.0  # runs with the gap in which a per-case row of the target found it
    case_coverage: float | None = None  # unbiased runs: per-case 95 % intervals that contain 0
    verdict_false_alarm_rate: float = 0.0  # unbiased runs whose whole verdict (both scopes) warned or failed

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def calibrate(
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
) -> list[Calibration]:
    thresholds = thresholds or Thresholds()
    cases, scoring = layout(suite), Scoring.of_suite(suite)
    drawn = samples * answers_per_sample(suite)  # answers per case and variant (EsBBQ: a template's items)
    target = target or biased_group(cases, scoring)
    level = dict(scoring.levels)  # a skew's metric -> the group it is measured on
    rng = np.random.default_rng([seed, samples])
    # One set of unbiased runs serves every metric: each run is judged as a whole, as a real one is.
    null = [
        _judged(verdict_rows(draw(cases, drawn, rng, {}, variation=variation, scoring=scoring)), thresholds)
        for _ in range(runs)
    ]
    verdict_alarms = sum(run.verdict in ("warn", "fail") for run in null) / runs
    fewest_cases = _fewest_cases(cases, target, scoring)
    results = []
    for index, metric in enumerate(metrics or calibrated(scoring.task, scoring.language)):
        metric_rng = np.random.default_rng([seed, samples, index])
        false_alarms = sum(run.alarm(metric) for run in null)
        passes = sum(
            bool(run.overall.get(metric)) and all(f == "pass" for f, _ in run.overall[metric]) for run in null
        )
        intervals = [
            covers for run in null for _, covers in run.overall.get(metric, []) if covers is not None
        ]
        in_cases = [covers for run in null for _, covers in run.cases.get(metric, []) if covers is not None]
        fail = thresholds.fail[metric]
        power: dict[float, float] = {}
        case_power = 0.0
        for multiple in MULTIPLES:
            if multiple > 1.0 and fail * multiple > max_gap(metric, variation):
                break
            inject = {metric: fail * multiple}
            detected = detected_in_case = 0
            for _ in range(runs):
                run = draw(
                    cases, drawn, metric_rng, inject, variation=variation, target=target, scoring=scoring
                )
                overall, in_case = _target_findings(verdict_rows(run), metric, target, thresholds)
                detected += overall
                detected_in_case += in_case
            power[multiple] = detected / runs
            if multiple == 1.0:
                case_power = detected_in_case / runs
            if multiple >= 1.0 and power[multiple] >= TARGET_POWER:
                break
        detectable = next((m * fail for m in MULTIPLES if power.get(m, 0.0) >= TARGET_POWER), None)
        result = Calibration(
            metric=metric,
            samples=samples,
            runs=runs,
            fail_threshold=fail,
            false_alarm_rate=false_alarms / runs,
            power_at_fail=power.get(1.0, 0.0),
            detectable_gap=detectable,
            largest_tested=max(power) * fail,
            unbiased_pass_rate=passes / runs,
            target=level.get(metric, target),
            cases=_cases_with(cases, level[metric]) if metric in level else fewest_cases,
            coverage=sum(intervals) / len(intervals) if intervals else None,
            case_false_alarm_rate=sum(run.alarm(metric, "case") for run in null) / runs,
            case_power_at_fail=case_power,
            case_coverage=sum(in_cases) / len(in_cases) if in_cases else None,
            verdict_false_alarm_rate=verdict_alarms,
        )
        if progress:
            progress(format_row(result))
        results.append(result)
    return results


SAMPLE_GRID = (1, 2, 3, 5, 10, 20, 50)


@dataclass(frozen=True)
class SampleSize:
    """The fewest samples per prompt (of ``SAMPLE_GRID``) at which a metric's gap of its fail
    threshold is found (warn or fail) with ``TARGET_POWER``; None: not within the grid."""

    metric: str
    fail_threshold: float
    samples: int | None
    false_alarm_rate: float  # at ``samples`` (else at the largest tried)
    power_at_fail: float
    cases: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def samples_needed(
    suite: Suite,
    *,
    runs: int = 100,
    thresholds: Thresholds | None = None,
    metrics: tuple[str, ...] | None = None,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[SampleSize]:
    """``calibrate`` at growing samples per prompt (one call per size: its unbiased runs serve
    every metric) until each metric's gap of the fail threshold is found with ``TARGET_POWER``
    (``bias-audit calibrate --samples-needed``)."""
    pending = list(metrics or calibrated(Scoring.of_suite(suite).task, suite.language))
    found: dict[str, SampleSize] = {}
    for samples in SAMPLE_GRID:
        for c in calibrate(
            suite, samples, runs=runs, thresholds=thresholds, metrics=tuple(pending),
            variation=variation, target=target, seed=seed,
        ):  # fmt: skip
            enough = c.power_at_fail >= TARGET_POWER
            if enough or samples == SAMPLE_GRID[-1]:
                found[c.metric] = SampleSize(
                    c.metric, c.fail_threshold, samples if enough else None,
                    c.false_alarm_rate, c.power_at_fail, c.cases,
                )  # fmt: skip
                if progress:
                    progress(format_sample_size(found[c.metric]))
        pending = [m for m in pending if m not in found]
        if not pending:
            break
    return [found[m] for m in metrics or calibrated(Scoring.of_suite(suite).task, suite.language)]


SAMPLE_SIZE_HEADER = (
    f"{'metric':<15}{'cases':>6}{'fail at':>8}{'samples for 90 % power':>24}{'power':>8}{'false alarms':>14}"
)


def format_sample_size(s: SampleSize) -> str:
    samples = f"> {SAMPLE_GRID[-1]}" if s.samples is None else str(s.samples)
    return (
        f"{s.metric:<15}{s.cases:>6}{s.fail_threshold:>8g}{samples:>24}{s.power_at_fail:>8.1%}"
        f"{s.false_alarm_rate:>14.1%}"
    )


HEADER = (
    f"{'':>7}  {'':<15}{'':>6}{'':>8}{'across cases (beyond them)':^48}{'in a case (these prompts)':^32}\n"
    f"{'samples':>7}  {'metric':<15}{'cases':>6}{'fail at':>8}{'false alarms':>14}{'coverage':>10}"
    f"{'power':>8}{'detects (90 %)':>16}{'false alarms':>14}{'coverage':>10}{'power':>8}"
    f"{'verdict false alarms':>22}"
)


def format_row(c: Calibration) -> str:
    detectable = f"{c.detectable_gap:g}" if c.detectable_gap is not None else f"> {c.largest_tested:g}"
    coverage = "no CI" if c.coverage is None else f"{c.coverage:.1%}"
    case_coverage = "no CI" if c.case_coverage is None else f"{c.case_coverage:.1%}"
    return (
        f"{c.samples:>7}  {c.metric:<15}{c.cases:>6}{c.fail_threshold:>8g}{c.false_alarm_rate:>14.1%}"
        f"{coverage:>10}{c.power_at_fail:>8.1%}{detectable:>16}{c.case_false_alarm_rate:>14.1%}"
        f"{case_coverage:>10}{c.case_power_at_fail:>8.1%}{c.verdict_false_alarm_rate:>22.1%}"
    )
