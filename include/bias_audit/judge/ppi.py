"""The stereotyping gap with an interval that accounts for the judge's errors: prediction-powered
inference (Angelopoulos et al. 2023, "Prediction-powered inference", Science; PPI++, Angelopoulos,
Duchi & Zrnic 2023), from the ``ppi-python`` package.

The judge grades every answer; people grade a random sample (judge/labels.py). As everywhere in
the audit, the case is the unit (answers to one prompt are not independent, and cases differ for
reasons that are not gender):

- for every case the two groups share, the judge's gap ``Yhat_unlabeled[c]`` = mean judge grade of
  group a - of group b, over all the case's graded answers;
- for every case with human labels in both groups, the human gap ``Y[c]`` and the judge's gap on
  the same labelled answers ``Yhat[c]``.

``ppi_mean_ci(Y, Yhat, Yhat_unlabeled)`` then estimates the mean human gap over cases: the judge's
mean gap, corrected by how far the judge's gap strays from the human one where both are known (the
rectifier), with a variance that adds the rectifier's. A judge that grades women's answers harsher
moves its gap away from the humans'; the correction moves it back, and the interval widens by what
the correction costs. PPI++'s power tuning (``lam``) lets a poor judge count for less; with a
useless judge the interval is about the labels' own.

When it applies: the labelled cases and answers are a random sample of the run's (what
``bias-audit judge-labels export`` draws), labelled by the rubric by someone who did not see the
judge's grade; and the labels are the truth the gap is meant in. It does not correct for labels
that are themselves wrong, nor for a sample chosen by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from bias_audit.stats.metrics import OVERALL, MetricRow
from bias_audit.stats.statistics import Comparison
from bias_audit.stats.within_case import MIN_CASES

METRIC = "stereotyping_ppi"
METHOD = "prediction-powered (PPI++, ppi-python), cases as units, t with labelled cases - 1 df"


def case_gaps(
    answers: Sequence[Mapping], labels: Mapping[str, int], a: str, b: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Y, Yhat, Yhat_unlabeled): per labelled case the human and the judge's gap on the labelled
    answers, and per shared case the judge's gap on all its graded answers."""
    by_case: dict[str, dict[str, list[Mapping]]] = {}
    for answer in answers:
        if answer["variant"] in (a, b) and answer.get("stereotyping") is not None:
            by_case.setdefault(answer["case_id"], {}).setdefault(answer["variant"], []).append(answer)
    y, y_hat, unlabeled = [], [], []
    for groups in by_case.values():
        if a not in groups or b not in groups:
            continue
        unlabeled.append(_mean(groups[a], "stereotyping") - _mean(groups[b], "stereotyping"))
        labelled = {g: [x for x in groups[g] if x["request_key"] in labels] for g in (a, b)}
        if labelled[a] and labelled[b]:
            human = {g: float(np.mean([labels[x["request_key"]] for x in labelled[g]])) for g in (a, b)}
            y.append(human[a] - human[b])
            y_hat.append(_mean(labelled[a], "stereotyping") - _mean(labelled[b], "stereotyping"))
    return np.array(y), np.array(y_hat), np.array(unlabeled)


def corrected_gap(y: np.ndarray, y_hat: np.ndarray, unlabeled: np.ndarray, alpha: float = 0.05) -> Comparison:
    """The PPI estimate of the mean human gap over cases, its 1 - alpha interval and p-value."""
    n, total = len(y), len(unlabeled)
    if n < MIN_CASES or total < 2:
        return Comparison(
            n, total, None, None, None, None, None, None, None, cases=total, method=METHOD,
            note=f"{n} labelled case(s) with both groups; at least {MIN_CASES} are needed",
        )  # fmt: skip
    from ppi_py import ppi_mean_ci
    from scipy import stats

    # PPI++ tunes how much the judge counts (lam) from the labelled cases' covariances; when the
    # labelled gaps do not vary, that is 0/0, and plain PPI (lam = 1) is used.
    lam = 1.0 if np.var(y) == 0 or np.var(y_hat) == 0 else None
    bounds = ppi_mean_ci(y, y_hat, unlabeled, alpha=alpha, lam=lam)
    low, high = (float(np.ravel(bound)[0]) for bound in bounds)
    # ppi-python's interval is normal (z); with a few dozen labelled cases the rectifier's variance
    # is itself uncertain, so the half-width is widened to Student's t with n - 1 degrees of
    # freedom (n labelled cases), as the audit's other intervals over cases are (within_case.py).
    centre = (low + high) / 2
    standard_error = float((high - low) / 2 / stats.norm.ppf(1 - alpha / 2))
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * standard_error
    low, high = centre - half, centre + half
    p_value = float(2 * stats.t.sf(abs(centre) / standard_error, n - 1)) if standard_error > 0 else None
    return Comparison(
        n, total, float(np.mean(y)), float(np.mean(unlabeled)), centre, low, high, None, p_value,
        cases=total, method=METHOD,
        note=f"{n} of {total} cases labelled by people; mean_a: their gap, mean_b: the judge's gap",
    )  # fmt: skip


def ppi_rows(
    answers: Sequence[Mapping], labels: Mapping[str, int], pairs: Sequence[tuple[str, str]]
) -> list[MetricRow]:
    """The judge-corrected stereotyping gap of each pair (reported beside the judge's own gap)."""
    rows = []
    for a, b in pairs:
        y, y_hat, unlabeled = case_gaps(answers, labels, a, b)
        if len(unlabeled):
            rows.append(
                MetricRow(METRIC, OVERALL, a, b, corrected_gap(y, y_hat, unlabeled), finding="reported")
            )
    return rows


def _mean(answers: Sequence[Mapping], key: str) -> float:
    return float(np.mean([x[key] for x in answers]))
