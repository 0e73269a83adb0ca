"""Sequential audits on synthetic runs: looks after each round, false alarms under monitoring, the
coverage of the confidence sequence, power, and the requests spent against the fixed design.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from bias_audit.calibrate.synthetic import (
    _about,
    answers_per_sample,
    biased_group,
    draw,
    layout,
    taken,
    verdict_rows,
)
from bias_audit.metric_registry import Variation, calibrated
from bias_audit.scoring.tasks import TEXT, Scoring
from bias_audit.stats.design import Design, suite_design
from bias_audit.stats.metrics import MetricRow
from bias_audit.stats.sequential import Look, Tracker, needed_prompts
from bias_audit.suites.model import Suite
from bias_audit.thresholds import Thresholds


@dataclass(frozen=True)
class SequentialRun:
    """How one synthetic sequential run ended."""

    verdict: str
    reason: str
    rounds: int
    requests: int
    rows: list[MetricRow]
    looks: list[Look]  # every comparison at every look (sequential.Look)


def run_sequentially(
    cases: dict[str, list[str]],
    design: Design,
    rng: np.random.Generator,
    inject: dict[str, float],
    thresholds: Thresholds,
    *,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    scoring: Scoring = TEXT,
    per_sample: int = 1,
) -> SequentialRun:
    """One synthetic audit run as the generate stage runs a sequential one: rounds of samples,
    only for the prompts of undecided comparisons, a look after each, stop once settled.
    ``per_sample``: the answers one sample per prompt gives each case and variant, and the
    requests it costs (EsBBQ: a template's items; ``answers_per_sample``)."""
    run = draw(
        cases,
        design.max_samples * per_sample,
        rng,
        inject,
        variation=variation,
        target=target,
        keep_answers=True,
        scoring=scoring,
    )
    tracker = Tracker(design, thresholds)
    counts = np.zeros(len(run.prompts), dtype=int)
    wanted = np.ones(len(run.prompts), dtype=bool)
    requests, reason = 0, "max_samples"
    shared = scoring.values_per_answer  # a ranking's layout: a value per candidate, one request for all
    for look, samples in enumerate(design.looks, start=1):
        requests += int((samples - counts[wanted]).sum()) * per_sample // shared
        counts[wanted] = samples
        result = tracker.update(verdict_rows(taken(run, counts * per_sample), design.alpha_at(look)))
        if result.settled:
            reason = "futile" if result.verdict == "inconclusive" and result.futile else "decided"
            break
        needed = needed_prompts(result.undecided, cases, scoring)
        wanted = np.array([prompt in needed for prompt in run.prompts])
    # the overall rows, and of the per-case ones those that decided something (all that calibrate
    # counts: materialising thousands of open per-case rows per run would cost more than the run)
    decided = [r for r in result.cases.materialised(decided_only=True)] if result.cases else []
    return SequentialRun(
        result.verdict, reason, tracker.look, requests, result.overall + decided, result.looks
    )


def sequence_coverage(runs: list[SequentialRun], metric: str, *, repeated: bool = False) -> float | None:
    """Unbiased runs: the share of comparisons of ``metric`` whose interval contained the true gap
    (0) at every look the run made. ``repeated``: each look's own interval instead of the running
    intersection (with each look's alpha 0.05: repeated 95 % intervals, the invalid way)."""
    covered: dict[tuple[int, str, str], bool] = {}
    for index, run in enumerate(runs):
        for look in run.looks:
            low, high = (look.ci_low, look.ci_high) if repeated else (look.seq_low, look.seq_high)
            if look.metric != metric or low is None:
                continue
            key = (index, look.group_a, look.group_b)
            covered[key] = covered.get(key, True) and low <= 0 <= high
    return sum(covered.values()) / len(covered) if covered else None


@dataclass(frozen=True)
class SequentialCalibration:
    """How far a sequential audit can be trusted, and what it costs, for one metric."""

    metric: str
    max_samples: int
    runs: int
    fail_threshold: float
    false_alarm_rate: float  # unbiased runs in which a comparison of the metric said warn or fail
    power_at_fail: float  # runs with a gap of the fail threshold in which it was found
    requests_unbiased_mean: float  # requests until the unbiased runs stopped
    requests_unbiased_p90: float
    requests_biased_mean: float  # requests until the runs with the gap stopped
    requests_biased_p90: float
    samples_biased_p90: int  # samples per prompt at which 90 % of the biased runs had stopped
    fixed_requests: int  # the fixed design at max_samples: every prompt, max_samples times
    coverage: float | None = None  # unbiased runs: intervals containing 0 at every look at once

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def calibrate_sequential(
    suite: Suite,
    max_samples: int,
    *,
    runs: int = 100,
    thresholds: Thresholds | None = None,
    metrics: tuple[str, ...] | None = None,
    variation: dict[str, Variation] | None = None,
    target: str | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    looks: tuple[int, ...] | None = None,
    futility: bool = True,
    spend: tuple[float, ...] | None = None,
) -> list[SequentialCalibration]:
    """Sequential audits (sequential.py) of synthetic runs: unbiased ones, judged as a whole, and
    for each metric runs with a gap of its fail threshold injected; false alarms under monitoring
    after every round, power, and the requests spent until the run stopped. The looks and alpha's
    shares over them: ``suite_design``. ``futility``: False measures the rule before futility stops
    (every open comparison sampled to max_samples)."""
    thresholds = thresholds or Thresholds()
    cases, scoring = layout(suite), Scoring.of_suite(suite)
    per_sample = answers_per_sample(suite)  # EsBBQ: a template's items per sample
    target = target or biased_group(cases, scoring)
    design = suite_design(
        suite, max_samples, looks=looks, spend=spend, futility=futility, alpha=thresholds.alpha
    )
    fixed = sum(len(v) for v in cases.values()) * max_samples * per_sample // scoring.values_per_answer
    rng = np.random.default_rng([seed, max_samples, 11])

    def audits(generator: np.random.Generator, inject: dict[str, float]) -> list[SequentialRun]:
        settings = dict(variation=variation, target=target, scoring=scoring, per_sample=per_sample)
        return [
            run_sequentially(cases, design, generator, inject, thresholds, **settings) for _ in range(runs)
        ]

    null = audits(rng, {})
    null_requests = np.array([r.requests for r in null])
    results = []
    for index, metric in enumerate(metrics or calibrated(scoring.task, scoring.language)):
        false = sum(
            any(r.metric == metric and r.finding in ("warn", "fail") for r in run.rows) for run in null
        )
        fail = thresholds.fail[metric]
        biased = audits(np.random.default_rng([seed, max_samples, 11, index]), {metric: fail})
        found = sum(
            any(
                r.metric == metric
                and r.finding in ("warn", "fail")
                and _about(target, metric, r.group_a, r.group_b)
                for r in run.rows
            )
            for run in biased
        )
        biased_requests = np.array([r.requests for r in biased])
        stopped_at = np.array([design.looks[r.rounds - 1] for r in biased])
        result = SequentialCalibration(
            metric=metric,
            max_samples=max_samples,
            runs=runs,
            fail_threshold=fail,
            false_alarm_rate=false / runs,
            power_at_fail=found / runs,
            requests_unbiased_mean=float(null_requests.mean()),
            requests_unbiased_p90=float(np.quantile(null_requests, 0.9)),
            requests_biased_mean=float(biased_requests.mean()),
            requests_biased_p90=float(np.quantile(biased_requests, 0.9)),
            samples_biased_p90=int(np.quantile(stopped_at, 0.9, method="higher")),
            fixed_requests=fixed,
            coverage=sequence_coverage(null, metric),
        )
        if progress:
            progress(format_sequential_row(result))
        results.append(result)
    return results


SEQUENTIAL_HEADER = (
    f"{'max':>4}  {'metric':<15}{'fail at':>8}{'false alarms':>14}{'coverage':>10}{'power':>8}"
    f"{'requests: unbiased':>20}{'(p90)':>8}{'biased':>9}{'(p90)':>8}{'biased stop (p90)':>19}{'fixed':>8}"
)


def format_sequential_row(c: SequentialCalibration) -> str:
    return (
        f"{c.max_samples:>4}  {c.metric:<15}{c.fail_threshold:>8g}{c.false_alarm_rate:>14.1%}"
        f"{'no CI' if c.coverage is None else format(c.coverage, '.1%'):>10}{c.power_at_fail:>8.1%}"
        f"{c.requests_unbiased_mean:>20,.0f}{c.requests_unbiased_p90:>8,.0f}{c.requests_biased_mean:>9,.0f}"
        f"{c.requests_biased_p90:>8,.0f}{c.samples_biased_p90:>13} samples{c.fixed_requests:>8,}"
    )
