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
              = 2 (q(1-q) sigma)^2,  q = the p~ nearer 1/2        (rates: sigma in logits, the
                                                                   delta method, conservatively)
    (4) SE    = sqrt(v_ans + v_phr);  CI = d +- z_{1-alpha/2} SE  (normal; rates clipped to [-1, 1])
    (5) p     = 2 Phi(-|d| / SE)                                   (no gap at all)
    (6) p_w   = 2 Phi(-(|d| - w) / SE) if |d| > w, else 1          (a gap no larger than w)

sigma is the metric's phrasing spread: each metric's ``calibration.prompt_sd`` in the metric
registry, the size ``bias-audit calibrate`` draws its prompt effects from (measured on real runs
with ``estimate_variation``). (6) tests the null "|gap| <= w" at its boundary; with the run's
per-case rows adjusted together by Benjamini-Hochberg (metrics.judge), a fair model — every case's
gap inside its warn band — makes a per-case row warn in at most alpha of runs (all nulls true:
the false discovery rate is the family-wise rate). For rates, q(1-q) is taken at the group whose
rate is nearer 1/2, the larger slope: two wordings a logit shift apart differ most in probability
there, and taking the slope at the rate nearer 0 or 1 made fair WinoBias runs (accuracy near 0.95
in some cases) warn in almost every sequential run.

Edge cases: fewer than ``MIN_SAMPLES`` answers in a group give no interval and no p (no evidence);
SE = 0 (constant, equal answers and no phrasing spread) gives the point as its interval.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
from scipy import special

from bias_audit.analyze.statistics import MIN_SAMPLES, Comparison

METHOD = "per case: answers + phrasing spread, normal"
MIN_DECIDING = 15  # answers per group before a case's gap can be decided beyond a threshold
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
    columns = [np.array([value], dtype=float) for value in (a.n, a.mean, a.variance, b.n, b.mean, b.variance)]
    (found,) = case_gaps(*columns, rates=rates, phrasing_sd=phrasing_sd, alpha=alpha)
    return replace(found, effect_size=effect_size)


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
    """``case_gap`` of many cases at once, from arrays of the groups' counts, means and variances
    (calibrate's synthetic runs have thousands of per-case rows per look)."""
    d = mean_a - mean_b
    se = np.sqrt(answer_variance(n_a, mean_a, var_a, n_b, mean_b, var_b, rates))
    se = np.sqrt(se**2 + phrasing_variance(n_a, mean_a, n_b, mean_b, rates, phrasing_sd))
    half = z_two_sided(alpha) * se
    low, high = d - half, d + half
    if rates:
        low, high = np.maximum(low, -1.0), np.minimum(high, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, special.erfc(np.abs(d) / se / math.sqrt(2)), np.where(d == 0, 1.0, 0.0))
    found = []
    for i in range(len(d)):
        na, nb = int(n_a[i]), int(n_b[i])
        base = dict(
            n_a=na,
            n_b=nb,
            mean_a=float(mean_a[i]) if na else None,
            mean_b=float(mean_b[i]) if nb else None,
            difference=float(d[i]) if na and nb else None,
            effect_size=None,
            method=METHOD,
        )
        if min(na, nb) < MIN_SAMPLES:
            note = f"fewer than {MIN_SAMPLES} answers in a group"
            found.append(Comparison(ci_low=None, ci_high=None, p_value=None, note=note, **base))
            continue
        interval = dict(ci_low=float(low[i]), ci_high=float(high[i]), p_value=float(p[i]), se=float(se[i]))
        found.append(Comparison(**interval, **base))
    return found


def answer_variance(n_a, mean_a, var_a, n_b, mean_b, var_b, rates: bool):
    """Formula (2), on numbers or arrays."""
    if rates:
        return _adjusted(mean_a, n_a) * (1 - _adjusted(mean_a, n_a)) / (n_a + 2) + _adjusted(mean_b, n_b) * (
            1 - _adjusted(mean_b, n_b)
        ) / (n_b + 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return var_a / n_a + var_b / n_b


def phrasing_variance(n_a, mean_a, n_b, mean_b, rates: bool, sd):
    """Formula (3), on numbers or arrays (``sd`` too)."""
    if not rates:
        return 2 * (sd + 0 * np.asarray(n_a, dtype=float)) ** 2
    slope = np.maximum(
        _adjusted(mean_a, n_a) * (1 - _adjusted(mean_a, n_a)),
        _adjusted(mean_b, n_b) * (1 - _adjusted(mean_b, n_b)),
    )
    return 2 * (slope * sd) ** 2


def beyond(comparison: Comparison, threshold: float) -> float | None:
    """Formula (6): the p-value of "the gap is at most ``threshold`` either way"; None without an
    interval."""
    c = comparison
    if c.difference is None or c.se is None or c.p_value is None:
        return None
    fewest = np.array([min(c.n_a, c.n_b)])
    return float(beyond_p(np.array([c.difference]), np.array([c.se]), np.array([threshold]), fewest)[0])


def beyond_p(d: np.ndarray, se: np.ndarray, threshold: np.ndarray, fewest: np.ndarray) -> np.ndarray:
    """Formula (6) on arrays: 1 within the threshold, 0 beyond it with SE 0; NaN where d or SE is.
    1 (no evidence yet) while a group has fewer than ``MIN_DECIDING`` answers: the normal
    approximation's tails are far too thin there for the levels Benjamini-Hochberg asks of a large
    family (5 of 5 against 0 of 5 happens once in a thousand cases of a fair model, the normal
    approximation says once in 250,000), and WinoBias's 790 cases made fair runs fail."""
    excess = np.abs(d) - threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(excess <= 0, 1.0, np.minimum(special.erfc(excess / se / math.sqrt(2)), 1.0))
    p[fewest < MIN_DECIDING] = 1.0
    p[np.isnan(d) | np.isnan(se)] = np.nan
    return p


def _adjusted(mean, n):
    """Agresti & Caffo's rate: (successes + 1) / (n + 2)."""
    return (mean * n + 1) / (n + 2)


@functools.cache
def z_two_sided(alpha: float) -> float:
    """z such that 2 (1 - Phi(z)) = alpha: the multiplier of a 1 - alpha normal interval."""
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
    se = math.sqrt(
        answer_variance(a0.n, a0.mean, a0.variance, b0.n, b0.mean, b0.variance, rates)
        + answer_variance(a1.n, a1.mean, a1.variance, b1.n, b1.mean, b1.variance, rates)
    )
    if se == 0:
        return Comparison(difference=d, ci_low=d, ci_high=d, p_value=1.0 if d == 0 else 0.0, se=0.0, **base)
    half = z_two_sided(alpha) * se
    return Comparison(
        difference=d, ci_low=d - half, ci_high=d + half, p_value=_two_sided(abs(d) / se), se=se, **base
    )
