"""Sequential audits: sample in rounds, look after each, stop once the verdict is settled.

Design — a group-sequential design with its alpha spent by the Bonferroni inequality (Jennison &
Turnbull 2000, *Group Sequential Methods with Applications to Clinical Trials*, §1.3 and ch. 7):

    (1) looks      s_1 < s_2 < ... < s_L = K samples per prompt: s_1 = min(5, K), then doubling,
                   capped at K (K = 50: 5, 10, 20, 40, 50; K = 10: 5, 10)
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

The audit stops (``settled``) when a fail is decided (no other finding can change a fail verdict)
or when every comparison more samples could settle is decided; else after the last look
(``max_samples``) or when the next round would exceed the budget (``budget``). Rounds send new
samples only to the prompts that feed an undecided comparison.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace

from bias_audit.analyze.metrics import (
    FAMILY_VERDICT,
    NEUTRAL,
    NOT_ESTIMABLE,
    OVERALL,
    MetricRow,
    comparisons,
    family_of,
    verdict_of,
)
from bias_audit.analyze.tasks import TEXT, Scoring
from bias_audit.analyze.within_case import MIN_CASES, is_not_estimable
from bias_audit.thresholds import Thresholds

FIRST_ROUND = 5  # samples per prompt of the first round
SEQUENTIAL = "sequential"  # RunConfig.mode of a sequential run
DEFAULT_MAX_SAMPLES = 50

Key = tuple[str, str, str]  # (metric, group_a, group_b)


@dataclass(frozen=True)
class Design:
    """The planned looks of a sequential audit and the alpha spent at each."""

    max_samples: int = DEFAULT_MAX_SAMPLES
    alpha: float = 0.05
    first: int = FIRST_ROUND

    def __post_init__(self) -> None:
        if self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1 (value: {self.max_samples})")

    @property
    def looks(self) -> tuple[int, ...]:
        """Cumulative samples per prompt at each look (formula 1)."""
        looks = [min(self.first, self.max_samples)]
        while looks[-1] < self.max_samples:
            looks.append(min(looks[-1] * 2, self.max_samples))
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
    rows: list[MetricRow]  # the overall comparisons at the last look, sequential intervals, findings
    looks: list[Look]
    verdict: str
    settled: bool  # more samples cannot change the verdict
    undecided: list[MetricRow] = field(default_factory=list)  # what more samples could still settle


def analyse(
    values: list[dict],
    design: Design,
    rounds: int,
    thresholds: Thresholds | None = None,
    scoring: Scoring = TEXT,
) -> SequentialAnalysis:
    """The overall comparisons of a sequential run after ``rounds`` looks: each look from the answers
    with ``sample_index`` below its samples per prompt (formula 2), intervals intersected across
    looks (3), findings kept from the look they were reached. The generate stage calls this between
    rounds and the Spark job on the whole run: the same numbers decide the stop and the verdict."""
    tracker = Tracker(design, thresholds)
    for look in range(1, rounds + 1):
        subset = [v for v in values if v["sample_index"] < design.looks[look - 1]]
        tracker.update(comparisons(subset, per_case=False, alpha=design.alpha_per_look, scoring=scoring))
    return tracker.result()


class Tracker:
    """The running state of a sequential analysis: fed each look's overall comparisons (at
    ``design.alpha_per_look``), it keeps each comparison's intersected interval and the finding
    from the look it was reached. ``analyse`` feeds it real answers; calibrate, synthetic ones."""

    def __init__(self, design: Design, thresholds: Thresholds | None = None):
        self.design, self.thresholds = design, thresholds or Thresholds()
        self.look = 0
        self.state: dict[Key, tuple[float | None, float | None, str | None, int | None]] = {}
        self.history: list[Look] = []
        self.rows: list[MetricRow] = []

    def update(self, rows: list[MetricRow]) -> SequentialAnalysis:
        self.look += 1
        look, samples, alpha = self.look, self.design.looks[self.look - 1], self.design.alpha_per_look
        self.rows = [r for r in rows if family_of(r) == FAMILY_VERDICT]
        for row in self.rows:
            key = (row.metric, row.group_a, row.group_b)
            low, high, finding, decided_at = self.state.get(key, (None, None, None, None))
            c = row.comparison
            if c.ci_low is not None:
                low = c.ci_low if low is None else max(low, c.ci_low)
                high = c.ci_high if high is None else min(high, c.ci_high)
                if low > high:  # the looks contradict each other (probability <= alpha): keep the latest
                    low, high = c.ci_low, c.ci_high
            if finding is None and low is not None:
                finding = decide(row.metric, low, high, c.difference, self.thresholds)
                decided_at = look if finding else None
            self.state[key] = (low, high, finding, decided_at)
            self.history.append(
                Look(
                    row.metric, row.group_a, row.group_b, look, samples, alpha,
                    c.difference, c.ci_low, c.ci_high, low, high,
                    finding or _open_finding(row),
                )
            )  # fmt: skip
        return self.result()

    def result(self) -> SequentialAnalysis:
        design, alpha = self.design, self.design.alpha_per_look
        final = []
        for row in self.rows:
            low, high, finding, decided_at = self.state[(row.metric, row.group_a, row.group_b)]
            c = row.comparison
            method = (
                f"{c.method}; sequential: {self.look} of {len(design.looks)} looks at {1 - alpha:.1%} each"
            )
            note = c.note
            if decided_at is not None:
                note = f"decided at look {decided_at} ({design.looks[decided_at - 1]} samples per prompt)"
            final_row = MetricRow(
                row.metric,
                OVERALL,
                row.group_a,
                row.group_b,
                replace(c, ci_low=low, ci_high=high, method=method, note=note),
            )
            final_row.finding = finding or _open_finding(row)
            final.append(final_row)
        undecided = [r for r in final if r.finding == "inconclusive" and can_settle(r)]
        verdict = verdict_of(final)
        settled = verdict == "fail" or not undecided
        return SequentialAnalysis(final, list(self.history), verdict, settled, undecided)


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
    """Whether more samples per prompt could settle the comparison: it shares enough cases."""
    return row.finding != NOT_ESTIMABLE and (row.comparison.cases or 0) >= MIN_CASES


def _open_finding(row: MetricRow) -> str:
    return NOT_ESTIMABLE if is_not_estimable(row.comparison) else "inconclusive"


def apply(rows: list[MetricRow], analysis: SequentialAnalysis) -> str:
    """Put the sequential intervals and findings in place of the overall rows' (after
    ``metrics.judge`` adjusted the p-values) and return the verdict they give."""
    sequential = {(r.metric, r.group_a, r.group_b): r for r in analysis.rows}
    for row in rows:
        match = sequential.get((row.metric, row.group_a, row.group_b))
        if row.scope == OVERALL and match is not None:
            row.comparison, row.finding = match.comparison, match.finding
    return verdict_of(rows)


def needed_prompts(undecided: Iterable[MetricRow], layout: dict[str, list[str]]) -> set[tuple[str, str]]:
    """The prompts (case, variant) that feed the undecided comparisons: both groups' prompts in
    every case they share; for the skew, every neutral prompt."""
    needed = set()
    for row in undecided:
        if row.group_b == "zero":
            needed |= {(case, NEUTRAL) for case, variants in layout.items() if NEUTRAL in variants}
            continue
        for case, variants in layout.items():
            if row.group_a in variants and row.group_b in variants:
                needed |= {(case, row.group_a), (case, row.group_b)}
    return needed


def undecided_in_words(undecided: list[MetricRow], limit: int = 6) -> str:
    if not undecided:
        return "none"
    shown = []
    for r in undecided[:limit]:
        c = r.comparison
        interval = "no interval yet" if c.ci_low is None else f"{c.ci_low:+.3g} … {c.ci_high:+.3g}"
        shown.append(f"{r.metric} {r.group_a} vs {r.group_b} ({interval})")
    more = f" and {len(undecided) - limit} more" if len(undecided) > limit else ""
    return "; ".join(shown) + more


def stop_in_words(reason: str, rounds: int, design: Design, samples: int) -> str:
    """Why a sequential audit stopped, for the verdict summary and the report."""
    done = f"after {rounds} of {len(design.looks)} rounds ({samples} samples per prompt at most)"
    return {
        "decided": f"Stopped {done}: the verdict was settled, more answers could not change it.",
        "max_samples": f"Stopped {done}: max_samples reached with comparisons still undecided.",
        "budget": f"Stopped {done}: the next round would have exceeded the budget.",
    }.get(reason, f"Stopped {done}.")


def round_cost(requests: int, tokens_so_far: int, answered: int) -> int:
    """Tokens a round of ``requests`` is expected to cost: at the mean per answer so far."""
    return math.ceil(requests * tokens_so_far / max(answered, 1))
