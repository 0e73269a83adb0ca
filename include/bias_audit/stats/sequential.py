"""Sequential audits: sample in rounds, look after each, stop once the verdict is settled.

Design — a group-sequential design with its alpha spent by the Bonferroni inequality (Jennison &
Turnbull 2000, *Group Sequential Methods with Applications to Clinical Trials*, §1.3 and ch. 7):

    (1) looks      s_1 < s_2 < ... < s_L = K samples per prompt: s_1 = min(5, K), s_2 = 15 (the
                   fewest answers a case's continuous gap is decided from, per_case.MIN_DECIDING),
                   then doubling, capped at K (K = 50: 5, 15, 30, 50; K = 10: 5, 10)
    (2) at look k  every overall comparison gets its within-case interval (within_case.pool) from
                   the answers with sample_index < s_k, at level 1 - alpha/L
    (3) reported   the running intersection of the intervals of looks 1..k

By Bonferroni, P(some look's interval misses the true gap) <= L * alpha/L = alpha, whatever the
dependence between looks and whichever look the audit stops at: (3) is a confidence sequence over
the planned looks — it covers the gap at every look at once with probability >= 1 - alpha — so
looking after every round does not inflate false alarms the way repeated 95 % intervals do. (With
a 95 % interval at each of 5 looks, the chance that one of them excludes a true gap of 0 is up to
23 %.) The price is a wider multiplier at each look: t_{C-1} at 1 - 0.005 instead of 1 - 0.025
for L = 5 (2.60 against 1.97 at 180 cases).

Why not an anytime-valid confidence sequence of the ``confseq`` kind (Howard et al. 2021;
Waudby-Smith & Ramdas 2023): those bound the mean of a stream of i.i.d. observations as the
stream grows. Here the unit of uncertainty is the case (within_case.py), and the cases are fixed
by the suite: a round adds answers to every case, shrinking each case gap's noise, not new
cases. The intervals are t intervals over a fixed number of cases whose precision grows —
exactly the situation group-sequential designs were made for. The looks are few (at most
log2(K/5) + 2), so the Bonferroni bound costs little against the exact, correlation-aware
boundaries, and it needs no model of how the looks correlate.

Per comparison (the sequential interval [lo, hi], warn threshold w, fail threshold f):
- *pass* once -w < lo and hi < w (the whole interval inside the warn band);
- *warn* or *fail* once lo >= w or hi <= -w (the whole interval beyond the warn threshold): fail
  when the estimate at that look is at least f, else warn;
- the finding is kept from the look it is reached (the intersection only shrinks, so the interval
  stays where it was; only the warn/fail severity could move, and it is frozen);
- comparisons with fewer than ``MIN_CASES`` shared cases, or none (not estimable), cannot be
  settled by more samples and do not hold the audit back.

The per-case comparisons (the verdict's scope "these prompts", metrics.py and per_case.py) are
followed the same way: at each look their intervals at level 1 - alpha/L, intersected over the
looks, and their ``p_beyond_warn`` Benjamini-Hochberg adjusted over that look's per-case family and
held against alpha/L. By the same Bonferroni argument, the chance that any look declares a
per-case gap beyond its warn threshold when every case's gap is inside its band is at most
L * alpha/L = alpha: the family's error rate holds at every look, whichever the audit stops at.

Futility: a comparison that no sample size up to K could settle stops holding the audit back.
At look k (s_k samples per prompt) its standard error at K is projected as the answers' part
shrinking with s_k/K — the per-case phrasing part does not shrink, and the overall rows' whole
standard error is shrunk, which is the optimistic (so the conservative) projection:

    (4) futile  when  z_K SE_K >= w                     (its interval could never fit the band)
                and   |d_k| + SE_k < w + z_K SE_K        (the estimate, one standard error further
                                                         out than it is, would not clear the
                                                         threshold by the margin the interval
                                                         needs at K)

with z_K the look's multiplier (t_{C-1} for overall rows). A futile comparison keeps the finding
``inconclusive`` and its note says why; its prompts get no more samples on its account.

The audit stops (``settled``) when a fail is decided (no other finding can change a fail verdict)
or when every comparison more samples could settle is decided or futile; else after the last look
(``max_samples``) or when the next round would exceed the budget (``budget``). Rounds send new
samples only to the prompts that feed an undecided comparison: for a per-case comparison, its
case's two prompts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy import stats

from bias_audit.metric_registry import RATES
from bias_audit.schedule import check_schedule
from bias_audit.scoring.tasks import TEXT, Scoring
from bias_audit.stats.metrics import (
    FAMILY_PER_CASE,
    FAMILY_VERDICT,
    NEUTRAL,
    NOT_ESTIMABLE,
    OVERALL,
    MetricRow,
    comparisons,
    family_of,
    phrasing_sd,
)
from bias_audit.stats.per_case import MIN_DECIDING, beyond_p, phrasing_variance, z_two_sided
from bias_audit.stats.statistics import Comparison, benjamini_hochberg
from bias_audit.stats.verdict import FUTILE, scoped_verdict, verdict_of
from bias_audit.stats.within_case import MIN_CASES, is_not_estimable
from bias_audit.thresholds import Thresholds

FIRST_ROUND = 5  # samples per prompt of the first round
SEQUENTIAL = "sequential"  # RunConfig.mode of a sequential run
DEFAULT_MAX_SAMPLES = 50

Key = tuple[str, str, str, str]  # (metric, scope, group_a, group_b)


@dataclass(frozen=True)
class Design:
    """The planned looks of a sequential audit and the alpha spent at each."""

    max_samples: int = DEFAULT_MAX_SAMPLES
    alpha: float = 0.05
    first: int = FIRST_ROUND
    # looks fixed before the first one (the suite's ``sequential.looks`` or the run's ``looks``):
    # those below max_samples, then max_samples; None: formula (1)
    schedule: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1 (value: {self.max_samples})")
        if self.schedule is not None:
            check_schedule(self.schedule)

    @functools.cached_property
    def looks(self) -> tuple[int, ...]:
        """Cumulative samples per prompt at each look: the schedule, or formula (1)."""
        if self.schedule:
            return (*(s for s in self.schedule if s < self.max_samples), self.max_samples)
        looks = [min(self.first, self.max_samples)]
        while looks[-1] < self.max_samples:
            step = looks[-1] * 2 if looks[-1] >= MIN_DECIDING else MIN_DECIDING
            looks.append(min(step, self.max_samples))
        return tuple(looks)

    @property
    def alpha_per_look(self) -> float:
        return self.alpha / len(self.looks)

    def describe(self) -> str:
        looks = ", ".join(str(s) for s in self.looks)
        return (
            f"looks at {looks} samples per prompt; each look's interval at "
            f"{1 - self.alpha_per_look:.1%} (alpha {self.alpha:g} spread over {len(self.looks)} looks)"
        )


@dataclass
class Look:
    """One overall comparison at one look."""

    metric: str
    group_a: str
    group_b: str
    look: int  # 1-based
    samples: int  # samples per prompt at this look
    alpha: float
    difference: float | None
    ci_low: float | None  # this look's own interval
    ci_high: float | None
    seq_low: float | None  # the running intersection up to this look
    seq_high: float | None
    finding: str

    def as_row(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class SequentialAnalysis:
    overall: list[MetricRow]  # the overall comparisons at the last look, sequential intervals, findings
    looks: list[Look]  # the overall comparisons at each look
    verdict: str
    settled: bool  # more samples cannot change the verdict
    undecided: list[MetricRow] = field(default_factory=list)  # what more samples could still settle
    futile: list[MetricRow] = field(default_factory=list)  # undecided, but no sample size up to K settles it
    cases: CaseSnapshot | None = None  # the per-case comparisons at the last look

    @functools.cached_property
    def rows(self) -> list[MetricRow]:
        """The overall and the per-case comparisons at the last look, with their sequential
        intervals and findings."""
        return self.overall + (self.cases.materialised() if self.cases else [])


def analyse(
    values: list[dict],
    design: Design,
    rounds: int,
    thresholds: Thresholds | None = None,
    scoring: Scoring = TEXT,
) -> SequentialAnalysis:
    """The overall and per-case comparisons of a sequential run after ``rounds`` looks: each look
    from the answers with ``sample_index`` below its samples per prompt (formula 2), intervals
    intersected across looks (3), findings kept from the look they were reached. The generate stage
    calls this between rounds and the Spark job on the whole run: the same numbers decide the stop
    and the verdict."""
    tracker = Tracker(design, thresholds)
    for look in range(1, rounds + 1):
        subset = [v for v in values if v["sample_index"] < design.looks[look - 1]]
        rows = comparisons(subset, alpha=design.alpha_per_look, scoring=scoring)
        tracker.update([r for r in rows if family_of(r) in (FAMILY_VERDICT, FAMILY_PER_CASE)])
    return tracker.result()


class Tracker:
    """The running state of a sequential analysis: fed each look's overall and per-case comparisons
    (at ``design.alpha_per_look``), it keeps each comparison's intersected interval and the finding
    from the look it was reached. ``analyse`` feeds it real answers; calibrate, synthetic ones."""

    def __init__(self, design: Design, thresholds: Thresholds | None = None):
        self.design, self.thresholds = design, thresholds or Thresholds()
        self.look = 0
        self.state: dict[Key, tuple[float | None, float | None, str | None, int | None]] = {}
        self.history: list[Look] = []
        self.rows: list[MetricRow] = []
        self.cases = CaseFamily(design, self.thresholds)

    def update(self, rows: list[MetricRow]) -> SequentialAnalysis:
        self.look += 1
        look, samples, alpha = self.look, self.design.looks[self.look - 1], self.design.alpha_per_look
        self.rows = [r for r in rows if family_of(r) == FAMILY_VERDICT]
        self.cases.update([r for r in rows if family_of(r) == FAMILY_PER_CASE], look)
        for row in self.rows:
            low, high, finding, decided_at = self.state.get(_key(row), (None, None, None, None))
            c = row.comparison
            if c.ci_low is not None:
                low = c.ci_low if low is None else max(low, c.ci_low)
                high = c.ci_high if high is None else min(high, c.ci_high)
                if low > high:  # the looks contradict each other (probability <= alpha): keep the latest
                    low, high = c.ci_low, c.ci_high
            if finding is None and low is not None:
                finding = decide(row.metric, low, high, c.difference, self.thresholds)
                decided_at = look if finding else None
            self.state[_key(row)] = (low, high, finding, decided_at)
            self.history.append(
                Look(
                    row.metric, row.group_a, row.group_b, look, samples, alpha,
                    c.difference, c.ci_low, c.ci_high, low, high,
                    finding or _open_finding(row),
                )
            )  # fmt: skip
        return self.result()

    def result(self) -> SequentialAnalysis:
        design = self.design
        final = []
        for row in self.rows:
            low, high, finding, decided_at = self.state[_key(row)]
            c = row.comparison
            note = c.note
            if decided_at is not None:
                note = f"decided at look {decided_at} ({design.looks[decided_at - 1]} samples per prompt)"
            final_row = MetricRow(
                row.metric,
                row.scope,
                row.group_a,
                row.group_b,
                replace(c, ci_low=low, ci_high=high, method=self.method(c), note=note),
            )
            final_row.finding = finding or _open_finding(row)
            final.append(final_row)
        open_rows = [r for r in final if r.finding == "inconclusive" and can_settle(r)]
        futile = [r for r in open_rows if self.futile(r)]
        for row in futile:
            row.comparison = replace(row.comparison, note=futility_note(row, design))
        futile_ids = {id(r) for r in futile}
        undecided = [r for r in open_rows if id(r) not in futile_ids]
        cases = self.cases.snapshot(self)
        verdict, _ = scoped_verdict(final, cases.finding)
        # an open per-case comparison holds the run back while a gap it finds would change the
        # verdict: not once the run warns (it could only make the warn a fail; the warn is the news)
        if verdict != "warn":
            undecided += cases.undecided()
        settled = verdict == "fail" or not undecided
        return SequentialAnalysis(
            final, list(self.history), verdict, settled, undecided, futile + cases.futile(), cases
        )

    def method(self, comparison: Comparison) -> str:
        design = self.design
        return (
            f"{comparison.method}; sequential: {self.look} of {len(design.looks)} looks at "
            f"{1 - design.alpha_per_look:.1%} each"
        )

    def futile(self, row: MetricRow) -> bool:
        """Formula (4) for an overall ``row``: the whole standard error shrunk, t over its cases."""
        c = row.comparison
        samples = self.design.looks[self.look - 1]
        if c.se is None or c.difference is None or samples >= self.design.max_samples:
            return False
        se_k = c.se * math.sqrt(samples / self.design.max_samples)
        warn, alpha = self.thresholds.warn[row.metric], self.design.alpha_per_look
        z = float(stats.t.ppf(1 - alpha / 2, max((c.cases or 2) - 1, 1)))
        return z * se_k >= warn and abs(c.difference) + c.se < warn + z * se_k


class CaseFamily:
    """The per-case comparisons of a sequential analysis, followed as arrays: a suite has thousands
    of them (180 cases x 6 pairs x 5 metrics), and each look adjusts, intersects and decides them
    all. Indexed by (metric, case, group a, group b), stable across looks."""

    def __init__(self, design: Design, thresholds: Thresholds):
        self.design, self.thresholds = design, thresholds
        self.index: dict[Key, int] = {}
        self.low = self.high = np.empty(0)
        self.finding = np.empty(0, dtype=object)
        self.decided_at = np.empty(0, dtype=int)
        self.current: list[MetricRow] = []  # this look's rows
        self.at = np.empty(0, dtype=int)  # their places in the arrays
        self.p_adjusted = np.empty(0)
        self.look = 0
        self.columns: dict[str, np.ndarray] = {}

    def update(self, rows: list[MetricRow], look: int) -> None:
        self.look = look
        for row in rows:
            self.index.setdefault(_key(row), len(self.index))
        grow = len(self.index) - len(self.low)
        if grow:
            self.low = np.concatenate([self.low, np.full(grow, np.nan)])
            self.high = np.concatenate([self.high, np.full(grow, np.nan)])
            self.finding = np.concatenate([self.finding, np.full(grow, "", dtype=object)])
            self.decided_at = np.concatenate([self.decided_at, np.zeros(grow, dtype=int)])
        self.current, self.at = rows, np.array([self.index[_key(r)] for r in rows], dtype=int)
        c = self.arrays(rows)
        raw = beyond_p(
            c["d"], c["se"], c["warn"], c["n_a"], c["n_b"], rates=c["rates"], mean_a=c["mean_a"],
            mean_b=c["mean_b"], phrasing_sd=c["phrasing_sd"],
        )  # per_case.py, formulas 6 and 7  # fmt: skip
        adjusted = benjamini_hochberg([None if np.isnan(p) else float(p) for p in raw])  # this look's family
        self.p_adjusted = np.array([np.nan if p is None else p for p in adjusted], dtype=float)
        for row, p in zip(rows, adjusted, strict=True):
            row.p_beyond_warn = p
        low, high = self.low[self.at], self.high[self.at]
        has = ~np.isnan(c["lo"])
        new_low = np.where(has, np.fmax(low, c["lo"]), low)
        new_high = np.where(has, np.fmin(high, c["hi"]), high)
        contradict = has & (new_low > new_high)  # probability <= alpha: keep the latest
        new_low[contradict], new_high[contradict] = c["lo"][contradict], c["hi"][contradict]
        self.low[self.at], self.high[self.at] = new_low, new_high
        open_now = (self.finding[self.at] == "") & ~np.isnan(new_low)
        beyond = np.nan_to_num(self.p_adjusted, nan=1.0) < self.design.alpha_per_look
        inside = (-c["warn"] < new_low) & (new_high < c["warn"])
        found = np.where(
            beyond, np.where(np.abs(c["d"]) >= c["fail"], "fail", "warn"), np.where(inside, "pass", "")
        )
        decided = open_now & (found != "")
        self.finding[self.at[decided]] = found[decided]
        self.decided_at[self.at[decided]] = look
        self.columns = c

    def arrays(self, rows: list[MetricRow]) -> dict[str, np.ndarray]:
        def column(values) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        comparisons = [r.comparison for r in rows]
        warn, fail = self.thresholds.warn, self.thresholds.fail
        return {
            "d": column(x.difference for x in comparisons),
            "se": column(x.se for x in comparisons),
            "lo": column(x.ci_low for x in comparisons),
            "hi": column(x.ci_high for x in comparisons),
            "n_a": column(x.n_a for x in comparisons),
            "n_b": column(x.n_b for x in comparisons),
            "mean_a": column(x.mean_a for x in comparisons),
            "mean_b": column(x.mean_b for x in comparisons),
            "warn": np.array([warn[r.metric] for r in rows], dtype=float),
            "fail": np.array([fail[r.metric] for r in rows], dtype=float),
            "rates": np.array([r.metric in RATES for r in rows], dtype=bool),
            "phrasing_sd": np.array([phrasing_sd(r.metric) for r in rows], dtype=float),
        }

    def snapshot(self, tracker: Tracker) -> CaseSnapshot:
        """This look's per-case rows as they stand: findings, intervals and which are futile."""
        finding = self.finding[self.at].copy()
        futile = self.futile_mask(finding)
        return CaseSnapshot(
            self.current, finding, self.low[self.at].copy(), self.high[self.at].copy(),
            self.decided_at[self.at].copy(), futile, tracker.method, self.design,
        )  # fmt: skip

    def futile_mask(self, finding: np.ndarray) -> np.ndarray:
        """Formula (4) for the per-case rows: the answers' part of SE shrinks to K, the phrasing part
        stays; the threshold is crossed at Benjamini-Hochberg's level k alpha / m, for k the rows
        decided so far and those still open that could be, tightened until it holds (a row left out
        could not be decided at that k either)."""
        c, design = self.columns, self.design
        samples = design.looks[self.look - 1]
        candidates = (finding == "") & ~np.isnan(c["lo"])
        if samples >= design.max_samples or not candidates.any():
            return np.zeros(len(finding), dtype=bool)
        phrasing = np.where(
            c["rates"],
            phrasing_variance(c["n_a"], c["mean_a"], c["n_b"], c["mean_b"], True, c["phrasing_sd"]),
            phrasing_variance(c["n_a"], c["mean_a"], c["n_b"], c["mean_b"], False, c["phrasing_sd"]),
        )
        se_k = np.sqrt(np.maximum(c["se"] ** 2 - phrasing, 0.0) * samples / design.max_samples + phrasing)
        alpha = design.alpha_per_look
        never_inside = z_two_sided(alpha) * se_k >= c["warn"]
        decided, m = int(np.isin(finding, ("warn", "fail")).sum()), len(finding)
        open_rows = candidates.copy()
        while True:
            cross = z_two_sided(min(alpha * max(decided + int(open_rows.sum()), 1) / m, 1.0))
            futile = candidates & never_inside & (np.abs(c["d"]) + c["se"] < c["warn"] + cross * se_k)
            still = candidates & ~futile
            if still.sum() == open_rows.sum():
                return futile
            open_rows = still


@dataclass
class CaseSnapshot:
    """The per-case rows of one look as they stand (arrays aligned with ``rows``)."""

    rows: list[MetricRow]  # the look's rows, as ``metrics.comparisons`` made them
    finding: np.ndarray  # "pass", "warn", "fail" or "" (open)
    low: np.ndarray  # the running intersection of the intervals
    high: np.ndarray
    decided_at: np.ndarray  # the look a finding was reached (0: none)
    is_futile: np.ndarray
    method: Callable[[Comparison], str]
    design: Design

    def undecided(self) -> list[MetricRow]:
        open_now = (self.finding == "") & ~self.is_futile & ~np.isnan(self.low)
        return [self.rows[i] for i in np.flatnonzero(open_now & self._has_interval())]

    def futile(self) -> list[MetricRow]:
        return [self.rows[i] for i in np.flatnonzero(self.is_futile)]

    def _has_interval(self) -> np.ndarray:
        return np.array([r.comparison.ci_low is not None for r in self.rows], dtype=bool)

    def materialised(self, decided_only: bool = False) -> list[MetricRow]:
        """The rows with their sequential intervals, findings and notes (``decided_only``: those
        that warn or fail)."""
        final = []
        for i, row in enumerate(self.rows):
            if decided_only and self.finding[i] not in ("warn", "fail"):
                continue
            c = row.comparison
            low, high = (None, None) if np.isnan(self.low[i]) else (float(self.low[i]), float(self.high[i]))
            note = c.note
            if self.decided_at[i]:
                at = int(self.decided_at[i])
                note = f"decided at look {at} ({self.design.looks[at - 1]} samples per prompt)"
            elif self.is_futile[i]:
                note = futility_note(row, self.design)
            comparison = replace(c, ci_low=low, ci_high=high, method=self.method(c), note=note)
            final_row = MetricRow(
                row.metric, row.scope, row.group_a, row.group_b, comparison, p_beyond_warn=row.p_beyond_warn
            )
            final_row.finding = self.finding[i] or "inconclusive"
            final.append(final_row)
        return final


def _key(row: MetricRow) -> Key:
    return (row.metric, row.scope, row.group_a, row.group_b)


def futility_note(row: MetricRow, design: Design) -> str:
    """Why a futile comparison stays inconclusive (it starts with ``metrics.FUTILE``)."""
    if row.scope == OVERALL:
        return (
            f"{FUTILE} with {row.comparison.cases} cases at any sample size up to "
            f"{design.max_samples} per prompt: add cases"
        )
    return (
        f"{FUTILE} in this case at any sample size up to {design.max_samples} per prompt: "
        "rewording alone moves it as much"
    )


def decide(
    metric: str, low: float, high: float, estimate: float | None, thresholds: Thresholds
) -> str | None:
    """pass, warn or fail once the interval settles it; None while it reaches across a threshold."""
    warn, fail = thresholds.warn[metric], thresholds.fail[metric]
    if -warn < low and high < warn:
        return "pass"
    if low >= warn or high <= -warn:
        return "fail" if estimate is not None and abs(estimate) >= fail else "warn"
    return None


def can_settle(row: MetricRow) -> bool:
    """Whether more samples per prompt could settle the comparison: an overall one shares enough
    cases; a per-case one has answers in both groups."""
    if row.scope != OVERALL:
        return row.comparison.ci_low is not None
    return row.finding != NOT_ESTIMABLE and (row.comparison.cases or 0) >= MIN_CASES


def _open_finding(row: MetricRow) -> str:
    return NOT_ESTIMABLE if is_not_estimable(row.comparison) else "inconclusive"


def apply(rows: list[MetricRow], analysis: SequentialAnalysis) -> str:
    """Put the sequential intervals and findings in place of the overall and per-case rows' (after
    ``verdict.apply_thresholds`` adjusted the p-values) and return the verdict they give."""
    sequential = {_key(r): r for r in analysis.rows}
    for row in rows:
        match = sequential.get(_key(row))
        if match is not None:
            row.comparison, row.finding = match.comparison, match.finding
            if row.scope != OVERALL:
                row.p_beyond_warn = match.p_beyond_warn
    return verdict_of(rows)


def needed_prompts(undecided: Iterable[MetricRow], layout: dict[str, list[str]]) -> set[tuple[str, str]]:
    """The prompts (case, variant) that feed the undecided comparisons: both groups' prompts in
    every case they share; for the skew, every neutral prompt."""
    needed = set()
    for row in undecided:
        if row.scope != OVERALL:  # a per-case comparison: its case's two prompts
            needed |= {(row.scope, row.group_a), (row.scope, row.group_b)}
            continue
        if row.group_b == "zero":
            needed |= {(case, NEUTRAL) for case, variants in layout.items() if NEUTRAL in variants}
            continue
        for case, variants in layout.items():
            if row.group_a in variants and row.group_b in variants:
                needed |= {(case, row.group_a), (case, row.group_b)}
    return needed


def described(row: MetricRow) -> str:
    """``refusal female vs neutral`` (overall) or ``refusal female vs neutral in doctor`` (per case)."""
    where = "" if row.scope == OVERALL else f" in {row.scope}"
    return f"{row.metric} {row.group_a} vs {row.group_b}{where}"


def undecided_in_words(undecided: list[MetricRow], limit: int = 6) -> str:
    if not undecided:
        return "none"
    shown = []
    for r in undecided[:limit]:
        c = r.comparison
        interval = "no interval yet" if c.ci_low is None else f"{c.ci_low:+.3g} … {c.ci_high:+.3g}"
        shown.append(f"{described(r)} ({interval})")
    more = f" and {len(undecided) - limit} more" if len(undecided) > limit else ""
    return "; ".join(shown) + more


def stop_in_words(reason: str, rounds: int, design: Design, samples: int) -> str:
    """Why a sequential audit stopped, for the verdict summary and the report."""
    done = f"after {rounds} of {len(design.looks)} rounds ({samples} samples per prompt at most)"
    return {
        "decided": f"Stopped {done}: the verdict was settled, more answers could not change it.",
        "max_samples": f"Stopped {done}: max_samples reached with comparisons still undecided.",
        "futile": f"Stopped {done}: what is still undecided cannot be settled at any sample size up to "
        f"{design.max_samples} per prompt (see the notes of the inconclusive findings).",
        "budget": f"Stopped {done}: the next round would have exceeded the budget.",
    }.get(reason, f"Stopped {done}.")


def round_cost(requests: int, tokens_so_far: int, answered: int) -> int:
    """Tokens a round of ``requests`` is expected to cost: at the mean per answer so far."""
    return math.ceil(requests * tokens_so_far / max(answered, 1))
