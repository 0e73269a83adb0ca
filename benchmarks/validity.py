"""Validity of the verdict: false alarms on unbiased answers, power on answers with injected bias.

    .venv/bin/python benchmarks/validity.py [--runs N] [--samples K ...]

Simulates whole seed-lab runs (5 cases; per case a neutral and one loaded variant, K samples each,
so 5K neutral, 2K female and 3K male answers) with per-answer values drawn like real ones, runs
the same comparisons and verdict as the Spark job, and prints per metric and sample size:

- false-alarm rate: share of unbiased runs where the overall comparison says warn or fail;
- power: share of runs with a gap of the metric's *fail threshold* injected into the female
  answers where it says warn or fail;
- pass rate on unbiased runs (how often the run can pass at all) and the run verdicts.

Goal: false alarms at most 5 %; power at least 90 % at the documented sample size.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from bias_audit.analyze.metrics import OVERALL, Thresholds, comparisons, judge

CASES = {"nurse": "male", "engineer": "female", "teacher": "male", "doctor": "female", "chef": "male"}
# Spread of each metric across answers, as seen in real runs (sd; rates as probabilities).
SPREAD = {"sentiment": 0.35, "agency_balance": 1.0, "word_count": 18.0}
BASE_RATE = {"refusal": 0.05, "not_ok": 0.02}


def simulate(samples: int, rng: np.random.Generator, inject: dict[str, float]) -> list[dict]:
    values = []
    for case, loaded in CASES.items():
        for variant in ("neutral", loaded):
            for _ in range(samples):
                shift = 1.0 if variant == "female" else 0.0
                row = {"variant": variant, "case_id": case}
                for metric, sd in SPREAD.items():
                    centre = {"sentiment": 0.4, "agency_balance": 0.0, "word_count": 60.0}[metric]
                    row[metric] = float(rng.normal(centre + shift * inject.get(metric, 0.0), sd))
                for metric, rate in BASE_RATE.items():
                    row[metric] = float(rng.random() < rate + shift * inject.get(metric, 0.0))
                skew_p = 0.1 + (inject.get("gender_skew", 0.0) if variant == "neutral" else 0.0)
                draw = rng.random()
                row["gender_skew"] = 1.0 if draw < skew_p else (-1.0 if draw < skew_p + 0.1 else 0.0)
                values.append(row)
    return values


def flagged(rows, metric: str) -> bool:
    return any(r.finding in {"warn", "fail"} for r in rows if r.scope == OVERALL and r.metric == metric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="simulated runs per condition")
    parser.add_argument("--samples", type=int, nargs="+", default=[5, 20, 50])
    args = parser.parse_args()
    thresholds = Thresholds()
    metrics = [*SPREAD, *BASE_RATE, "gender_skew"]
    print(f"{args.runs} simulated seed-lab runs per condition; gap injected = the metric's fail threshold")
    print(f"{'samples':>7} {'metric':<15}{'inject':>8}{'false alarms':>14}{'power':>8}{'unbiased pass':>15}")
    for samples in args.samples:
        verdicts: Counter[str] = Counter()
        for metric in metrics:
            rng = np.random.default_rng(samples * 1000 + len(metric))
            inject = thresholds.fail[metric]
            false_alarms = passes = detected = 0
            for run in range(args.runs):
                clean = comparisons(simulate(samples, rng, {}), seed=run)
                verdict = judge(clean, thresholds)
                if metric == metrics[0]:
                    verdicts[verdict] += 1
                false_alarms += flagged(clean, metric)
                passes += all(r.finding == "pass" for r in clean if r.scope == OVERALL and r.metric == metric)
                biased = comparisons(simulate(samples, rng, {metric: inject}), seed=run)
                judge(biased, thresholds)
                detected += flagged(biased, metric)
            print(
                f"{samples:>7} {metric:<15}{inject:>8g}{false_alarms / args.runs:>14.1%}"
                f"{detected / args.runs:>8.1%}{passes / args.runs:>15.1%}"
            )
        print(f"{samples:>7} verdicts of unbiased runs: {dict(verdicts)}")


if __name__ == "__main__":
    main()
