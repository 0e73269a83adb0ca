"""Synthetic runs for the validity of the judge-corrected interval (ppi.py): answers with case
effects, a true (human) gap, and a judge that grades one group's answers harsher. Used by the tests
and by benchmarks/judge_validity.py, which prints the figures docs/judge.md quotes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bias_audit.judge.ppi import case_gaps, corrected_gap
from bias_audit.stats.statistics import t_interval

GROUPS = ("female", "male")


@dataclass(frozen=True)
class JudgedAuditDesign:
    cases: int = 60
    answers: int = 6  # per group and case
    gap: float = 0.4  # female - male, on the latent scale the grades are rounded from
    judge_bias: float = 0.6  # added to the judge's latent grade of women's answers
    case_mean: float = 0.8
    case_sd: float = 0.5
    answer_sd: float = 0.7
    judge_sd: float = 0.5  # the judge's own noise
    labelled_cases: int = 20
    labelled_answers: int = 2  # per group and labelled case


def simulated_run(
    rng: np.random.Generator, design: JudgedAuditDesign = JudgedAuditDesign()
) -> tuple[list[dict], dict[str, int]]:
    """The judge's grade of every answer (rows) and every answer's human grade (labels)."""
    rows, labels = [], {}
    for case in range(design.cases):
        effect = rng.normal(design.case_mean, design.case_sd)
        for variant in GROUPS:
            shift = design.gap if variant == "female" else 0.0
            bias = design.judge_bias if variant == "female" else 0.0
            for index in range(design.answers):
                latent = effect + shift + rng.normal(0, design.answer_sd)
                key = f"{case}-{variant}-{index}"
                judged = float(np.clip(np.rint(latent + bias + rng.normal(0, design.judge_sd)), 0, 3))
                rows.append(
                    {"request_key": key, "case_id": f"c{case}", "variant": variant, "stereotyping": judged}
                )
                labels[key] = int(np.clip(np.rint(latent), 0, 3))
    return rows, labels


def human_gap_truth(design: JudgedAuditDesign = JudgedAuditDesign(), draws: int = 400_000) -> float:
    """The mean within-case human gap of the design, by simulating many cases."""
    rng = np.random.default_rng(12345)
    effect = rng.normal(design.case_mean, design.case_sd, draws)
    female = np.clip(np.rint(effect + design.gap + rng.normal(0, design.answer_sd, draws)), 0, 3)
    male = np.clip(np.rint(effect + rng.normal(0, design.answer_sd, draws)), 0, 3)
    return float(np.mean(female - male))


def sample_labels(
    rng: np.random.Generator, labels: dict[str, int], design: JudgedAuditDesign = JudgedAuditDesign()
) -> dict[str, int]:
    """What people label: a random set of cases, a few random answers of each group in each."""
    chosen = {}
    for case in rng.choice(design.cases, design.labelled_cases, replace=False):
        for variant in GROUPS:
            for index in rng.choice(design.answers, design.labelled_answers, replace=False):
                key = f"{case}-{variant}-{index}"
                chosen[key] = labels[key]
    return chosen


@dataclass(frozen=True)
class Coverage:
    truth: float
    simulations: int
    corrected: float  # share of PPI intervals that cover the truth
    corrected_width: float
    judge_alone: float  # the judge's within-case interval over cases, ignoring its errors
    judge_alone_width: float
    labels_alone: float  # a t interval over the labelled cases' human gaps only
    labels_alone_width: float


def coverage(
    simulations: int = 200, design: JudgedAuditDesign = JudgedAuditDesign(), seed: int = 7
) -> Coverage:
    truth = human_gap_truth(design)
    rng = np.random.default_rng(seed)
    hits = {"corrected": 0, "judge": 0, "labels": 0}
    widths: dict[str, list[float]] = {"corrected": [], "judge": [], "labels": []}
    for _ in range(simulations):
        rows, labels = simulated_run(rng, design)
        y, y_hat, unlabeled = case_gaps(rows, sample_labels(rng, labels, design), "female", "male")
        result = corrected_gap(y, y_hat, unlabeled)
        intervals = {
            "corrected": (result.ci_low, result.ci_high),
            "judge": t_interval(unlabeled)[1:],
            "labels": t_interval(y)[1:],
        }
        for name, (low, high) in intervals.items():
            hits[name] += low <= truth <= high
            widths[name].append(high - low)
    return Coverage(
        truth, simulations,
        hits["corrected"] / simulations, float(np.mean(widths["corrected"])),
        hits["judge"] / simulations, float(np.mean(widths["judge"])),
        hits["labels"] / simulations, float(np.mean(widths["labels"])),
    )  # fmt: skip
