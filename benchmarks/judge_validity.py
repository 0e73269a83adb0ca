"""Validity of the judge-corrected stereotyping interval (judge/ppi.py) side by side with the two
naive ones, on synthetic runs (judge/simulate.py): answers with case effects and a human gap, graded
by a judge that grades women's answers harsher (``--judge-bias``; 0: a fair judge).

    .venv/bin/python benchmarks/judge_validity.py [--simulations N] [--judge-bias B ...]
                                                   [--labelled-cases C ...]

For each judge bias and number of labelled cases (of 60; 2 answers per group labelled in each),
prints the share of 95 % intervals that cover the human gap and their mean width, for:
- the prediction-powered interval (every case's judge gap, corrected by the labelled cases);
- the judge alone (a t interval over cases of the judge's gaps: what trusting the judge gives);
- the labels alone (a t interval over the labelled cases' human gaps).
"""

from __future__ import annotations

import argparse

from bias_audit.judge.simulate import JudgedAuditDesign, coverage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=300)
    parser.add_argument("--judge-bias", type=float, action="append", default=None)
    parser.add_argument("--labelled-cases", type=int, action="append", default=None)
    args = parser.parse_args()
    print(
        f"{'judge bias':>10} {'labelled':>8} {'truth':>6} | {'corrected: cover':>16} {'width':>6} | "
        f"{'judge alone':>11} {'width':>6} | {'labels alone':>12} {'width':>6}"
    )
    for bias in args.judge_bias or [0.0, 0.6]:
        for labelled in args.labelled_cases or [10, 20, 40]:
            result = coverage(args.simulations, JudgedAuditDesign(judge_bias=bias, labelled_cases=labelled))
            print(
                f"{bias:>10.1f} {labelled:>5}/60 {result.truth:>6.3f} | {result.corrected:>16.1%} "
                f"{result.corrected_width:>6.3f} | {result.judge_alone:>11.1%} "
                f"{result.judge_alone_width:>6.3f} | "
                f"{result.labels_alone:>12.1%} {result.labels_alone_width:>6.3f}"
            )


if __name__ == "__main__":
    main()
