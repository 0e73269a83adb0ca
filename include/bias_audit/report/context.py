"""What the report's template is filled with, from the run's data (read.py) and its figures: the
metadata, findings, limits of the design, the judge's section, the answers behind the largest gap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bias_audit.catalog import airflow_run_path
from bias_audit.html import fmt, marked
from bias_audit.judge.check import check_rows, read_check
from bias_audit.judge.rubric import LEVELS
from bias_audit.metric_info import LANGUAGES
from bias_audit.metric_registry import CONTINUOUS, GAP_METRICS, METRICS, RATES, VERDICT_METRICS, left_out
from bias_audit.report.read import RunData
from bias_audit.stats.metrics import (
    FAMILY_VERDICT,
    NOT_ESTIMABLE,
)
from bias_audit.stats.within_case import MIN_CASES
from bias_audit.tasks import KINDS
from bias_audit.thresholds import Thresholds

# Metrics whose answers can be shown as the reason for a gap: continuous per-answer values.
GAP_EXAMPLE_METRICS = tuple(m for m in CONTINUOUS if m in VERDICT_METRICS)  # sized by their fail threshold


def judge_section(
    manifest: dict[str, Any], features: list[dict], findings: list[dict], runs_dir: Path
) -> dict[str, Any] | None:
    """What the report shows of a run's judge (judge/): who graded, by which rubric; its grades by
    group, unreadable ones included; its gaps alone and corrected by human labels; and its measured
    agreement and consistency (judge-check), or that they were not measured."""
    identity = manifest.get("judge_grading")
    if not identity:
        return None

    columns = [*map(str, LEVELS), "unparseable", "filtered", "failed", "not graded"]
    counts: dict[str, dict[str, int]] = {}
    for row in features:
        status = row.get("judge_status")
        if status == "ok":
            column = str(int(row["stereotyping"]))
        elif status is None:
            column = "not graded"  # no text to grade (filtered, failed), or graded by another judge
        else:
            column = status
        counts.setdefault(row["variant"], dict.fromkeys(columns, 0))[column] += 1
    check = read_check(runs_dir, identity)
    return {
        "identity": identity,
        "columns": columns,
        "counts": sorted(counts.items()),
        "gaps": [f for f in findings if f["metric"] in ("stereotyping", "stereotyping_ppi")],
        "labelled": any(f["metric"] == "stereotyping_ppi" for f in findings),
        "check": check,
        "check_rows": check_rows(check) if check else [],
    }


def airflow_run_link(run: dict[str, Any]) -> str | None:
    """The Airflow DAG run that made the audit, relative to the report as the audit pages serve it
    (``<Airflow>/bias-audit/runs/<run>/report.html``), so it holds under any Airflow base URL."""
    path = airflow_run_path(run)
    return f"../../../{path}" if path else None


# Below this many cases a comparison can be decided only when the gap is large and the same in
# every case (the t multiplier is 2.26 at 10 cases and grows fast below).
FEW_CASES = 10


def _limits(findings: list[dict], run: dict[str, Any]) -> list[str]:
    """What this run's design can and cannot tell, in words: comparisons that are not estimable,
    rest on too few cases, or on few enough that only large, consistent gaps can be decided."""
    tested = [f for f in findings if f["metric"] in GAP_METRICS]
    lines = []
    for finding in tested:
        if finding["finding"] == NOT_ESTIMABLE and finding["metric"] == tested[0]["metric"]:
            lines.append(f"{finding['group_a']} vs {finding['group_b']} is not estimable: {finding['note']}.")
    by_pair: dict[tuple[str, str], int] = {}
    for finding in tested:
        if finding.get("cases"):
            by_pair[(finding["group_a"], finding["group_b"])] = finding["cases"]
    too_few = [f"{a} vs {b} ({n})" for (a, b), n in by_pair.items() if n < MIN_CASES]
    few_pairs = [(a, b, n) for (a, b), n in by_pair.items() if MIN_CASES <= n < FEW_CASES]
    few = [f"{a} vs {b} ({n})" for a, b, n in few_pairs]
    if too_few:
        lines.append(
            f"Too few cases to decide (at least {MIN_CASES} are needed): {', '.join(too_few)}. "
            "These comparisons stay inconclusive however many samples are drawn, so this suite "
            "cannot give a pass."
        )
    if few:
        lines.append(
            f"Few cases: {', '.join(few)}. The case is the unit of uncertainty, so with fewer than "
            f"{FEW_CASES} cases only large gaps that hold in every case can be decided, even at 50 "
            f"samples per prompt; the command bias-audit calibrate --suite "
            f"{run.get('suite_source') or run['suite']} --samples {run.get('samples') or 5} --group "
            f"{few_pairs[0][0]}, run where the project is installed (make setup in its repository), prints "
            "the power of this design. "
            "Add cases (more occupations or phrasings) for a sharper audit."
        )
    return lines


def language_note(run: dict[str, Any]) -> list[str]:
    """What a run in a language other than English did not measure, and why; how it read gender."""
    language = run.get("language") or "en"
    if language == "en":
        return []
    task = (json.loads(run["task"]).get("kind") if run.get("task") else None) or "text"
    missing = left_out(task, language, judged=bool(run.get("judge_model")))
    name = LANGUAGES.get(language, language)
    lines = []
    if missing:
        reasons = "; ".join(f"{METRICS[m].shown} ({m}): {why}" for m, why in missing.items())
        lines.append(
            f"The answers are in {name}, so some metrics were left out, never computed on them: {reasons}."
        )
    if language == "es" and task == "text":
        lines.append(
            "The gender an answer assumes is read from Spanish agreement (determiners, noun forms, "
            "adjectives after a copula, él/ella), generic masculine plurals, doubled and inclusive "
            "forms counted as neutral (scoring/spanish.py; 99.5 % on the project's labelled corpus, "
            "docs/metrics.md)."
        )
    return lines


def _echo_note(responses: list[dict]) -> list[str]:
    """A line for the report when answers repeat the system prompt instead of answering."""
    echoed: dict[str, int] = {}
    for r in responses:
        if r["echo"]:
            echoed[r["variant"]] = echoed.get(r["variant"], 0) + 1
    if not echoed:
        return []
    counts = ", ".join(f"{variant} {n}" for variant, n in sorted(echoed.items()))
    return [
        f"{sum(echoed.values())} answer(s) repeat the system prompt instead of answering ({counts}); "
        "they are marked in the answer tables below. Their words are the prompt's, not the model's "
        "view of the group."
    ]


def _metadata(run: dict[str, Any]) -> list[tuple[str, Any]]:
    names = (
        "provider",
        "model",
        "api_version",
        "suite",
        "suite_hash",
        "suite_source",
        "language",
        "mode",
        "samples",
        "max_samples",
        "stop_reason",
        "rounds",
        "budget_requests",
        "budget_tokens",
        "temperature",
        "max_tokens",
        "responses",
        "prompt_tokens",
        "completion_tokens",
        "first_response_at",
        "analyzed_at",
    )
    outcomes = ", ".join(f"{k.removeprefix('n_')} {v}" for k, v in run.items() if k.startswith("n_") and v)
    shown = [(name, run.get(name)) for name in names if run.get(name) is not None or name in _ALWAYS]
    return [*shown, ("outcomes", outcomes)]


# Shown even when empty (the rest of the metadata only when the run has it, e.g. a sequential run's).
_ALWAYS = ("provider", "model", "suite", "samples", "responses")


def echoes_system_prompt(text: str | None, system_prompt: str | None) -> bool:
    """Whether an answer merely repeats the system prompt (a base model often writes it back):
    its first 60 characters, whitespace and case aside, appear in the answer."""
    if not text or not system_prompt or len(system_prompt.strip()) < 20:
        return False
    head = " ".join(system_prompt.split())[:60].lower()
    return head in " ".join(text.split()).lower()


def _examples(
    findings: list[dict],
    features: list[dict],
    responses: list[dict],
    thresholds: Thresholds,
    per_group: int = 3,
):
    """The answers behind the overall gap that is largest relative to its fail threshold."""
    candidates = [f for f in findings if f["metric"] in GAP_EXAMPLE_METRICS and f["difference"] is not None]
    if not candidates:
        return None, []
    top = max(candidates, key=lambda f: abs(f["difference"]) / thresholds.fail[f["metric"]])
    texts = {r["request_key"]: r["text"] for r in responses}
    examples = []
    for group, highest in ((top["group_a"], top["difference"] > 0), (top["group_b"], top["difference"] <= 0)):
        rows = [f for f in features if f["variant"] == group and f[top["metric"]] is not None]
        rows.sort(key=lambda f: f[top["metric"]], reverse=highest)
        examples += [
            {**f, "value": f[top["metric"]], "text": texts.get(f["request_key"])} for f in rows[:per_group]
        ]
    return f"{top['metric']} ({top['group_a']} vs {top['group_b']})", examples


def report_context(
    data: RunData, plots: list[dict[str, str]], drifts: list, comparison: dict[str, Any] | None
) -> dict[str, Any]:
    """Everything templates/report.html.j2 shows, from the run's data and its drawn figures."""
    findings, in_cases = data.findings, data.in_cases
    example_metric, examples = _examples(findings, data.features, data.responses, data.thresholds)
    responses = _answers(data)
    return {
        "run": data.run,
        "judge": judge_section(data.manifest, data.features, findings, data.folder.path.parent),
        "metadata": _metadata(data.run),
        "findings": findings,
        "case_findings": sorted(
            (m for m in in_cases if m["finding"] in ("warn", "fail")),
            key=lambda m: (m["finding"] != "fail", m["scope"], m["metric"]),
        ),
        "case_counts": {
            f: sum(m["finding"] == f for m in in_cases) for f in ("fail", "warn", "pass", "inconclusive")
        },
        "subgroups": data.subgroups,
        "task": data.task,
        "subgroup_note": KINDS[data.task_kind].subgroup_note if data.task_kind in KINDS else "",
        "summary_figures": KINDS[data.task_kind].summary(data) if data.task_kind in KINDS else [],
        "airflow_run": airflow_run_link(data.run),
        "limits": _limits(findings, data.run) + language_note(data.run) + _echo_note(responses),
        # a suite made by suites from-prompts: where its prompts came from, the review file kept
        "own_prompts": data.manifest.get("generated_from"),
        "metrics": METRICS,
        "thresholds": data.thresholds,
        "comparison": comparison,
        "family_size": sum(
            f.get("adjusted_over") == FAMILY_VERDICT and f["p_value"] is not None for f in findings
        ),
        "plots": plots,
        "example_metric": example_metric,
        "examples": examples,
        "neutral": [{**r, "neutral_answer": r["text"]} for r in responses if r["variant"] == "neutral"],
        "loaded": [{**r, "loaded_answer": r["text"]} for r in responses if r["variant"] != "neutral"],
        "drifts": drifts,
        "fmt": fmt,
        "marked": marked,
        "amount": amount,
        "interval": interval,
        "level": level,
    }


def _answers(data: RunData) -> list[dict]:
    """Every answer with its parsed choice, its grade and whether it echoes the system prompt, in
    case, variant and sample order."""
    choices = {f["request_key"]: f.get("choice") for f in data.features}
    evidence = {f["request_key"]: f.get("gender_evidence") for f in data.features}
    graded = {f["request_key"]: f for f in data.features if f.get("judge_status")}
    return sorted(
        (
            {
                **r,
                "choice": choices.get(r["request_key"]),
                "evidence": evidence.get(r["request_key"]),
                "grade": graded.get(r["request_key"]),
                "echo": echoes_system_prompt(r["text"], r.get("system_prompt")),
            }
            for r in data.responses
        ),
        key=lambda r: (r["case_id"], r["variant"], r["sample_index"]),
    )


def amount(metric: str, value: float | None, signed: bool = True) -> str:
    """A gap (or a threshold, unsigned) as people read it: a rate's in percentage points
    ("+8.3 points"), another metric's in its own unit; "—" for none."""
    if value is None:
        return "—"
    if metric in RATES:
        return f"{value * 100:+.1f} points" if signed else f"{value * 100:.3g} points"
    return f"{value:+.3g}" if signed else fmt(value)


def interval(metric: str, low: float | None, high: float | None) -> str:
    """A 95 % interval the one way the pages show it: "low … high", or "—" when there is none."""
    if low is None or high is None:
        return "—"
    return f"{amount(metric, low)} … {amount(metric, high)}"


def level(metric: str, value: float | None) -> str:
    """A group's own level: a rate in percent, another metric as a number."""
    if value is None:
        return "—"
    return f"{value * 100:.1f} %" if metric in RATES else fmt(value)
