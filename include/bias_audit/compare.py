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

Runs of different suites are not comparable, except a suite and its translation (a suite that
``translates`` another asks the same cases in another language): then the question is "is each
gap larger in the candidate's language?", asked of the metrics valid in both languages with the
same case-by-case test. Anything else may differ between the two — that is the point — and is
listed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bias_audit.analyze.spark import get_spark
from bias_audit.catalog import previous_audit, suite_family
from bias_audit.errors import UserInputError
from bias_audit.html import environment, fmt
from bias_audit.metric_info import LANGUAGES
from bias_audit.metric_registry import CONTINUOUS, METRICS
from bias_audit.report.context import amount, interval
from bias_audit.run_folder import RunFolder, check_run_id
from bias_audit.scoring.tasks import Scoring, run_scoring
from bias_audit.stats.change import Change, apply_change_thresholds, changes_between, conclusion
from bias_audit.stats.metrics import OVERALL, answer_values
from bias_audit.tables import Tables, open_tables
from bias_audit.thresholds import Thresholds

log = logging.getLogger(__name__)

SETTINGS = (
    "suite",
    "language",
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
class AuditComparison:
    baseline: str
    candidate: str
    suite: str
    changes: list[Change]
    differences: list[tuple[str, Any, Any]]  # settings that differ: (name, baseline, candidate)
    conclusion: str
    thresholds: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, Any] = field(default_factory=dict)  # the answers behind the largest change
    languages: str = ""  # a comparison across languages: what it compares and what it leaves out

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "suite": self.suite,
            "conclusion": self.conclusion,
            "differences": [{"setting": n, "baseline": b, "candidate": c} for n, b, c in self.differences],
            "changes": [c.as_row() for c in self.changes],
            "thresholds": self.thresholds,
            **({"languages": self.languages} if self.languages else {}),
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
    if not comparable(runs[baseline], runs[candidate]):
        raise UserInputError(
            f"runs of different suites cannot be compared: {baseline!r} audited "
            f"{runs[baseline]['suite']!r}, {candidate!r} audited {runs[candidate]['suite']!r} "
            "(a suite can be compared with itself and with its translation)",
            field="--candidate",
        )
    features = {run_id: list(tables.rows("features", run_id)) for run_id in runs}
    before, after = run_scoring(runs[baseline]), run_scoring(runs[candidate])
    values = {
        run_id: answer_values(rows, before if run_id == baseline else after)
        for run_id, rows in features.items()
    }
    thresholds = Thresholds.from_json(runs[candidate].get("thresholds"))
    scoring = replace(after, paired_with=before.language)
    changes = changes_between(values[baseline], values[candidate], scoring)
    apply_change_thresholds(changes, thresholds)
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
        _across_languages((runs[baseline], before), (runs[candidate], after), scoring),
    )


def comparable(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two runs of one suite, or of a suite and its translation (same cases, another language)."""
    return suite_family(a) == suite_family(b)


def _across_languages(
    baseline: tuple[dict[str, Any], Scoring], candidate: tuple[dict[str, Any], Scoring], scoring: Scoring
) -> str:
    """What a comparison across languages asks and leaves out, in words; "" within one language.
    Each run with its own scoring; ``scoring``: the comparison's, on the metrics valid in both."""
    (baseline, before), (candidate, after) = baseline, candidate
    if before.language == after.language:
        return ""
    names = LANGUAGES.get(before.language, before.language), LANGUAGES.get(after.language, after.language)
    left = [
        METRICS[m].shown for m in dict.fromkeys((*before.metrics, *after.metrics)) if m not in scoring.metrics
    ]
    said = (
        f"Across languages: the baseline audited {baseline['suite']} in {names[0]}, the candidate "
        f"{candidate['suite']} in {names[1]}, the same cases. 'increased' means a gap is larger in "
        f"{names[1]}, 'reduced' smaller, case by case. Only metrics valid in both languages are compared"
    )
    return said + (f"; left out: {', '.join(left)}." if left else ".")


# Metrics whose answers can be shown as the reason for a change: continuous per-answer values.
CHANGE_EXAMPLE_METRICS = CONTINUOUS


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
        if c.scope == OVERALL and c.metric in CHANGE_EXAMPLE_METRICS and c.change.difference is not None
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


def write_comparison(result: AuditComparison, runs: Path) -> tuple[Path, Path]:
    """comparison.json and comparison.html in the candidate's run folder."""
    folder = RunFolder.of(runs, result.candidate)
    folder.path.mkdir(parents=True, exist_ok=True)
    folder.comparison.write_text(json.dumps(result.as_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    # beside the candidate's report: the baseline's report is in the sibling folder
    html = render_comparison(result, f"../{result.baseline}/report.html", "report.html")
    folder.comparison_page.write_text(html, encoding="utf-8")
    return folder.comparison, folder.comparison_page


def render_comparison(
    result: AuditComparison, baseline_report: str, candidate_report: str, index_href: str = "../../"
) -> str:
    """The comparison's page; the two reports' and the runs list's addresses as the page will be
    served (the file in the candidate's run folder: two levels below the list)."""
    return (
        environment()
        .get_template("comparison.html.j2")
        .render(
            result=result,
            metrics=METRICS,
            fmt=fmt,
            baseline_report=baseline_report,
            candidate_report=candidate_report,
            index_href=index_href,
            amount=amount,
            interval=interval,
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


def summary(result: AuditComparison, page: Path) -> dict[str, Any]:
    """What the report, the gate and XCom need of a comparison."""
    return {
        "baseline": result.baseline,
        "conclusion": result.conclusion,
        "increased": [c.label for c in result.changes if c.finding == "increased"],
        "reduced": [c.label for c in result.changes if c.finding == "reduced"],
        "page": str(page),
    }
