"""Statistics for comparing two groups of answers, with the edge cases defined.

All functions take plain sequences of numbers (one value per answer) and are deterministic for a
given ``seed``. Every estimate comes with its sample sizes; too few samples give ``None`` for the
interval and the p-value ("no evidence"), never a confident number.

- ``mean_difference``: d = mean(a) - mean(b).
- ``bootstrap_ci``: percentile bootstrap (Efron & Tibshirani 1993, ch. 13) of d: resample each
  group with replacement ``resamples`` times, take the (alpha/2, 1 - alpha/2) quantiles of d*.
- ``permutation_p_value``: two-sided permutation test of "no difference" (Good 2005): the share
  of random relabelings of the pooled values whose |d| is at least the observed |d|, with the
  +1 correction of Phipson & Smyth (2010) so that p is never 0.
- ``cohens_d``: effect size d / pooled standard deviation (Cohen 1988); 0 when both groups are
  constant and equal, None when the pooled deviation is 0 but the means differ.
- ``compare_to_zero``: the skew p(+1) - p(-1) of one group against 0 (Newcombe-style CI,
  sign-flip permutation test).
- ``newcombe_ci``: CI of a difference of two proportions from their Wilson score intervals
  (Newcombe 1998, method 10). Used for rates (0/1 values), where the bootstrap degenerates: 0 of
  10 refusals in both groups gives a bootstrap CI of [0, 0], but Newcombe's [-0.28, 0.28] says
  honestly that 10 answers cannot rule out a gap.
- Large samples (both groups >= ``LARGE_SAMPLE``): the bootstrap and permutation distributions are
  then normal to within resampling noise, so ``compare`` uses Welch's normal approximation — CI
  d +- 1.96 x sqrt(s_a^2/n_a + s_b^2/n_b), two-sided p = erfc(|z| / sqrt 2) — which costs O(n)
  instead of O(resamples x n log n) and keeps a million-answer run to seconds.
- ``benjamini_hochberg``: adjusted p-values controlling the false discovery rate (Benjamini &
  Hochberg 1995): p_(i) x m / i, made monotone from the largest rank down, capped at 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_SAMPLES = 5  # per group; below this a comparison is "no evidence"
LARGE_SAMPLE = 2000  # per group; from here on, Welch's normal approximation


@dataclass(frozen=True)
class Comparison:
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    effect_size: float | None
    p_value: float | None
    cases: int | None = None  # cases behind a pooled comparison (within_case.py); None: per answer
    method: str = ""  # how the interval and p were computed
    note: str | None = None  # why there is no interval, when there is none
    se: float | None = None  # the standard error behind a normal interval (per-case rows, per_case.py)

    @property
    def enough(self) -> bool:
        return self.ci_low is not None and self.p_value is not None


def wilson_interval(successes: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion (Wilson 1927)."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def t_interval(values: Sequence[float], alpha: float = 0.05) -> tuple[float, float, float]:
    """The mean of ``values`` and its 1 - alpha Student's t interval: (mean, low, high)."""
    from scipy import stats

    array = np.asarray(values, dtype=float)
    mean = float(array.mean())
    half = (
        float(stats.t.ppf(1 - alpha / 2, len(array) - 1)) * float(array.std(ddof=1)) / math.sqrt(len(array))
    )
    return mean, mean - half, mean + half


def newcombe_ci(p_a: float, n_a: int, p_b: float, n_b: int) -> tuple[float, float]:
    """95 % CI of p_a - p_b (Newcombe 1998, method 10: hybrid of the two Wilson intervals)."""
    low_a, high_a = wilson_interval(p_a * n_a, n_a)
    low_b, high_b = wilson_interval(p_b * n_b, n_b)
    diff = p_a - p_b
    return (
        float(diff - np.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)),
        float(diff + np.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)),
    )


def is_binary(values: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def mean_difference(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) == 0 or len(b) == 0:
        return None
    return float(np.mean(a) - np.mean(b))


def bootstrap_ci(
    a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        return None
    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    means_a = xa[rng.integers(0, len(xa), size=(resamples, len(xa)))].mean(axis=1)
    means_b = xb[rng.integers(0, len(xb), size=(resamples, len(xb)))].mean(axis=1)
    low, high = np.quantile(means_a - means_b, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def permutation_p_value(
    a: Sequence[float], b: Sequence[float], *, permutations: int = 2000, seed: int = 0
) -> float | None:
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        return None
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([np.asarray(a, dtype=float), np.asarray(b, dtype=float)])
    observed = abs(pooled[: len(a)].mean() - pooled[len(a) :].mean())
    # Each row a random relabeling: argsort of uniform noise gives a permutation per row.
    order = np.argsort(rng.random((permutations, len(pooled))), axis=1)
    shuffled = pooled[order]
    diffs = np.abs(shuffled[:, : len(a)].mean(axis=1) - shuffled[:, len(a) :].mean(axis=1))
    extreme = int(np.sum(diffs >= observed - 1e-12))
    return (extreme + 1) / (permutations + 1)


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    pooled_var = ((len(xa) - 1) * xa.var(ddof=1) + (len(xb) - 1) * xb.var(ddof=1)) / (len(xa) + len(xb) - 2)
    diff = xa.mean() - xb.mean()
    if pooled_var == 0:
        return 0.0 if diff == 0 else None
    return float(diff / np.sqrt(pooled_var))


def compare(a: Sequence[float], b: Sequence[float], *, seed: int = 0) -> Comparison:
    """Everything a reported difference needs: sizes, means, difference, CI, effect size, p.
    Rates (all values 0 or 1) get Newcombe's interval, other values the bootstrap."""
    if min(len(a), len(b)) >= LARGE_SAMPLE:
        ci, p_value = welch_normal(a, b)
        method = "per answer, Welch normal"
    elif len(a) >= MIN_SAMPLES and len(b) >= MIN_SAMPLES and is_binary(a) and is_binary(b):
        ci = newcombe_ci(float(np.mean(a)), len(a), float(np.mean(b)), len(b))
        p_value = permutation_p_value(a, b, seed=seed)
        method = "per answer, Newcombe + permutation"
    else:
        ci = bootstrap_ci(a, b, seed=seed)
        p_value = permutation_p_value(a, b, seed=seed)
        method = "per answer, bootstrap + permutation"
    return Comparison(
        n_a=len(a),
        n_b=len(b),
        mean_a=float(np.mean(a)) if len(a) else None,
        mean_b=float(np.mean(b)) if len(b) else None,
        difference=mean_difference(a, b),
        ci_low=ci[0] if ci else None,
        ci_high=ci[1] if ci else None,
        effect_size=cohens_d(a, b),
        p_value=p_value,
        method=method,
        note=None if ci else f"fewer than {MIN_SAMPLES} answers in a group",
    )


def welch_normal(a: Sequence[float], b: Sequence[float]) -> tuple[tuple[float, float], float]:
    """Normal-approximation CI and two-sided p of mean(a) - mean(b) for large samples."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(xa.mean() - xb.mean())
    se = float(np.sqrt(xa.var(ddof=1) / len(xa) + xb.var(ddof=1) / len(xb)))
    if se == 0:
        return (diff, diff), (1.0 if diff == 0 else 0.0)
    return (diff - 1.959964 * se, diff + 1.959964 * se), math.erfc(abs(diff / se) / math.sqrt(2))


def compare_to_zero(values: Sequence[float], *, seed: int = 0, resamples: int = 2000) -> Comparison:
    """One sample of values in {-1, 0, 1} against 0: the mean is p(+1) - p(-1); its CI combines the
    two shares' Wilson intervals as Newcombe does (treating them as independent, an approximation),
    and a two-sided sign-flip permutation test of "mean 0" gives p."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else None
    method = "per answer, Newcombe + sign-flip"
    if n < MIN_SAMPLES:
        note = f"fewer than {MIN_SAMPLES} answers"
        return Comparison(n, 0, mean, 0.0, mean, None, None, None, None, method=method, note=note)
    low, high = newcombe_ci(float(np.mean(x == 1)), n, float(np.mean(x == -1)), n)
    sd = x.std(ddof=1)
    effect = (0.0 if mean == 0 else None) if sd == 0 else float(mean / sd)
    if n >= LARGE_SAMPLE:  # normal approximation of the sign-flip distribution
        p_value = 1.0 if sd == 0 else math.erfc(abs(mean) / (sd / math.sqrt(n)) / math.sqrt(2))
    else:
        signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(resamples, n))
        extreme = int(np.sum(np.abs((signs * x).mean(axis=1)) >= abs(x.mean()) - 1e-12))
        p_value = (extreme + 1) / (resamples + 1)
    return Comparison(n, 0, mean, 0.0, mean, float(low), float(high), effect, p_value, method=method)


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float | None]:
    """BH-adjusted p-values, in the input order; None stays None and is not counted."""
    indexed = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if not indexed:
        return adjusted
    indexed.sort()
    m = len(indexed)
    running = 1.0
    for rank in range(m, 0, -1):
        p, i = indexed[rank - 1]
        running = min(running, p * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted
