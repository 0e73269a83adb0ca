"""Gaps estimated within each case and pooled over cases, with the case as the unit of uncertainty.

Why: answers to one prompt are not independent draws of "the model's behaviour towards women" —
they share the prompt's wording and topic — and cases differ for reasons that are not gender (a
doctor's description is longer than a chef's). Pooling every female answer against every male
answer measures the occupations whenever the groups are spread unevenly over cases, and treating
answers as independent makes intervals too narrow whenever prompts differ (they always do).

Estimand (``pooled_gap``): the average over the cases both groups share of the within-case gap

    (1) d_c = mean(a answers in case c) - mean(b answers in case c)
    (2) D   = (1/C) sum_c d_c                      (equal case weights: "the average case")

A case is compared only with itself (a female engineer with a male engineer or with "an
engineer"); cases that lack either group do not enter, and groups that share no case are *not
estimable*. The same holds for one group against a fixed value (``pooled_level``, the default-gender
skew of neutral answers against 0): d_c is then the case's mean.

Uncertainty: the C case gaps are treated as a sample of cases — the analysis of cluster-level
summaries (Hayes & Moulton 2017, *Cluster Randomised Trials*, 2nd ed., ch. 9), which holds with
few clusters when the summaries are roughly normal. Their spread contains all three sources of
variation — per-answer noise, the wording of each prompt, and true differences of the gap
between cases — without modelling them one by one:

    (3) V_emp   = var(d_c) / C                     (sample variance over cases, ddof 1)
    (4) V_floor = (1/C^2) sum_c v_c                (sampling variance of the answers alone)
    (5) SE      = sqrt(max(V_emp, V_floor))
    (6) CI      = D +- t_{C-1, 1-alpha/2} * SE,    p = 2 * P(T_{C-1} > |D| / SE)

(5) is the truncation Röver, Knapp & Friede (2015, BMC Med Res Methodol 15:99) recommend for the
Hartung-Knapp-Sidik-Jonkman interval: with few cases the observed spread can be by chance smaller
than the answers' own noise (five cases with 0 refusals each give var(d_c) = 0), and the interval
must not be narrower than that noise allows. v_c, the sampling variance of d_c:

- continuous values: s_w^2 (1/n_ca + 1/n_cb), with s_w^2 the within-prompt variance pooled over
  every prompt of the comparison (stable even at 2 answers per prompt); no floor when no prompt
  has two answers;
- rates (0/1 values): Agresti & Caffo (2000) — one success and one failure added to each group —
  p~(1-p~)/(n+2) per group, so that 0 of 5 is not read as "exactly 0";
- the skew (values -1, 0, +1 of one group): the multinomial variance of p(+1) - p(-1) with one
  pseudo-answer added to each of +1 and -1: (p~+ + p~- - (p~+ - p~-)^2) / (n+2).

When it degrades: the t multiplier grows fast as cases get few (4.30 at 3 cases, 2.78 at 5, 2.26
at 10, 2.01 at 50), and with fewer than ~10 cases the interval leans on the case gaps being
roughly normal. Below ``MIN_CASES`` cases no interval is given at all ("not enough cases" —
inconclusive, never a confident number). ``bias-audit calibrate`` measures the resulting false
alarms and power on synthetic runs with case and prompt effects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from bias_audit.stats.statistics import MIN_SAMPLES, Comparison, is_binary

MIN_CASES = 3  # below this, a pooled comparison gets no interval and no p-value
METHOD = "within-case, t over cases"


@dataclass(frozen=True)
class CaseSummaries:
    """Per shared case (arrays of equal length): answers and means of both groups, and the
    sampling variance of the case's gap from the answers alone (``None``: unknown)."""

    n_a: np.ndarray
    n_b: np.ndarray
    mean_a: np.ndarray
    mean_b: np.ndarray
    variance: np.ndarray | None
    within_variance: float | None  # pooled within-prompt variance, for the effect size
    case_ids: tuple[str, ...] = ()

    def gaps(self) -> dict[str, tuple[float, float | None]]:
        """Per case: its gap (mean_a - mean_b) and the gap's sampling variance."""
        variance = [None] * len(self.n_a) if self.variance is None else list(self.variance)
        return {
            case: (float(a - b), None if v is None else float(v))
            for case, a, b, v in zip(self.case_ids, self.mean_a, self.mean_b, variance, strict=True)
        }


def pooled_gap(
    a_by_case: Mapping[str, Sequence[float]],
    b_by_case: Mapping[str, Sequence[float]],
    *,
    alpha: float = 0.05,
    labels: tuple[str, str] = ("a", "b"),
) -> Comparison:
    """Group a against group b, within each shared case and pooled over cases (formulas 1-6).
    ``labels``: the groups' names, for the reason when they share no case."""
    summaries = case_summaries(a_by_case, b_by_case)
    if summaries is None:
        return _not_estimable(a_by_case, b_by_case, labels)
    return pool(summaries, alpha=alpha)


def case_summaries(
    a_by_case: Mapping[str, Sequence[float]], b_by_case: Mapping[str, Sequence[float]]
) -> CaseSummaries | None:
    """Per case both groups share: answers, means and the gap's sampling variance (formula 4's
    v_c); None when they share no case."""
    shared = sorted(c for c in a_by_case if len(a_by_case[c]) and len(b_by_case.get(c, ())))
    if not shared:
        return None
    a = [np.asarray(a_by_case[c], dtype=float) for c in shared]
    b = [np.asarray(b_by_case[c], dtype=float) for c in shared]
    return gap_summaries(
        np.array([len(x) for x in a]),
        np.array([len(x) for x in b]),
        np.array([x.mean() for x in a]),
        np.array([x.mean() for x in b]),
        sum(((x - x.mean()) ** 2).sum() for x in (*a, *b)),
        rates=all(is_binary(x) for x in (*a, *b)),
        case_ids=tuple(shared),
    )


def gap_summaries(
    n_a: np.ndarray,
    n_b: np.ndarray,
    mean_a: np.ndarray,
    mean_b: np.ndarray,
    sum_of_squares: float,
    *,
    rates: bool,
    case_ids: tuple[str, ...] = (),
) -> CaseSummaries:
    """Per-case summaries from counts, means and the within-prompt sum of squared deviations of
    both groups: the one place the gaps' sampling variances v_c are computed (formula 4)."""
    within = pooled_within_variance(sum_of_squares, int((n_a - 1).sum() + (n_b - 1).sum()))
    if rates:
        variance = rate_variance(mean_a, n_a) + rate_variance(mean_b, n_b)
    else:
        variance = None if within is None else within * (1 / n_a + 1 / n_b)
    return CaseSummaries(n_a, n_b, mean_a, mean_b, variance, within, case_ids)


def pooled_level(
    by_case: Mapping[str, Sequence[float]], *, alpha: float = 0.05, continuous: bool = False
) -> Comparison:
    """One group's values in {-1, 0, +1} (the skew; a rate's 0 and 1) against 0, per case and
    pooled over cases; ``continuous``: any values, their mean (a ranking's ratio to the fair share)."""
    summaries = level_summaries(by_case, continuous=continuous)
    if summaries is None:
        return Comparison(0, 0, None, 0.0, None, None, None, None, None, cases=0, method=METHOD)
    return pool(summaries, alpha=alpha, one_group=True)


def level_summaries(
    by_case: Mapping[str, Sequence[float]], *, continuous: bool = False
) -> CaseSummaries | None:
    """Per case: the skew's level p(+1) - p(-1) as the case's "gap" against 0 (``continuous``: the
    values' mean, its variance from the pooled within-case variance); None without answers."""
    cases = sorted(c for c in by_case if len(by_case[c]))
    if not cases:
        return None
    x = [np.asarray(by_case[c], dtype=float) for c in cases]
    n = np.array([len(v) for v in x])
    sum_of_squares = sum(((v - v.mean()) ** 2).sum() for v in x)
    if not continuous:
        plus = np.array([np.sum(v == 1) for v in x])
        minus = np.array([np.sum(v == -1) for v in x])
        return skew_summaries(n, plus, minus, sum_of_squares, tuple(cases))
    zeros = np.zeros(len(n))
    within = pooled_within_variance(sum_of_squares, int((n - 1).sum()))
    variance = None if within is None else within / n
    means = np.array([v.mean() for v in x])
    return CaseSummaries(n, zeros.astype(int), means, zeros, variance, within, tuple(cases))


def skew_summaries(
    n: np.ndarray, plus: np.ndarray, minus: np.ndarray, sum_of_squares: float, case_ids: tuple[str, ...] = ()
) -> CaseSummaries:
    """Per case: n answers of which ``plus`` assume male, ``minus`` female; the level p(+) - p(-)."""
    zeros = np.zeros(len(n))
    within = pooled_within_variance(sum_of_squares, int((n - 1).sum()))
    return CaseSummaries(
        n, zeros.astype(int), (plus - minus) / n, zeros, skew_variance(n, plus, minus), within, case_ids
    )


def pool(summaries: CaseSummaries, *, alpha: float = 0.05, one_group: bool = False) -> Comparison:
    """Formulas (2)-(6) on per-case summaries: the one place the pooled estimate is computed."""
    s = summaries
    cases = len(s.n_a)
    n_a, n_b = int(s.n_a.sum()), int(s.n_b.sum())
    differences = s.mean_a - s.mean_b  # (1)
    estimate = float(differences.mean())  # (2)
    base = dict(
        n_a=n_a,
        n_b=n_b,
        mean_a=float(s.mean_a.mean()),
        mean_b=float(s.mean_b.mean()),
        difference=estimate,
        effect_size=estimate / math.sqrt(s.within_variance) if s.within_variance else None,
        cases=cases,
        method=METHOD,
    )
    if cases < MIN_CASES:
        note = f"{cases} case(s): at least {MIN_CASES} are needed to generalise beyond them"
        return Comparison(ci_low=None, ci_high=None, p_value=None, note=note, **base)
    fewest = n_a if one_group else min(n_a, n_b)
    if fewest < MIN_SAMPLES:
        note = f"{fewest} answers: at least {MIN_SAMPLES} per group are needed"
        return Comparison(ci_low=None, ci_high=None, p_value=None, note=note, **base)
    empirical = float(differences.var(ddof=1)) / cases  # (3)
    floor = 0.0 if s.variance is None else float(s.variance.sum()) / cases**2  # (4)
    se = math.sqrt(max(empirical, floor))  # (5)
    df = cases - 1
    if se == 0:
        ci, p_value = (estimate, estimate), (1.0 if estimate == 0 else 0.0)
    else:
        half = float(stats.t.ppf(1 - alpha / 2, df)) * se  # (6)
        ci = (estimate - half, estimate + half)
        p_value = float(2 * stats.t.sf(abs(estimate) / se, df))
    return Comparison(ci_low=ci[0], ci_high=ci[1], p_value=p_value, se=se, **base)


def paired_change(
    baseline: CaseSummaries, candidate: CaseSummaries, *, alpha: float = 0.05
) -> Comparison | None:
    """The change of a gap between two audits of the same cases: per case, the candidate's gap
    minus the baseline's, pooled over the cases both audits have (formulas 2-6, the case as the
    unit; each case's sampling variance is the sum of its two). Effects a case carries in both
    audits cancel. None when the audits share no case."""
    before, after = baseline.gaps(), candidate.gaps()
    shared = [c for c in after if c in before]
    if not shared:
        return None
    variances = [after[c][1] for c in shared], [before[c][1] for c in shared]
    known = all(v is not None for v in (*variances[0], *variances[1]))
    count = dict(zip(candidate.case_ids, candidate.n_a + candidate.n_b, strict=True))
    count_before = dict(zip(baseline.case_ids, baseline.n_a + baseline.n_b, strict=True))
    change = CaseSummaries(
        n_a=np.array([count[c] for c in shared]),
        n_b=np.array([count_before[c] for c in shared]),
        mean_a=np.array([after[c][0] for c in shared]),
        mean_b=np.array([before[c][0] for c in shared]),
        variance=np.array([a + b for a, b in zip(*variances, strict=True)]) if known else None,
        within_variance=None,
        case_ids=tuple(shared),
    )
    return pool(change, alpha=alpha)


def _not_estimable(
    a_by_case: Mapping[str, Sequence[float]],
    b_by_case: Mapping[str, Sequence[float]],
    labels: tuple[str, str],
):
    def where(by_case: Mapping[str, Sequence[float]]) -> str:
        names = [c for c in sorted(by_case) if len(by_case[c])]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return shown or "no case"

    n_a = sum(len(v) for v in a_by_case.values())
    n_b = sum(len(v) for v in b_by_case.values())
    a, b = labels
    return not_estimable(n_a, n_b, f"({a}: {where(a_by_case)}; {b}: {where(b_by_case)})")


def not_estimable(n_a: int, n_b: int, where: str = "") -> Comparison:
    """Two groups that share no case: not estimable (with answers on both sides), or no evidence."""
    if not n_a or not n_b:
        note = "no answers with a value in one of the groups"
    else:
        note = (
            f"the groups share no case {where}".rstrip()
            + ": a gap between them would compare different cases, not the groups"
        )
    return Comparison(n_a, n_b, None, None, None, None, None, None, None, cases=0, method=METHOD, note=note)


def is_not_estimable(c: Comparison) -> bool:
    return c.method == METHOD and c.cases == 0 and bool(c.n_a) and bool(c.n_b)


def pooled_within_variance(sum_of_squares: float, df: int) -> float | None:
    """Within-prompt variance pooled over prompts: sum (n-1) s^2 / sum (n-1); None without df."""
    return float(sum_of_squares) / df if df > 0 else None


def rate_variance(mean: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Agresti & Caffo (2000): p~ = (successes + 1) / (n + 2); variance p~(1 - p~) / (n + 2)."""
    p = (mean * n + 1) / (n + 2)
    return p * (1 - p) / (n + 2)


def skew_variance(n: np.ndarray, plus: np.ndarray, minus: np.ndarray) -> np.ndarray:
    """Variance of p(+1) - p(-1) in one multinomial sample, one pseudo-answer added to +1 and -1."""
    m = n + 2
    p, q = (plus + 1) / m, (minus + 1) / m
    return (p + q - (p - q) ** 2) / m
