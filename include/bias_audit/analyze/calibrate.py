"""How far the verdict can be trusted: false alarms and detection power on synthetic runs.

A synthetic run has the layout of a real one (the suite's cases and variants, ``samples``
answers per prompt) with per-answer values drawn like real ones (``SPREAD``, ``BASE_RATE``).
For each metric:

- *false-alarm rate*: the share of unbiased runs in which an overall comparison of the metric
  says warn or fail;
- *power*: the share of runs with a gap of the metric's *fail threshold* injected into one
  group's answers (``female``, else the first named group; for ``gender_skew``, into the neutral
  answers' skew) in which it says warn or fail;
- *detectable gap*: the smallest injected gap (a multiple of the fail threshold, from
  ``MULTIPLES``) found with at least ``TARGET_POWER`` power — the effect size this sample size
  can vouch for. None when even the largest multiple is missed.

The analysis is the Spark job's own (``comparisons`` and ``judge``); only the answers are made up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from bias_audit.analyze.metrics import NEUTRAL, OVERALL, Thresholds, comparisons, judge
from bias_audit.suites.model import Suite

# Per-answer spread seen in real runs (sd), and the centre the values are drawn around.
SPREAD = {"sentiment": 0.35, "agency_balance": 1.0, "word_count": 18.0}
CENTRE = {"sentiment": 0.4, "agency_balance": 0.0, "word_count": 60.0}
# Base rates of the 0/1 metrics.
BASE_RATE = {"refusal": 0.05, "not_ok": 0.02}
# Neutral answers: share assuming male, and share assuming female, before any injected skew.
SKEW_BASE = 0.1
METRICS = (*SPREAD, *BASE_RATE, "gender_skew")
MULTIPLES = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
TARGET_POWER = 0.9


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

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def layout(suite: Suite) -> dict[str, list[str]]:
    """The suite's cases and their variants: what a synthetic run reproduces."""
    return {case.case_id: list(case.variants) for case in suite.cases}


def biased_group(cases: dict[str, list[str]]) -> str:
    groups = sorted({v for variants in cases.values() for v in variants if v != NEUTRAL})
    return "female" if "female" in groups else (groups[0] if groups else NEUTRAL)


def simulate(
    cases: dict[str, list[str]], samples: int, rng: np.random.Generator, inject: dict[str, float]
) -> list[dict]:
    """Per-answer values (as ``answer_values`` makes them) of one synthetic run; ``inject`` adds a
    gap per metric to the answers of ``biased_group`` (``gender_skew``: to neutral answers)."""
    target = biased_group(cases)
    values = []
    for case, variants in cases.items():
        for variant in variants:
            shift = 1.0 if variant == target else 0.0
            for _ in range(samples):
                row: dict = {"variant": variant, "case_id": case}
                for metric, sd in SPREAD.items():
                    row[metric] = float(rng.normal(CENTRE[metric] + shift * inject.get(metric, 0.0), sd))
                for metric, rate in BASE_RATE.items():
                    row[metric] = float(rng.random() < rate + shift * inject.get(metric, 0.0))
                male = SKEW_BASE + (inject.get("gender_skew", 0.0) if variant == NEUTRAL else 0.0)
                draw = rng.random()
                row["gender_skew"] = 1.0 if draw < male else (-1.0 if draw < male + SKEW_BASE else 0.0)
                values.append(row)
    return values


def max_gap(metric: str) -> float:
    """The largest gap the simulation can inject: rates and the skew cannot leave [0, 1]."""
    if metric in BASE_RATE:
        return 1.0 - BASE_RATE[metric]
    if metric == "gender_skew":
        return 1.0 - 2 * SKEW_BASE
    return float("inf")


def _findings(values: list[dict], metric: str, thresholds: Thresholds, seed: int) -> list[str]:
    rows = comparisons(values, seed=seed)
    judge(rows, thresholds)
    return [r.finding for r in rows if r.scope == OVERALL and r.metric == metric]


def calibrate(
    suite: Suite,
    samples: int,
    *,
    runs: int = 100,
    thresholds: Thresholds | None = None,
    metrics: tuple[str, ...] = METRICS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[Calibration]:
    thresholds = thresholds or Thresholds()
    cases = layout(suite)
    results = []
    for index, metric in enumerate(metrics):
        rng = np.random.default_rng([seed, samples, index])
        fail = thresholds.fail[metric]
        false_alarms = passes = 0
        for run in range(runs):
            findings = _findings(simulate(cases, samples, rng, {}), metric, thresholds, run)
            false_alarms += any(f in {"warn", "fail"} for f in findings)
            passes += bool(findings) and all(f == "pass" for f in findings)
        power: dict[float, float] = {}
        for multiple in MULTIPLES:
            if multiple > 1.0 and fail * multiple > max_gap(metric):
                break
            detected = sum(
                any(
                    f in {"warn", "fail"}
                    for f in _findings(
                        simulate(cases, samples, rng, {metric: fail * multiple}), metric, thresholds, run
                    )
                )
                for run in range(runs)
            )
            power[multiple] = detected / runs
            if multiple >= 1.0 and power[multiple] >= TARGET_POWER:
                break
        detectable = next((m * fail for m in MULTIPLES if power.get(m, 0.0) >= TARGET_POWER), None)
        result = Calibration(
            metric=metric,
            samples=samples,
            runs=runs,
            fail_threshold=fail,
            false_alarm_rate=false_alarms / runs,
            power_at_fail=power[1.0],
            detectable_gap=detectable,
            largest_tested=max(m for m in power) * fail,
            unbiased_pass_rate=passes / runs,
        )
        if progress:
            progress(format_row(result))
        results.append(result)
    return results


HEADER = f"{'samples':>7}  {'metric':<15}{'fail at':>8}{'false alarms':>14}{'power':>8}{'detects (90 %)':>16}"


def format_row(c: Calibration) -> str:
    detectable = f"{c.detectable_gap:g}" if c.detectable_gap is not None else f"> {c.largest_tested:g}"
    return (
        f"{c.samples:>7}  {c.metric:<15}{c.fail_threshold:>8g}{c.false_alarm_rate:>14.1%}"
        f"{c.power_at_fail:>8.1%}{detectable:>16}"
    )
