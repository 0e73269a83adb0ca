"""Sequential audits: sample in rounds, look after each, stop once the verdict is settled.

Design — a group-sequential design with its alpha spent by the Bonferroni inequality (Jennison &
Turnbull 2000, *Group Sequential Methods with Applications to Clinical Trials*, §1.3 and ch. 7):

    (1) looks      s_1 < s_2 < ... < s_L = K samples per prompt: s_1 = min(5, K), s_2 = 15 (the
                   fewest answers a case's continuous gap is decided from, per_case.MIN_DECIDING),
                   then doubling, capped at K (K = 50: 5, 15, 30, 50; K = 10: 5, 10)
    (2) at look k  every overall comparison gets its within-case interval (within_case.pool) from
                   the answers with sample_index < s_k, at level 1 - alpha_k, alpha_1 + ... +
                   alpha_L = alpha: equal shares alpha/L, or the suite's ``sequential.spend``
                   (design.Design.alphas)
    (3) reported   the running intersection of the intervals of looks 1..k

By Bonferroni, P(some look's interval misses the true gap) <= alpha_1 + ... + alpha_L = alpha,
whatever the dependence between looks and whichever look the audit stops at: (3) is a confidence sequence over
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
followed the same way: at each look their intervals at level 1 - alpha_k, intersected over the
looks, and their ``p_beyond_warn`` Benjamini-Hochberg adjusted over that look's per-case family and
held against alpha_k. By the same Bonferroni argument, the chance that any look declares a
per-case gap beyond its warn threshold when every case's gap is inside its band is at most
alpha_1 + ... + alpha_L = alpha: the family's error rate holds at every look, whichever the audit stops at.

Futility: a comparison that no sample size up to K could settle stops holding the audit back.
At look k (s_k samples per prompt) its standard error at K is projected as the answers' part
shrinking with s_k/K — the per-case phrasing part does not shrink, and the overall rows' whole
standard error is shrunk, which is the optimistic (so the conservative) projection:

    (4) futile  when  z_K SE_K >= w                     (its interval could never fit the band)
                and   |d_k| + SE_k < w + z_K SE_K        (the estimate, one standard error further
                                                         out than it is, would not clear the
                                                         threshold by the margin the interval
                                                         needs at K)

with z_K the multiplier at the largest alpha_j of the looks still to come (t_{C-1} for overall
rows). A futile comparison keeps the finding
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
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

from scipy import stats

from bias_audit.scoring.tasks import TEXT, Scoring
from bias_audit.stats.case_family import CaseFamily, CaseSnapshot
from bias_audit.stats.design import Design, Key, _key, futility_note
from bias_audit.stats.metrics import (
    FAMILY_PER_CASE,
    FAMILY_VERDICT,
    NOT_ESTIMABLE,
    OVERALL,
    MetricRow,
    comparisons,
    family_of,
)
from bias_audit.stats.statistics import Comparison
from bias_audit.stats.verdict import scoped_verdict, verdict_of
from bias_audit.stats.within_case import MIN_CASES, is_not_estimable
from bias_audit.thresholds import Thresholds


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
        rows = comparisons(subset, alpha=design.alpha_at(look), scoring=scoring)
        tracker.update([r for r in rows if family_of(r) in (FAMILY_VERDICT, FAMILY_PER_CASE)])
    return tracker.result()


class Tracker:
    """The running state of a sequential analysis: fed each look's overall and per-case comparisons
    (each at its look's alpha, ``design.alpha_at``), it keeps each comparison's intersected interval
    and the finding from the look it was reached. ``analyse`` feeds it real answers; calibrate,
    synthetic ones."""

    def __init__(self, design: Design, thresholds: Thresholds | None = None):
        self.design, self.thresholds = design, thresholds or Thresholds()
        self.look = 0
        self.state: dict[Key, tuple[float | None, float | None, str | None, int | None]] = {}
        self.history: list[Look] = []
        self.rows: list[MetricRow] = []
        self.cases = CaseFamily(design, self.thresholds)

    def update(self, rows: list[MetricRow]) -> SequentialAnalysis:
        self.look += 1
        look, samples, alpha = self.look, self.design.looks[self.look - 1], self.design.alpha_at(self.look)
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
        cases = self.cases.snapshot(self.method)
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
            f"{comparison.method}; sequential: look {self.look} of {len(design.looks)}, its interval at "
            f"{1 - design.alpha_at(self.look):.2%} (alpha {design.alpha:g} spread over the looks)"
        )

    def futile(self, row: MetricRow) -> bool:
        """Formula (4) for an overall ``row``: the whole standard error shrunk, t over its cases."""
        c = row.comparison
        samples = self.design.looks[self.look - 1]
        if not self.design.futility:
            return False
        if c.se is None or c.difference is None or samples >= self.design.max_samples:
            return False
        se_k = c.se * math.sqrt(samples / self.design.max_samples)
        warn, alpha = self.thresholds.warn[row.metric], self.design.alpha_ahead(self.look)
        z = float(stats.t.ppf(1 - alpha / 2, max((c.cases or 2) - 1, 1)))
        return z * se_k >= warn and abs(c.difference) + c.se < warn + z * se_k


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


def needed_prompts(
    undecided: Iterable[MetricRow], layout: dict[str, list[str]], scoring: Scoring = TEXT
) -> set[tuple[str, str]]:
    """The prompts (case, variant) that feed the undecided comparisons: both groups' prompts in
    every case they share (a crossed group's: all its variants'); for the skew, every neutral
    prompt."""
    needed = set()
    everyone = scoring.one_prompt_for_all
    for row in undecided:
        a, b = scoring.members(row.group_a), scoring.members(row.group_b)
        if everyone:  # a ranking: the case's one prompt names every group
            a = b = frozenset(v for variants in layout.values() for v in variants)
        if row.scope != OVERALL:  # a per-case comparison: its case's prompts of the two groups
            needed |= {(row.scope, v) for v in layout.get(row.scope, ()) if v in a or v in b}
            continue
        if row.group_b == "zero":  # a skew: every prompt of its group (gender_skew: the neutral ones)
            needed |= {(case, v) for case, variants in layout.items() for v in variants if v in a}
            continue
        for case, variants in layout.items():
            if a & set(variants) and b & set(variants):
                needed |= {(case, v) for v in variants if v in a or v in b}
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
