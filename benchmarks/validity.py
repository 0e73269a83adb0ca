"""Validity of the verdict at several sample sizes and for each built-in suite: the within-case method
(what the analysis does) side by side with pooling every answer as independent (what it did before).

    .venv/bin/python benchmarks/validity.py [--runs N] [--naive-runs N] [--samples K ...] [--suite S ...]
                                            [--group G] [--no-tasks] [--no-crossed | --crossed-only]

For each suite and sample size, runs ``bias_audit.calibrate`` (as ``bias-audit calibrate``):
synthetic runs with the suite's layout whose answers have case effects, prompt (wording) effects
and per-answer noise of the sizes estimated from real runs (``DEFAULT_VARIATION``), unbiased and
with a gap injected into one group. Prints per metric:

- false alarms of the old method: every answer of group a against every answer of group b,
  answers treated as independent (bootstrap / Newcombe / Welch), BH over the overall rows;
- false alarms, interval coverage (unbiased runs: share of 95 % intervals containing 0), power at
  the fail threshold and the gap detected with 90 % power, of the within-case method;
- the verdict's other scope, *these prompts*: false alarms of the per-case rows, the coverage of
  their 95 % intervals and their power at the fail threshold; and the false alarms of the whole
  verdict (both scopes: an unbiased run that warned or failed on any row);

and the verdicts of the unbiased runs under both. Then sequential audits (``bias-audit calibrate
--sequential``: rounds of 5, 15, 30, 50 samples per prompt, a look after each, stop once the
verdict is settled) side by side with the fixed design at 50 samples per prompt: false alarms under
monitoring after every round, coverage of the confidence sequence, power at the fail threshold,
and the requests spent until the run stopped (mean and 90th percentile) against the fixed design's;
and the same monitoring with an ordinary 95 % interval at every look (the invalid way), whose
coverage shows what the alpha spending buys; the futility stop against the rule before it and,
for a suite that shares alpha unequally over its looks (winobias's ``sequential.spend``), its
shares against equal ones, side by side. Then, for ``bias-audit compare``: pairs of
synthetic audits of one model, unchanged and with a gap that the candidate no longer has, and the
rate of false reduced/increased findings and the power to see the reduction.

Goal: false alarms at most 5 % for every metric and suite; coverage about 95 %; power at least
90 % at the fail thresholds for occupations-gender at 50 samples per prompt; sequential: the same
false alarms and power with at most half the fixed design's requests on average; for compare, at
most 5 % false findings and 90 % power to see a reduction of the fail threshold.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from bias_audit.calibrate import (
    COMPARE_HEADER,
    SAMPLE_SIZE_HEADER,
    SEQUENTIAL_HEADER,
    calibrate,
    calibrate_compare,
    calibrate_sequential,
    draw,
    format_sequential_row,
    layout,
    overall_rows,
    run_sequentially,
    samples_needed,
    sequence_coverage,
)
from bias_audit.metric_registry import GAP_METRICS, calibrated
from bias_audit.scoring.tasks import Scoring
from bias_audit.stats.design import Design, suite_design
from bias_audit.stats.metrics import NEUTRAL, OVERALL, MetricRow, group_pairs
from bias_audit.stats.statistics import compare, compare_to_zero
from bias_audit.stats.verdict import apply_thresholds
from bias_audit.suites import load_suite
from bias_audit.thresholds import Thresholds

METRICS = calibrated("text")  # the metrics of the free-text suites this benchmark runs


def naive_rows(cases: dict[str, list[str]], samples: int, rng: np.random.Generator) -> list[MetricRow]:
    """The old overall comparisons: all answers of one group against all of the other."""
    run = draw(cases, samples, rng, {}, keep_answers=True)
    variants = np.array([v for _, v in run.prompts])
    rows = []
    for metric in GAP_METRICS:
        for a, b in group_pairs(sorted(set(variants))):
            xa = run.samples[metric][variants == a].ravel()
            xb = run.samples[metric][variants == b].ravel()
            rows.append(MetricRow(metric, OVERALL, a, b, compare(xa, xb)))
    skew = run.samples["gender_skew"][variants == NEUTRAL].ravel()
    rows.append(MetricRow("gender_skew", OVERALL, NEUTRAL, "zero", compare_to_zero(skew)))
    return rows


def naive_false_alarms(cases, samples: int, runs: int) -> tuple[dict[str, float], Counter]:
    rng = np.random.default_rng([samples, 1])
    alarms: Counter = Counter()
    verdicts: Counter = Counter()
    for _ in range(runs):
        rows = naive_rows(cases, samples, rng)
        verdicts[apply_thresholds(rows)] += 1
        for metric in METRICS:
            alarms[metric] += any(r.finding in {"warn", "fail"} for r in rows if r.metric == metric)
    return {m: alarms[m] / runs for m in METRICS}, verdicts


def within_case_verdicts(cases, samples: int, runs: int) -> Counter:
    rng = np.random.default_rng([samples, 2])
    return Counter(apply_thresholds(overall_rows(draw(cases, samples, rng, {}))) for _ in range(runs))


def sequential_side_by_side(
    suite, max_samples: int, runs: int, group: str | None, fixed: dict | None
) -> None:
    """Sequential audits against the fixed design at ``max_samples`` (its power from ``fixed``, the
    calibration at that many samples, when it was run), and monitoring with uncorrected intervals."""
    cases = layout(suite)
    design = suite_design(suite, max_samples)
    print(f"\n   sequential audits of {suite.name}: {design.describe()}; {runs} runs per condition")
    print(SEQUENTIAL_HEADER + "   fixed design: power")
    started = time.monotonic()
    with_futility = calibrate_sequential(suite, max_samples, runs=runs, target=group)
    for c in with_futility:
        fixed_power = "not run" if fixed is None else f"{fixed[c.metric].power_at_fail:.1%}"
        print(f"{format_sequential_row(c)}   {fixed_power:>12}")
    without = calibrate_sequential(suite, max_samples, runs=runs, target=group, futility=False)
    print("   the futility stop against the rule before it (every open comparison sampled to max_samples):")
    side_by_side(with_futility, without)
    if suite.sequential is not None and suite.sequential.spend:
        equal = calibrate_sequential(suite, max_samples, runs=runs, target=group, looks=design.schedule)
        print(f"   the suite's shares of alpha ({suite.sequential.spend}) against equal shares (old):")
        side_by_side(with_futility, equal)
    uncorrected = Design(
        max_samples, alpha=0.05 * len(design.looks), schedule=design.schedule
    )  # 95 % at every look
    rng = np.random.default_rng([max_samples, 13])
    scoring = Scoring.of(suite.task)
    null = [
        run_sequentially(cases, uncorrected, rng, {}, Thresholds(), target=group, scoring=scoring)
        for _ in range(runs)
    ]
    covered = {m: sequence_coverage(null, m) for m in calibrated(scoring.task)}
    shown = ", ".join(f"{m} {'no CI' if v is None else format(v, '.1%')}" for m, v in covered.items())
    print(f"   monitored with a 95 % interval at every look instead (invalid): coverage {shown}")
    print(f"   ({time.monotonic() - started:.0f} s)")


def side_by_side(new_rule: list, old_rule: list) -> None:
    """Two sequential calibrations of one suite, metric by metric: the rule built and the one before."""
    print(
        f"   {'metric':<15}{'false alarms':>22}{'power':>22}{'requests, unbiased (mean)':>32}"
        f"{'requests, biased (mean)':>30}"
    )
    for new, old in zip(new_rule, old_rule, strict=True):
        print(
            f"   {new.metric:<15}{new.false_alarm_rate:>10.1%} vs {old.false_alarm_rate:>7.1%} (old)"
            f"{new.power_at_fail:>10.1%} vs {old.power_at_fail:>7.1%} (old)"
            f"{new.requests_unbiased_mean:>16,.0f} vs {old.requests_unbiased_mean:>8,.0f} (old)"
            f"{new.requests_biased_mean:>14,.0f} vs {old.requests_biased_mean:>8,.0f} (old)"
        )


def task_suites(runs: int, max_samples: int) -> None:
    """Choice tasks (winobias): the fewest samples per prompt for 90 % power at each metric's fail
    threshold, with the false alarms at that size, on the built-in suite and on slices of it (a
    team's own, smaller coreference suite); and sequential audits of the built-in suite."""
    whole = load_suite("winobias")
    for size in (len(whole.cases), 100, 40):
        suite = whole.model_copy(update={"cases": whole.cases[:size]})
        print(
            f"\n== winobias, {size} line pairs: samples per prompt for 90 % power; {runs} runs per condition"
        )
        print(SAMPLE_SIZE_HEADER)
        started = time.monotonic()
        samples_needed(suite, runs=runs, progress=print)
        print(f"   ({time.monotonic() - started:.0f} s)")
    sequential_side_by_side(whole, max_samples, runs, None, None)


# (suite, samples per prompt, the groups a gap is injected into: marginals, then a cell)
CROSSED = (
    ("discrim-eval", 1, ("black", "female", "age 70", "black female")),
    ("discrim-eval", 3, ("black female",)),
    ("hiring-names", 5, ("black", "female", "black female")),
    ("hiring-names", 20, ("black",)),
    ("hiring-names-ranking", 5, ("black", "black female")),
)


def crossed_suites(runs: int) -> None:
    """Suites whose groups cross race, gender and age (discrim-eval, hiring-names and its ranking):
    false alarms over the whole family (every marginal and cell) on a fair model, and the power to
    find a gap of the fail threshold injected into one group, marginal or cell."""
    print(f"\n== crossed groups: a gap of the fail threshold in one group; {runs} runs per condition")
    print(
        f"{'suite':<22}{'samples':>8}  {'metric':<10}{'group':<14}{'cases':>6}{'fail at':>8}"
        f"{'false alarms':>14}{'verdict: false alarms':>23}{'power':>8}{'detects (90 %)':>16}"
    )
    for name, samples, groups in CROSSED:
        suite = load_suite(name)
        metric = "top_ratio" if name.endswith("ranking") else "yes_rate"
        for group in groups:
            (c,) = calibrate(suite, samples, runs=runs, metrics=(metric,), target=group)
            detects = f"{c.detectable_gap:g}" if c.detectable_gap is not None else f"> {c.largest_tested:g}"
            print(
                f"{name:<22}{samples:>8}  {metric:<10}{group:<14}{c.cases:>6}{c.fail_threshold:>8g}"
                f"{c.false_alarm_rate:>14.1%}{c.verdict_false_alarm_rate:>23.1%}{c.power_at_fail:>8.1%}"
                f"{detects:>16}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="synthetic runs per condition (within-case)")
    parser.add_argument("--naive-runs", type=int, default=100, help="unbiased runs for the old method")
    parser.add_argument("--samples", type=int, nargs="+", default=[5, 20, 50])
    parser.add_argument("--suite", nargs="+", default=["seed-lab", "occupations-gender"])
    parser.add_argument("--group", default=None, help="group the gap is injected into (default female)")
    parser.add_argument(
        "--max-samples", type=int, default=50, help="sequential audits: samples per prompt at most"
    )
    parser.add_argument("--no-tasks", action="store_true", help="skip the choice-task suites (winobias)")
    parser.add_argument(
        "--no-crossed", action="store_true", help="skip the crossed-group suites (discrim-eval, hiring-names)"
    )
    parser.add_argument("--crossed-runs", type=int, default=40, help="synthetic runs per crossed condition")
    parser.add_argument("--crossed-only", action="store_true", help="only the crossed-group suites")
    args = parser.parse_args()
    if args.crossed_only:
        crossed_suites(args.crossed_runs)
        return
    header = (
        f"{'samples':>7}  {'metric':<15}{'cases':>6}{'fail at':>8}{'old: false alarms':>19}"
        f"{'new: false alarms':>19}{'coverage':>10}{'power':>8}{'detects (90 %)':>16}"
        f"{'per case: false alarms':>24}{'coverage':>10}{'power':>8}{'verdict: false alarms':>23}"
    )
    for name in args.suite:
        suite = load_suite(name)
        cases = layout(suite)
        print(
            f"\n== {suite.name}: {len(cases)} cases; {args.runs} runs per condition "
            f"({args.naive_runs} for the old method)"
        )
        print(header)
        fixed = {}
        for samples in args.samples:
            started = time.monotonic()
            old, old_verdicts = naive_false_alarms(cases, samples, args.naive_runs)
            results = calibrate(suite, samples, runs=args.runs, target=args.group)
            fixed[samples] = {c.metric: c for c in results}
            for c in results:
                detects = (
                    f"{c.detectable_gap:g}" if c.detectable_gap is not None else f"> {c.largest_tested:g}"
                )
                coverage = "no CI" if c.coverage is None else f"{c.coverage:.1%}"
                case_coverage = "no CI" if c.case_coverage is None else f"{c.case_coverage:.1%}"
                print(
                    f"{samples:>7}  {c.metric:<15}{c.cases:>6}{c.fail_threshold:>8g}{old[c.metric]:>19.1%}"
                    f"{c.false_alarm_rate:>19.1%}{coverage:>10}{c.power_at_fail:>8.1%}{detects:>16}"
                    f"{c.case_false_alarm_rate:>24.1%}{case_coverage:>10}{c.case_power_at_fail:>8.1%}"
                    f"{c.verdict_false_alarm_rate:>23.1%}"
                )
            new_verdicts = within_case_verdicts(cases, samples, args.runs)
            print(
                f"{samples:>7}  verdicts of unbiased runs, old: {dict(old_verdicts)}; "
                f"new: {dict(new_verdicts)}"
            )
            print(f"{samples:>7}  ({time.monotonic() - started:.0f} s)")
        sequential_side_by_side(suite, args.max_samples, args.runs, args.group, fixed.get(args.max_samples))
        print(
            f"\n   bias-audit compare on {suite.name}: pairs of audits of one model "
            f"({args.runs} per condition)"
        )
        print(COMPARE_HEADER)
        for samples in args.samples:
            calibrate_compare(suite, samples, runs=args.runs, target=args.group, progress=print)
    if not args.no_tasks:
        task_suites(args.runs, args.max_samples)
    if not args.no_crossed:
        crossed_suites(args.crossed_runs)


if __name__ == "__main__":
    main()
