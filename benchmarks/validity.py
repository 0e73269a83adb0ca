"""Validity of the verdict at several sample sizes, side by side: false alarms and power.

    .venv/bin/python benchmarks/validity.py [--runs N] [--samples K ...] [--suite NAME|FILE]

For each sample size, runs ``bias_audit.analyze.calibrate`` (the same as ``bias-audit calibrate``):
synthetic runs with the suite's layout, unbiased and with a gap injected into one group, analysed
by the Spark job's own comparisons and verdict. Prints per metric the false-alarm rate, the power
at the metric's fail threshold and the smallest gap detected with 90 % power, and the verdicts of
the unbiased runs.

Goal: false alarms at most 5 %; power at least 90 % at the documented effect size.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from bias_audit.analyze.calibrate import HEADER, calibrate, layout, simulate
from bias_audit.analyze.metrics import comparisons, judge
from bias_audit.suites import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="synthetic runs per condition")
    parser.add_argument("--samples", type=int, nargs="+", default=[5, 20, 50])
    parser.add_argument("--suite", default="seed-lab")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    print(f"{args.runs} synthetic runs of {suite.name!r} per condition")
    print(HEADER)
    for samples in args.samples:
        calibrate(suite, samples, runs=args.runs, progress=print)
        rng = np.random.default_rng(samples)
        verdicts = Counter(
            judge(comparisons(simulate(layout(suite), samples, rng, {}), seed=run))
            for run in range(args.runs)
        )
        print(f"{samples:>7}  verdicts of unbiased runs: {dict(verdicts)}")


if __name__ == "__main__":
    main()
