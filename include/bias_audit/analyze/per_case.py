"""Gaps in the prompts audited: one case's answers, group against group — the verdict's scope
"these prompts", beside the pooled gaps of within_case.py ("beyond them").

Question: does the model treat the groups differently *in this case* (the female doctor against
the doctor)? Conditional on the case, its answers at temperature > 0 are draws from fixed
distributions, so the answer is the unit of sampling and a glaring gap is settled by one case
(5 of 5 refusals against 0 of 60), where the pooled gap needs several cases to generalise.

What one case cannot separate is the group from the *wording*: each group has one prompt in the
case, and any two wordings differ a little ("Describe a female doctor." is not "Describe a
doctor." with a gender added). The phrasing is the unit of the comparison, so the variance of a
gap between two phrasings enters the interval: a case shows a gap only where it is larger than
rewording alone makes it.

    (1) d     = mean_a - mean_b                                   (the case's gap)
    (2) v_ans = s_a^2/n_a + s_b^2/n_b                             (continuous: Welch)
              = p~_a(1-p~_a)/(n_a+2) + p~_b(1-p~_b)/(n_b+2)       (rates: Agresti & Caffo 2000,
                                                                   p~ = (successes+1)/(n+2))
    (3) v_phr = 2 sigma^2                                          (continuous: two phrasings)
              = 2 (q(1-q) sigma)^2,  q = the p~ nearer 0 or 1     (rates: sigma in logits, the
                                                                   delta method at the base rate)
    (4) SE    = sqrt(v_ans + v_phr);  CI = d +- z_{1-alpha/2} SE  (normal; rates clipped to [-1, 1])
    (5) p     = 2 Phi(-|d| / SE)                                   (no gap at all)
    (6) p_w   = 2 Phi(-(|d| - w) / SE) if |d| > w, else 1          (a gap no larger than w)

sigma is the metric's phrasing spread: each metric's ``calibration.prompt_sd`` in the metric
registry, the size ``bias-audit calibrate`` draws its prompt effects from (measured on real runs
with ``estimate_variation``). (6) tests the null "|gap| <= w" at its boundary; with the run's
per-case rows adjusted together by Benjamini-Hochberg (metrics.judge), a fair model — every case's
gap inside its warn band — makes a per-case row warn in at most alpha of runs (all nulls true:
the false discovery rate is the family-wise rate). For rates, q(1-q) is taken at the group whose
rate is nearer 0 or 1: under the null the two rates are within w of each other and it makes no
difference; under a gap it is the base rate the wording moves (calibrate's model).

Edge cases: fewer than ``MIN_SAMPLES`` answers in a group give no interval and no p (no evidence);
SE = 0 (constant, equal answers and no phrasing spread) gives the point as its interval.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import special

from bias_audit.analyze.statistics import MIN_SAMPLES, Comparison

METHOD = "per case: answers + phrasing spread, normal"
_Z95 = 1.959964


@dataclass(frozen=True)
class GroupAnswers:
    """One group's answers in one case: count, mean and sample variance (ddof 1; 0 for n < 2)."""

    n: int
    mean: float
    variance: float

    @classmethod
    def of(cls, values: list[float]) -> GroupAnswers:
        n = len(values)
        mean = sum(values) / n if n else 0.0
        variance = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, variance)


def case_gap(
    a: GroupAnswers,
    b: GroupAnswers,
    *,
    rates: bool,
    phrasing_sd: float,
    alpha: float = 0.05,
    effect_size: float | None = None,
) -> Comparison:
    """Group a against group b in one case (formulas 1-5). ``phrasing_sd``: sigma of (3), in the
    metric's units (logits for rates)."""
    base = dict(
        n_a=a.n,
        n_b=b.n,
        mean_a=a.mean if a.n else None,
        mean_b=b.mean if b.n else None,
        difference=a.mean - b.mean if a.n and b.n else None,
        effect_size=effect_size,
        method=METHOD,
    )
    if min(a.n, b.n) < MIN_SAMPLES:
        note = f"fewer than {MIN_SAMPLES} answers in a group"
        return Comparison(ci_low=None, ci_high=None, p_value=None, note=note, **base)
    d = a.mean - b.mean
    se = math.sqrt(answer_variance(a, b, rates) + phrasing_variance(a, b, rates, phrasing_sd))
    if se == 0:
        return Comparison(ci_low=d, ci_high=d, p_value=1.0 if d == 0 else 0.0, se=0.0, **base)
    half = _z(alpha) * se
    low, high = d - half, d + half
    if rates:
        low, high = max(low, -1.0), min(high, 1.0)
    return Comparison(ci_low=low, ci_high=high, p_value=_two_sided(abs(d) / se), se=se, **base)


def answer_variance(a: GroupAnswers, b: GroupAnswers, rates: bool) -> float:
    """Formula (2)."""
    if rates:
        return sum(_adjusted(g) * (1 - _adjusted(g)) / (g.n + 2) for g in (a, b))
    return a.variance / a.n + b.variance / b.n


def phrasing_variance(a: GroupAnswers, b: GroupAnswers, rates: bool, sd: float) -> float:
    """Formula (3)."""
    if rates:
        slope = min(_adjusted(g) * (1 - _adjusted(g)) for g in (a, b))
        return 2 * (slope * sd) ** 2
    return 2 * sd**2


def beyond(comparison: Comparison, threshold: float) -> float | None:
    """Formula (6): the p-value of "the gap is at most ``threshold`` either way"; None without an
    interval."""
    c = comparison
    if c.difference is None or c.se is None or c.p_value is None:
        return None
    excess = abs(c.difference) - threshold
    if excess <= 0:
        return 1.0
    return 0.0 if c.se == 0 else min(1.0, _two_sided(excess / c.se))


def _adjusted(group: GroupAnswers) -> float:
    return (group.mean * group.n + 1) / (group.n + 2)


@functools.cache
def _z(alpha: float) -> float:
    return _Z95 if alpha == 0.05 else NormalDist().inv_cdf(1 - alpha / 2)


def _two_sided(z: float) -> float:
    return math.erfc(z / math.sqrt(2))


def case_change(
    before: tuple[GroupAnswers, GroupAnswers],
    after: tuple[GroupAnswers, GroupAnswers],
    *,
    rates: bool,
    alpha: float = 0.05,
) -> Comparison:
    """How one case's gap changed between two audits of the same prompts: the candidate's gap
    (``after``: groups a, b) minus the baseline's (``before``), each audit's answers independent.
    Both audits asked the same wording, so the phrasing's effect is in both gaps and cancels: the
    variance is the two audits' answer variances (2) alone, and a change is tested against 0."""
    (a0, b0), (a1, b1) = before, after
    base = dict(
        n_a=a1.n + b1.n,
        n_b=a0.n + b0.n,
        mean_a=a1.mean - b1.mean if a1.n and b1.n else None,
        mean_b=a0.mean - b0.mean if a0.n and b0.n else None,
        effect_size=None,
        method="per case: change of the gap, answers of both audits, normal",
    )
    if min(a0.n, b0.n, a1.n, b1.n) < MIN_SAMPLES:
        note = f"fewer than {MIN_SAMPLES} answers in a group of one audit"
        return Comparison(difference=None, ci_low=None, ci_high=None, p_value=None, note=note, **base)
    d = (a1.mean - b1.mean) - (a0.mean - b0.mean)
    se = math.sqrt(answer_variance(a0, b0, rates) + answer_variance(a1, b1, rates))
    if se == 0:
        return Comparison(difference=d, ci_low=d, ci_high=d, p_value=1.0 if d == 0 else 0.0, se=0.0, **base)
    half = _z(alpha) * se
    return Comparison(
        difference=d, ci_low=d - half, ci_high=d + half, p_value=_two_sided(abs(d) / se), se=se, **base
    )


def case_gaps(
    n_a: np.ndarray,
    mean_a: np.ndarray,
    var_a: np.ndarray,
    n_b: np.ndarray,
    mean_b: np.ndarray,
    var_b: np.ndarray,
    *,
    rates: bool,
    phrasing_sd: float,
    alpha: float = 0.05,
) -> list[Comparison]:
    """``case_gap`` of many cases at once, from arrays (calibrate's synthetic runs: thousands of
    per-case rows per look). The same formulas; a test holds the two equal."""
    d = mean_a - mean_b
    if rates:
        qa, qb = (mean_a * n_a + 1) / (n_a + 2), (mean_b * n_b + 1) / (n_b + 2)
        answers = qa * (1 - qa) / (n_a + 2) + qb * (1 - qb) / (n_b + 2)
        phrasing = 2 * (np.minimum(qa * (1 - qa), qb * (1 - qb)) * phrasing_sd) ** 2
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            answers = var_a / n_a + var_b / n_b
        phrasing = np.full(len(d), 2 * phrasing_sd**2)
    se = np.sqrt(answers + phrasing)
    half = _z(alpha) * se
    low, high = d - half, d + half
    if rates:
        low, high = np.maximum(low, -1.0), np.minimum(high, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, special.erfc(np.abs(d) / se / math.sqrt(2)), np.where(d == 0, 1.0, 0.0))
    enough = np.minimum(n_a, n_b) >= MIN_SAMPLES
    return [
        Comparison(
            int(na), int(nb), float(ma), float(mb), float(diff),
            float(lo), float(hi), None, float(pv), method=METHOD, se=float(s),
        )
        if ok
        else Comparison(
            int(na), int(nb), float(ma), float(mb), float(diff), None, None, None, None,
            method=METHOD, note=f"fewer than {MIN_SAMPLES} answers in a group",
        )
        for na, nb, ma, mb, diff, lo, hi, pv, s, ok in zip(
            n_a, n_b, mean_a, mean_b, d, low, high, p, se, enough, strict=True
        )
    ]  # fmt: skip
