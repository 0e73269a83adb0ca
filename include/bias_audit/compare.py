"""Compare two audits of the same suite: did the gaps shrink (a mitigation, a new model version),
or is this audit worse than the last?

For every overall comparison both audits have (a metric, a pair of groups), the change of the gap
is estimated case by case — the candidate's within-case gap minus the baseline's, in every case
both audits asked — and pooled over those cases with the case as the unit
(``within_case.paired_change``: a t interval over cases, never narrower than the answers' own
noise). Each case's own effects, which both audits carry, cancel.

The same question is asked of each case the two audits share (the verdict's scope "these
prompts", per_case.case_change): the change of that case's gap, from the two audits' answers to the
same prompts (their wording's effect is in both gaps and cancels), with its own family of
Benjamini-Hochberg adjustment. So a fix shows as ``reduced`` in the cases it fixed even where the
suite has too few cases for the pooled change (seed-lab).

Per row (Benjamini-Hochberg adjusted over the rows of its family, the p-value two-sided):

- ``reduced``: the change is significant and the candidate's gap is smaller in size than the
  baseline's;
- ``increased``: the change is significant and the candidate's gap is larger;
- ``unchanged``: the whole interval of the change lies within +- the metric's warn threshold
  (the equivalence band: a change too small to move a finding from pass to warn);
- ``inconclusive``: otherwise.

Runs of different suites are not comparable; anything else may differ between the two — that is
the point — and is listed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bias_audit.errors import UserInputError
from bias_audit.html import environment, fmt
from bias_audit.metric_registry import CONTINUOUS, METRICS, RATES
from bias_audit.run_folder import RunFolder, check_run_id
from bias_audit.scoring.tasks import TEXT, Scoring
from bias_audit.stats.metrics import NEUTRAL, OVERALL, answer_values, compared_pairs, group_pairs
from bias_audit.stats.per_case import GroupAnswers, case_change
from bias_audit.stats.statistics import Comparison, benjamini_hochberg
from bias_audit.stats.within_case import case_summaries, level_summaries, paired_change
from bias_audit.tables import Tables, open_tables
from bias_audit.thresholds import Thresholds

log = logging.getLogger(__name__)

FINDINGS = ("reduced", "increased", "unchanged", "inconclusive")
# The run settings listed when they differ between the two audits.
SETTINGS = (
    "suite_hash",
    "suite_source",
    "provider",
    "model",
    "api_version",
    "samples",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
)


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


@dataclass
class AuditComparison:
    baseline: str
    candidate: str
    suite: str
    changes: list[Change]
    differences: list[tuple[str, Any, Any]]  # settings that differ: (name, baseline, candidate)
    conclusion: str
    thresholds: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, Any] = field(default_factory=dict)  # the answers behind the largest change

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "suite": self.suite,
            "conclusion": self.conclusion,
            "differences": [{"setting": n, "baseline": b, "candidate": c} for n, b, c in self.differences],
            "changes": [c.as_row() for c in self.changes],
            "thresholds": self.thresholds,
        }


def compare_audits(baseline: str, candidate: str, warehouse: Path | str | Tables) -> AuditComparison:
    """The comparison of two analysed runs; a bad pair is a UserInputError that names it."""
    if baseline == candidate:
        raise UserInputError(f"baseline and candidate are the same run ({baseline!r})", field="--candidate")
    tables = open_tables(warehouse)
    runs = {}
    for flag, run_id in (("--baseline", baseline), ("--candidate", candidate)):
        rows = list(tables.rows("runs", run_id))
        if not rows:
            raise UserInputError(
                f"no analysed run {run_id!r} in the warehouse; run analyze first",
                source=str(tables.location),
                field=flag,
            )
        runs[run_id] = rows[0]
    if runs[baseline]["suite"] != runs[candidate]["suite"]:
        raise UserInputError(
            f"runs of different suites cannot be compared: {baseline!r} audited "
            f"{runs[baseline]['suite']!r}, {candidate!r} audited {runs[candidate]['suite']!r}",
            field="--candidate",
        )
    features = {run_id: list(tables.rows("features", run_id)) for run_id in runs}
    values = {run_id: answer_values(rows) for run_id, rows in features.items()}
    thresholds = Thresholds.from_json(runs[candidate].get("thresholds"))
    changes = changes_between(values[baseline], values[candidate], run_scoring(runs[candidate]))
    judge_changes(changes, thresholds)
    differences = [
        (name, runs[baseline].get(name), runs[candidate].get(name))
        for name in SETTINGS
        if runs[baseline].get(name) != runs[candidate].get(name)
    ]
    responses = {run_id: list(tables.rows("responses", run_id)) for run_id in runs}  # read once
    prompts = {run_id: _system_prompts(rows) for run_id, rows in responses.items()}
    if prompts[baseline] != prompts[candidate]:
        differences.append(("system_prompt", prompts[baseline], prompts[candidate]))
    return AuditComparison(
        baseline,
        candidate,
        str(runs[candidate]["suite"]),
        changes,
        differences,
        conclusion(changes),
        thresholds.as_dict(),
        _examples(changes, thresholds, responses, features, (baseline, candidate)),
    )


# Metrics whose answers can be shown as the reason for a change: continuous per-answer values.
EXAMPLE_METRICS = CONTINUOUS


def _examples(
    changes: list[Change],
    thresholds: Thresholds,
    responses: dict[str, list[dict]],
    features: dict[str, list[dict]],
    order: tuple[str, str],
    per_run: int = 3,
) -> dict[str, Any]:
    """The answers behind the largest change (relative to its fail threshold): group a's answers in
    the baseline and in the candidate (``order``), those that push the gap in the change's
    direction first (the baseline's from the other end)."""
    candidates = [
        c
        for c in changes
        if c.scope == OVERALL and c.metric in EXAMPLE_METRICS and c.change.difference is not None
    ]
    if not candidates:
        return {}
    top = max(candidates, key=lambda c: abs(c.change.difference) / thresholds.fail[c.metric])
    rising = top.change.difference > 0
    shown = []
    for run_id, highest in ((order[0], not rising), (order[1], rising)):
        texts = {r["request_key"]: r["text"] for r in responses[run_id]}
        rows = [f for f in features[run_id] if f["variant"] == top.group_a and f.get(top.metric) is not None]
        rows.sort(key=lambda f: f[top.metric], reverse=highest)
        shown += [
            {
                "run_id": run_id,
                "case_id": f["case_id"],
                "value": f[top.metric],
                "text": texts.get(f["request_key"]),
            }
            for f in rows[:per_run]
        ]
    return {"label": top.label, "group": top.group_a, "answers": shown}


def _system_prompts(responses: list[dict]) -> str | None:
    prompts = sorted({str(r["system_prompt"]) for r in responses})
    return " | ".join(prompts) if prompts else None


def run_scoring(run: Mapping[str, Any]) -> Scoring:
    """What a run's analysis compares (scoring/tasks.py), from its row of the runs table."""
    task = run.get("task")
    return Scoring.of(json.loads(task) if task else None)


def changes_between(baseline: list[dict], candidate: list[dict], scoring: Scoring = TEXT) -> list[Change]:
    """Every estimable change between two audits' per-answer values (``metrics.answer_values``),
    before multiple-testing correction; the metrics and pairs of the suite's ``scoring``."""
    groups = sorted({v["variant"] for v in baseline} & {v["variant"] for v in candidate})
    changes = []
    for metric in scoring.metrics:
        for a, b in compared_pairs(scoring, groups):
            before = case_summaries(_by_case(baseline, a, metric), _by_case(baseline, b, metric))
            after = case_summaries(_by_case(candidate, a, metric), _by_case(candidate, b, metric))
            change = paired_change(before, after) if before and after else None
            if change is not None:
                changes.append(Change(metric, a, b, _mean_gap(before), _mean_gap(after), change))
    if scoring.words:
        before = level_summaries(_by_case(baseline, NEUTRAL, "gender_skew"))
        after = level_summaries(_by_case(candidate, NEUTRAL, "gender_skew"))
        if before and after and (change := paired_change(before, after)) is not None:
            changes.append(
                Change("gender_skew", NEUTRAL, "zero", _mean_gap(before), _mean_gap(after), change)
            )
    return changes + case_changes(baseline, candidate, scoring)


def case_changes(baseline: list[dict], candidate: list[dict], scoring: Scoring = TEXT) -> list[Change]:
    """The change of each case's gap, for every case, metric and pair both audits answered."""
    changes = []
    for case in sorted({v["case_id"] for v in baseline} & {v["case_id"] for v in candidate}):
        before = [v for v in baseline if v["case_id"] == case]
        after = [v for v in candidate if v["case_id"] == case]
        groups = sorted({v["variant"] for v in before} & {v["variant"] for v in after})
        pairs = (
            [(a, b) for a, b in scoring.pairs if {a, b} <= set(groups)]
            if scoring.pairs is not None
            else group_pairs(groups)
        )
        for metric in scoring.metrics:
            for a, b in pairs:
                then = tuple(GroupAnswers.of(_values(before, g, metric)) for g in (a, b))
                now = tuple(GroupAnswers.of(_values(after, g, metric)) for g in (a, b))
                change = case_change(then, now, rates=metric in RATES)  # type: ignore[arg-type]
                if change.difference is not None:
                    gaps = (then[0].mean - then[1].mean, now[0].mean - now[1].mean)
                    changes.append(Change(metric, a, b, *gaps, change, scope=case))
    return changes


def _values(values: list[dict], variant: str, metric: str) -> list[float]:
    return [v[metric] for v in values if v["variant"] == variant and v[metric] is not None]


def _mean_gap(summaries) -> float:
    return float((summaries.mean_a - summaries.mean_b).mean())


def _by_case(values: list[dict], variant: str, metric: str) -> dict[str, list[float]]:
    by_case: dict[str, list[float]] = {}
    for value in values:
        if value["variant"] == variant and value[metric] is not None:
            by_case.setdefault(value["case_id"], []).append(value[metric])
    return by_case


def judge_changes(changes: list[Change], thresholds: Thresholds) -> None:
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


def write_comparison(result: AuditComparison, runs: Path) -> tuple[Path, Path]:
    """comparison.json and comparison.html in the candidate's run folder."""
    folder = RunFolder.of(runs, result.candidate)
    folder.path.mkdir(parents=True, exist_ok=True)
    folder.comparison.write_text(json.dumps(result.as_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    # beside the candidate's report: the baseline's report is in the sibling folder
    html = render_comparison(result, f"../{result.baseline}/report.html", "report.html")
    folder.comparison_page.write_text(html, encoding="utf-8")
    return folder.comparison, folder.comparison_page


def render_comparison(result: AuditComparison, baseline_report: str, candidate_report: str) -> str:
    """The comparison's page; the two reports' addresses as the page will be served."""
    return (
        environment()
        .get_template("comparison.html.j2")
        .render(
            result=result,
            metrics=METRICS,
            fmt=fmt,
            baseline_report=baseline_report,
            candidate_report=candidate_report,
        )
    )


def compare_and_record(
    baseline: str, candidate: str, runs: Path, warehouse: Path | str | Tables
) -> tuple[AuditComparison, Path, Path]:
    """Compare two audits and record the result: comparison.json and its page in the candidate's
    folder, its rows in the ``comparisons`` table. A bad pair fails before anything is written."""
    result = compare_audits(baseline, candidate, warehouse)
    data, page = write_comparison(result, runs)
    store_comparison(result, warehouse)
    return result, data, page


COMPARISONS_DDL = (
    "run_id STRING, baseline STRING, metric STRING, group_a STRING, group_b STRING, "
    "baseline_gap DOUBLE, candidate_gap DOUBLE, change DOUBLE, ci_low DOUBLE, ci_high DOUBLE, "
    "p_value DOUBLE, p_adjusted DOUBLE, cases BIGINT, finding STRING"
)


def store_comparison(result: AuditComparison, warehouse: Path | str | Tables, spark=None) -> None:
    """The ``comparisons`` table: one row per change, partitioned by the candidate (``run_id``) and
    the baseline, so comparing the same pair again replaces its rows and nothing else."""
    from bias_audit.analyze.spark import get_spark

    spark = spark or get_spark()
    rows = [
        {
            "run_id": result.candidate,
            "baseline": result.baseline,
            "metric": c.metric,
            "group_a": c.group_a,
            "group_b": c.group_b,
            "baseline_gap": c.baseline_gap,
            "candidate_gap": c.candidate_gap,
            "change": c.change.difference,
            "ci_low": c.change.ci_low,
            "ci_high": c.change.ci_high,
            "p_value": c.change.p_value,
            "p_adjusted": c.p_adjusted,
            "cases": c.change.cases,
            "finding": c.finding,
        }
        for c in result.changes
    ]
    frame = spark.createDataFrame(rows, COMPARISONS_DDL)
    open_tables(warehouse).write(frame, "comparisons", partition_by=("run_id", "baseline"))


def resolve_baseline(spec: str | None, run_id: str, warehouse: Path | str | Tables) -> str | None:
    """The run to compare ``run_id`` with: none, the previous audit of the same suite, provider and
    model (none if this is the first), or a named run."""
    if not spec or spec == "none":
        return None
    if spec == "previous":
        return previous_audit(run_id, warehouse)
    return check_run_id(spec)


def previous_audit(run_id: str, warehouse: Path | str | Tables) -> str | None:
    """The last analysed run of the same suite, provider and model generated before ``run_id``."""
    from bias_audit.trends import read_runs

    runs = read_runs(warehouse)  # oldest first
    mine = next((r for r in runs if r["run_id"] == run_id), None)
    if mine is None:
        return None
    key = (mine["suite"], mine["provider"], mine["model"])
    earlier = [
        r["run_id"]
        for r in runs
        if (r["suite"], r["provider"], r["model"]) == key and (r["at"], r["run_id"]) < (mine["at"], run_id)
    ]
    return earlier[-1] if earlier else None


def summary(result: AuditComparison, page: Path) -> dict[str, Any]:
    """What the report, the gate and XCom need of a comparison."""
    return {
        "baseline": result.baseline,
        "conclusion": result.conclusion,
        "increased": [c.label for c in result.changes if c.finding == "increased"],
        "reduced": [c.label for c in result.changes if c.finding == "reduced"],
        "page": str(page),
    }
