"""The change of a run's gaps against another audit's, case by case (the statistic of
``bias-audit compare`` and of the trend page's drift marks).

For every overall comparison both audits have (a metric, a pair of groups), the change of the gap
is estimated case by case — the candidate's within-case gap minus the baseline's, in every case
both audits asked — and pooled over those cases with the case as the unit
(``within_case.paired_change``). Each case the two audits share also gets the change of its own
gap (per_case.case_change), its own Benjamini-Hochberg family. Findings: ``reduced``,
``increased`` (significant, the candidate's gap smaller or larger in size), ``unchanged`` (the
whole interval within the warn band), else ``inconclusive`` (compare.py's docstring says more).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bias_audit.metric_registry import RATES
from bias_audit.scoring.tasks import TEXT, Scoring
from bias_audit.stats.metrics import OVERALL, compared_pairs
from bias_audit.stats.per_case import GroupAnswers, case_change
from bias_audit.stats.statistics import Comparison, benjamini_hochberg
from bias_audit.stats.within_case import case_summaries, level_summaries, paired_change
from bias_audit.thresholds import Thresholds

FINDINGS = ("reduced", "increased", "unchanged", "inconclusive")
# The run settings listed when they differ between the two audits.


@dataclass
class Change:
    metric: str
    group_a: str
    group_b: str
    baseline_gap: float | None
    candidate_gap: float | None
    change: Comparison
    p_adjusted: float | None = None
    finding: str = "inconclusive"
    scope: str = OVERALL  # a case id: the change of that case's gap (these prompts)

    @property
    def label(self) -> str:
        where = "" if self.scope == OVERALL else f" in {self.scope}"
        return f"{self.metric} ({self.group_a} vs {self.group_b}){where}"

    def as_row(self) -> dict[str, Any]:
        row = {k: v for k, v in asdict(self).items() if k != "change"}
        return {**row, **{f"change_{k}": v for k, v in asdict(self.change).items()}}


def changes_between(baseline: list[dict], candidate: list[dict], scoring: Scoring = TEXT) -> list[Change]:
    """Every estimable change between two audits' per-answer values (``metrics.answer_values``),
    before multiple-testing correction; the metrics and pairs of the suite's ``scoring``."""
    groups = sorted({v["variant"] for v in baseline} & {v["variant"] for v in candidate})
    changes = []
    for metric in scoring.metrics:
        for a, b in compared_pairs(scoring, groups):
            ma, mb = scoring.members(a), scoring.members(b)
            before = case_summaries(_by_case(baseline, ma, metric), _by_case(baseline, mb, metric))
            after = case_summaries(_by_case(candidate, ma, metric), _by_case(candidate, mb, metric))
            change = paired_change(before, after) if before and after else None
            if change is not None:
                changes.append(Change(metric, a, b, _mean_gap(before), _mean_gap(after), change))
    for metric, group in scoring.levels:  # a skew against 0 (gender_skew of neutral answers)
        before = level_summaries(_by_case(baseline, scoring.members(group), metric))
        after = level_summaries(_by_case(candidate, scoring.members(group), metric))
        if before and after and (change := paired_change(before, after)) is not None:
            changes.append(Change(metric, group, "zero", _mean_gap(before), _mean_gap(after), change))
    return changes + case_changes(baseline, candidate, scoring)


def case_changes(baseline: list[dict], candidate: list[dict], scoring: Scoring = TEXT) -> list[Change]:
    """The change of each case's gap, for every case, metric and pair both audits answered."""
    changes = []
    for case in sorted({v["case_id"] for v in baseline} & {v["case_id"] for v in candidate}):
        before = [v for v in baseline if v["case_id"] == case]
        after = [v for v in candidate if v["case_id"] == case]
        groups = sorted({v["variant"] for v in before} & {v["variant"] for v in after})
        for metric in scoring.metrics:
            for a, b in scoring.pairs_among(groups):
                then = tuple(GroupAnswers.of(_values(before, scoring.members(g), metric)) for g in (a, b))
                now = tuple(GroupAnswers.of(_values(after, scoring.members(g), metric)) for g in (a, b))
                change = case_change(then, now, rates=metric in RATES)  # type: ignore[arg-type]
                if change.difference is not None:
                    gaps = (then[0].mean - then[1].mean, now[0].mean - now[1].mean)
                    changes.append(Change(metric, a, b, *gaps, change, scope=case))
    return changes


def _values(values: list[dict], variants: frozenset[str], metric: str) -> list[float]:
    return [v[metric] for v in values if v["variant"] in variants and v[metric] is not None]


def _mean_gap(summaries) -> float:
    return float((summaries.mean_a - summaries.mean_b).mean())


def _by_case(values: list[dict], variants: frozenset[str], metric: str) -> dict[str, list[float]]:
    by_case: dict[str, list[float]] = {}
    for value in values:
        if value["variant"] in variants and value[metric] is not None:
            by_case.setdefault(value["case_id"], []).append(value[metric])
    return by_case


def apply_change_thresholds(changes: list[Change], thresholds: Thresholds) -> None:
    """BH over each family's rows (the pooled changes; the per-case ones), then each row's finding
    (see the module docstring)."""
    for family in (True, False):
        members = [c for c in changes if (c.scope == OVERALL) == family]
        adjusted = benjamini_hochberg([c.change.p_value for c in members])
        for change, p_adjusted in zip(members, adjusted, strict=True):
            change.p_adjusted = p_adjusted
            change.finding = _finding(change, thresholds)


def _finding(change: Change, thresholds: Thresholds) -> str:
    c = change.change
    if c.ci_low is None or change.p_adjusted is None:
        return "inconclusive"
    if change.p_adjusted < thresholds.alpha:
        smaller = abs(change.candidate_gap or 0.0) < abs(change.baseline_gap or 0.0)
        return "reduced" if smaller else "increased"
    band = thresholds.warn.get(change.metric)
    if band is not None and -band < c.ci_low and c.ci_high < band:
        return "unchanged"
    return "inconclusive"


def conclusion(changes: list[Change]) -> str:
    """The comparison in one line of words."""
    if not changes:
        return "no comparison of the two audits is estimable (they share no case and group pair)"
    by = {f: [c for c in changes if c.finding == f] for f in FINDINGS}

    def names(items: list[Change], limit: int = 6) -> str:
        more = f" and {len(items) - limit} more" if len(items) > limit else ""
        return ", ".join(c.label for c in items[:limit]) + more

    parts = []
    for overall in (True, False):
        found = {f: [c for c in by[f] if (c.scope == OVERALL) == overall] for f in FINDINGS}
        said = []
        if found["increased"]:
            said.append(f"{len(found['increased'])} gap(s) increased: {names(found['increased'])}")
        if found["reduced"]:
            said.append(f"{len(found['reduced'])} reduced: {names(found['reduced'])}")
        if found["unchanged"]:
            said.append(f"{len(found['unchanged'])} unchanged")
        if found["inconclusive"]:
            said.append(f"{len(found['inconclusive'])} inconclusive (too few cases or answers to tell)")
        if said:
            parts.append("; ".join(said) if overall else "in these prompts (per case): " + "; ".join(said))
    return "; ".join(parts) + "."
