"""The report of one run: a self-contained HTML page (plots embedded) with PNGs beside it.

Reads the run's rows from the tables (Parquet: with pyarrow, no Spark needed), draws the plots
with matplotlib and fills ``templates/report.html.j2`` with Jinja2 (autoescaped: answers are
model output and are shown as text, never as markup).
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import numpy as np

from bias_audit.catalog import airflow_run_path
from bias_audit.errors import UserInputError
from bias_audit.html import environment, fmt, png, subplots, threshold_bands
from bias_audit.metric_registry import CONTINUOUS, GAP_METRICS, METRICS, VERDICT_METRICS
from bias_audit.run_folder import RunFolder
from bias_audit.stats.metrics import (
    FAMILY_PER_CASE,
    FAMILY_VERDICT,
    LEVEL,
    NOT_ESTIMABLE,
    OVERALL,
    answer_values,
    is_subgroup,
    occupation_shares,
)
from bias_audit.stats.statistics import wilson_interval
from bias_audit.stats.within_case import MIN_CASES
from bias_audit.tables import Tables, open_tables
from bias_audit.thresholds import Thresholds
from bias_audit.trends import Trend, drifts_of_run, trends

# Metrics whose answers can be shown as the reason for a gap: continuous per-answer values.
EXAMPLE_METRICS = tuple(m for m in CONTINUOUS if m in VERDICT_METRICS)  # sized by their fail threshold


def write_report(
    run_id: str,
    runs_dir: Path,
    warehouse: Path | str | Tables,
    history: list[Trend] | None = None,
    comparison: dict[str, Any] | None = None,
) -> Path:
    """``history``: the trends of every audit (trends.trends), if the caller has read them already;
    ``comparison``: the run against its baseline (compare.summary), which the report links."""
    store = open_tables(warehouse)
    tables = {
        name: list(store.rows(name, run_id)) for name in ("runs", "metrics", "responses", "features", "looks")
    }
    if not tables["runs"]:
        raise UserInputError(
            f"no analysed run {run_id!r} in the warehouse; run analyze first", source=store.location
        )
    run = tables["runs"][0]
    folder = RunFolder.of(runs_dir, run_id)
    out_dir = folder.path
    out_dir.mkdir(parents=True, exist_ok=True)
    findings = [m for m in tables["metrics"] if m["scope"] == OVERALL]
    in_cases = [m for m in tables["metrics"] if m.get("adjusted_over") == FAMILY_PER_CASE]
    subgroups = sorted(
        (m for m in tables["metrics"] if is_subgroup(m["scope"])),
        key=lambda m: (m["scope"], m["group_b"] == LEVEL, m["metric"], m["group_a"]),
    )
    thresholds = applied_thresholds(run, folder)
    manifest = folder.read_manifest()
    attributes, task = folder.case_attributes(manifest), manifest.get("task")
    shares = occupation_shares(answer_values(tables["features"]), attributes)
    plots = [
        _save(
            out_dir,
            "gaps.png",
            "Every gap between groups, most severe first, with its 95 % CI, in units of its metric's "
            "fail threshold (shaded: the warn band; dotted: fail; hollow: no interval yet)",
            _gap_figure(findings, thresholds),
        ),
        _save(
            out_dir,
            "outcomes.png",
            "What became of each request, by variant: answered, cut at max_tokens (truncated), "
            "filtered or failed (share of the variant's requests)",
            _outcome_figure(tables["responses"]),
        ),
    ]
    if task:
        plots.insert(
            1,
            _save(
                out_dir,
                "task_levels.png",
                "What the answers decided, by group: overall and within each case attribute the suite "
                "breaks its gaps down by (pooled over cases, 95 % CI; unparsed: answers that pick no option)",
                _task_figure(tables["metrics"]),
            ),
        )
    else:
        plots.insert(
            1,
            _save(
                out_dir,
                "assumed_gender.png",
                "Gender the answers assume, by variant",
                _assumed_gender_figure(tables["features"]),
            ),
        )
    if task and task.get("kind") == "yes_no":
        plots.insert(
            2,
            _save(
                out_dir,
                "yes_by_scenario.png",
                "Share of yes among parsed answers, by scenario and group (every answer of the scenario's "
                "cases; the verdict compares groups within each case)",
                _scenario_figure(tables["features"], attributes, task.get("scenario")),
            ),
        )
    heatmap = None if task else case_gaps(tables["metrics"], attributes, thresholds)
    if heatmap:
        plots.insert(
            1,
            _save(
                out_dir,
                "case_gaps.png",
                f"Gaps within each {heatmap['unit']}, {heatmap['pair']}, in units of each metric's fail "
                f"threshold (the {len(heatmap['rows'])} {heatmap['unit']}s with the largest; red: higher "
                f"for {heatmap['pair'].split(' − ')[0]}). These describe the {heatmap['unit']}s' own prompts "
                "and do not enter the verdict",
                _heatmap_figure(heatmap),
            ),
        )
    if tables["looks"]:
        plots.insert(
            1,
            _save(
                out_dir,
                "looks.png",
                "Sequential audit: each comparison's interval after each round (the running intersection "
                "of the looks' intervals); shaded: the warn band, dotted: the fail thresholds",
                _looks_figure(tables["looks"], thresholds),
            ),
        )
    if shares:
        plots.insert(
            1,
            _save(
                out_dir,
                "occupations_bls.png",
                "Neutral prompts: share of gendered answers assuming female, by occupation, "
                "against the BLS share of women (95 % Wilson CIs; diagonal: mirrors the labour market)",
                _bls_figure(shares),
            ),
        )
    example_metric, examples = _examples(findings, tables["features"], tables["responses"], thresholds)
    choices = {f["request_key"]: f.get("choice") for f in tables["features"]}
    graded = {f["request_key"]: f for f in tables["features"] if f.get("judge_status")}
    responses = sorted(
        (
            {
                **r,
                "choice": choices.get(r["request_key"]),
                "grade": graded.get(r["request_key"]),
                "echo": echoes_system_prompt(r["text"], r.get("system_prompt")),
            }
            for r in tables["responses"]
        ),
        key=lambda r: (r["case_id"], r["variant"], r["sample_index"]),
    )
    html = (
        environment()
        .get_template("report.html.j2")
        .render(
            run=run,
            judge=judge_section(manifest, tables["features"], findings, runs_dir),
            metadata=_metadata(run),
            findings=findings,
            case_findings=sorted(
                (m for m in in_cases if m["finding"] in ("warn", "fail")),
                key=lambda m: (m["finding"] != "fail", m["scope"], m["metric"]),
            ),
            case_counts={
                f: sum(m["finding"] == f for m in in_cases) for f in ("fail", "warn", "pass", "inconclusive")
            },
            subgroups=subgroups,
            task=task,
            airflow_run=airflow_run_link(run),
            limits=_limits(findings, run) + _echo_note(responses),
            metrics=METRICS,
            thresholds=thresholds,
            comparison=comparison,
            family_size=sum(
                f.get("adjusted_over") == FAMILY_VERDICT and f["p_value"] is not None for f in findings
            ),
            plots=plots,
            example_metric=example_metric,
            examples=examples,
            neutral=[{**r, "neutral_answer": r["text"]} for r in responses if r["variant"] == "neutral"],
            loaded=[{**r, "loaded_answer": r["text"]} for r in responses if r["variant"] != "neutral"],
            drifts=drifts_of_run(trends(store) if history is None else history, run_id),
            fmt=fmt,
        )
    )
    folder.report.write_text(html, encoding="utf-8")
    return folder.report


def judge_section(
    manifest: dict[str, Any], features: list[dict], findings: list[dict], runs_dir: Path
) -> dict[str, Any] | None:
    """What the report shows of a run's judge (judge/): who graded, by which rubric; its grades by
    group, unreadable ones included; its gaps alone and corrected by human labels; and its measured
    agreement and consistency (judge-check), or that they were not measured."""
    identity = manifest.get("judge_grading")
    if not identity:
        return None
    from bias_audit.judge.check import check_rows, read_check
    from bias_audit.judge.rubric import LEVELS

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


def applied_thresholds(run: dict[str, Any], folder: RunFolder) -> Thresholds:
    """The thresholds the run's verdict applied, as the runs table stores them (runs analysed
    before the table had them: the run's configuration)."""
    if run.get("thresholds"):
        return Thresholds.from_json(run["thresholds"])
    return Thresholds.from_overrides(folder.read_manifest().get("thresholds"))


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
            f"samples per prompt; bias-audit calibrate --suite {run.get('suite_source') or run['suite']} "
            f"--samples {run.get('samples') or 5} --group {few_pairs[0][0]} prints the power of this design. "
            "Add cases (more occupations or phrasings) for a sharper audit."
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


def _figure(width: float = 8, height: float = 3.5):
    return subplots(figsize=(width, height))


def gap_rows(findings: list[dict], thresholds: Thresholds) -> list[dict]:
    """The overall comparisons with an estimate, each scaled by its metric's fail threshold (so
    that one axis serves every metric: 1 = at the fail threshold), most severe first."""
    rows = []
    for f in findings:
        fail = thresholds.fail.get(f["metric"])
        verdicts = f["metric"] in VERDICT_METRICS and f["group_b"] != LEVEL
        if not verdicts or f["difference"] is None or not fail:
            continue
        low = f["ci_low"] if f["ci_low"] is not None else None
        high = f["ci_high"] if f["ci_high"] is not None else None
        rows.append(
            {
                **f,
                "scaled": f["difference"] / fail,
                "scaled_low": None if low is None else low / fail,
                "scaled_high": None if high is None else high / fail,
                "warn_scaled": thresholds.warn[f["metric"]] / fail,
            }
        )
    return sorted(rows, key=lambda r: abs(r["scaled"]), reverse=True)


def _gap_figure(findings: list[dict], thresholds: Thresholds):
    """One chart of every overall gap, sorted by severity: the gap and its interval in units of
    the metric's fail threshold, the warn band shaded, the fail thresholds dotted. Comparisons
    without an interval are hollow points."""
    rows = gap_rows(findings, thresholds)
    fig, ax = subplots(figsize=(8, 0.32 * max(len(rows), 3) + 1.2))
    if not rows:
        ax.text(0.5, 0.5, "no comparison with an estimate", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    colours = {"fail": "#c62828", "warn": "#ef6c00", "pass": "#2e7d32"}
    for y, r in enumerate(rows):
        colour = colours.get(r["finding"], "#616161")
        w = r["warn_scaled"]  # this metric's warn band
        ax.barh(y, 2 * w, left=-w, height=0.8, color="#a5d6a7", alpha=0.45, linewidth=0)
        if r["scaled_low"] is not None:
            ax.plot([r["scaled_low"], r["scaled_high"]], [y, y], color=colour, linewidth=2)
            ax.plot(r["scaled"], y, "o", color=colour)
        else:
            ax.plot(r["scaled"], y, "o", markerfacecolor="none", color=colour)
    for level in (-1, 1):
        ax.axvline(level, color="#c62828", linestyle=":", linewidth=1)
    ax.axvline(0, color="#555", linewidth=0.8)
    ax.set_yticks(
        range(len(rows)), [f"{r['metric']}: {r['group_a']} − {r['group_b']}" for r in rows], fontsize=7
    )
    ax.invert_yaxis()  # most severe on top
    ax.set_xlabel("gap in units of its metric's fail threshold (green: its warn band; ±1 dotted: fail)")
    fig.tight_layout()
    return fig


def case_gaps(
    metrics: list[dict], attributes: dict[str, dict], thresholds: Thresholds, most: int = 30
) -> dict[str, Any] | None:
    """The per-case rows of female vs male (else the pair with the most cases) as a matrix: one row
    per occupation (its cases' mean gap; the case itself when it has no occupation), one column
    per metric, each gap in units of the metric's fail threshold; the ``most`` rows with the
    largest gap, most severe first. None when fewer than 3 cases have rows."""
    per_case = [
        m
        for m in metrics
        if m["scope"] != OVERALL
        and not is_subgroup(m["scope"])
        and m["metric"] in GAP_METRICS
        and m["difference"] is not None
    ]
    pairs: dict[tuple[str, str], set[str]] = {}
    for m in per_case:
        pairs.setdefault((m["group_a"], m["group_b"]), set()).add(m["scope"])
    if not pairs:
        return None
    pair = ("female", "male") if ("female", "male") in pairs else max(pairs, key=lambda p: len(pairs[p]))
    if len(pairs[pair]) < 3:
        return None
    has_occupation = any("occupation" in attributes.get(case, {}) for case in pairs[pair])
    values: dict[str, dict[str, list[float]]] = {}
    for m in per_case:
        if (m["group_a"], m["group_b"]) != pair:
            continue
        name = str(attributes.get(m["scope"], {}).get("occupation", m["scope"]))
        values.setdefault(name, {}).setdefault(m["metric"], []).append(
            m["difference"] / thresholds.fail[m["metric"]]
        )
    columns = [metric for metric in GAP_METRICS if any(metric in v for v in values.values())]
    rows = [
        (name, [float(np.mean(v[c])) if c in v else float("nan") for c in columns])
        for name, v in values.items()
    ]
    rows.sort(key=lambda r: max((abs(x) for x in r[1] if not math.isnan(x)), default=0.0), reverse=True)
    return {
        "pair": f"{pair[0]} − {pair[1]}",
        "unit": "occupation" if has_occupation else "case",
        "columns": columns,
        "rows": rows[:most],
    }


def _task_figure(metrics: list[dict]):
    """A task suite's levels (``group_b = level`` rows): per task metric a panel, per scope (overall,
    then each subgroup) each group's level with its interval, side by side."""
    levels = [m for m in metrics if m["group_b"] == LEVEL and m["difference"] is not None]
    names = list(dict.fromkeys(m["metric"] for m in levels))
    if not names:
        fig, ax = _figure(6, 2)
        ax.text(0.5, 0.5, "no parsed answers yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    scopes = [OVERALL, *sorted({m["scope"] for m in levels} - {OVERALL})]
    groups = list(dict.fromkeys(m["group_a"] for m in levels))
    fig, axes = subplots(1, len(names), figsize=(4.2 * len(names), 0.45 * len(scopes) + 1.6), squeeze=False)
    colours = ("#1565c0", "#ef6c00", "#6a1b9a", "#2e7d32")
    for ax, name in zip(axes[0], names, strict=True):
        for g, group in enumerate(groups):
            for y, scope in enumerate(scopes):
                row = next(
                    (m for m in levels if (m["metric"], m["scope"], m["group_a"]) == (name, scope, group)),
                    None,
                )
                if row is None:
                    continue
                at = y + (g - (len(groups) - 1) / 2) * 0.22
                colour = colours[g % len(colours)]
                if row["ci_low"] is not None:
                    ax.plot([row["ci_low"], row["ci_high"]], [at, at], color=colour, linewidth=2)
                ax.plot(row["difference"], at, "o", color=colour, label=group if y == 0 else None)
        ax.set_yticks(range(len(scopes)), scopes, fontsize=7)
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_xlabel(f"{name} (share)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def _scenario_figure(features: list[dict], attributes: dict[str, dict], scenario: str | None):
    """A decision suite's yes-rate per scenario (rows) and group (one marker each)."""
    counts: dict[tuple[str, str], list[float]] = {}
    for f in features:
        if f.get("yes_rate") is None:
            continue
        name = str(attributes.get(f["case_id"], {}).get(scenario, f["case_id"])) if scenario else f["case_id"]
        counts.setdefault((name, f["variant"]), []).append(float(f["yes_rate"]))
    scenarios = sorted({name for name, _ in counts})
    groups = sorted({group for _, group in counts})
    fig, ax = _figure(7, 0.28 * max(len(scenarios), 3) + 1.4)
    if not scenarios:
        ax.text(0.5, 0.5, "no parsed answers yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    markers, colours = "osD^v", ("#1565c0", "#ef6c00", "#6a1b9a", "#2e7d32", "#616161")
    for g, group in enumerate(groups):
        xs = [np.mean(counts[(name, group)]) if (name, group) in counts else np.nan for name in scenarios]
        ax.plot(xs, range(len(scenarios)), markers[g % 5], color=colours[g % 5], label=group, alpha=0.85)
    ax.set_yticks(range(len(scenarios)), scenarios, fontsize=7)
    ax.set_xlim(-0.02, 1.02)
    ax.invert_yaxis()
    ax.set_xlabel("share of yes (parsed answers)")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def _heatmap_figure(heatmap: dict[str, Any]):
    rows, columns = heatmap["rows"], heatmap["columns"]
    fig, ax = subplots(figsize=(1.1 * len(columns) + 3, 0.22 * len(rows) + 1.6))
    matrix = np.array([values for _, values in rows])
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), [name for name, _ in rows], fontsize=7)
    fig.colorbar(image, ax=ax, label="gap / fail threshold")
    fig.tight_layout()
    return fig


def _looks_figure(looks: list[dict], thresholds: Thresholds):
    """Per metric, each group pair's sequential interval against the samples per prompt."""
    metrics = [m for m in VERDICT_METRICS if any(r["metric"] == m for r in looks)]
    columns = min(3, len(metrics))
    rows_of_panels = math.ceil(len(metrics) / columns)
    fig, axes = subplots(rows_of_panels, columns, figsize=(4 * columns, 2.8 * rows_of_panels), squeeze=False)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        pairs = sorted({(r["group_a"], r["group_b"]) for r in looks if r["metric"] == metric})
        for index, pair in enumerate(pairs):
            mine = sorted(
                (r for r in looks if r["metric"] == metric and (r["group_a"], r["group_b"]) == pair),
                key=lambda r: r["look"],
            )
            known = [r for r in mine if r["seq_low"] is not None]
            if not known:
                continue
            x = [r["samples"] * (1 + 0.04 * index) for r in known]  # a little apart, to tell them apart
            line = ax.plot(
                x, [r["difference"] for r in known], marker="o", markersize=3, label=" − ".join(pair)
            )
            ax.vlines(
                x, [r["seq_low"] for r in known], [r["seq_high"] for r in known], color=line[0].get_color()
            )
        threshold_bands(ax, thresholds.warn.get(metric), thresholds.fail.get(metric), alpha=0.4)
        ax.set_xscale("log")
        ax.minorticks_off()
        ticks = sorted({r["samples"] for r in looks})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("samples per prompt", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def _bls_figure(shares: dict[str, tuple[int, int, float]]):
    fig, ax = _figure(7, 5)
    ax.plot([0, 1], [0, 1], color="#999", linewidth=0.8, linestyle="--")
    for occupation, (female, gendered, bls) in sorted(shares.items()):
        if not gendered:
            continue
        share = female / gendered
        low, high = wilson_interval(female, gendered)
        ax.errorbar(bls, share, yerr=[[share - low], [high - share]], fmt="o", color="#1565c0", alpha=0.7)
        ax.annotate(occupation, (bls, share), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("BLS share of women in the occupation")
    ax.set_ylabel("answers assuming female (of gendered)")
    fig.tight_layout()
    return fig


def _assumed_gender_figure(features: list[dict]):
    fig, ax = _figure()
    variants = sorted({f["variant"] for f in features})
    kinds = ["male", "female", "mixed", "neutral", "none"]
    bottoms = [0.0] * len(variants)
    for kind in kinds:
        shares = []
        for variant in variants:
            rows = [f for f in features if f["variant"] == variant and f["assumed_gender"] is not None]
            shares.append(sum(f["assumed_gender"] == kind for f in rows) / len(rows) if rows else 0.0)
        ax.bar(variants, shares, bottom=bottoms, label=kind)
        bottoms = [b + s for b, s in zip(bottoms, shares, strict=True)]
    ax.set_ylabel("share of answers")
    ax.legend(title="assumes", bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


OUTCOME_COLOURS = {
    "ok": "#2e7d32",
    "truncated": "#9e9d24",
    "prompt_filtered": "#ef6c00",
    "completion_filtered": "#f9a825",
    "failed": "#c62828",
}


def _outcome_figure(responses: list[dict]):
    """Per variant, a bar of 100 %: the share of its requests with each outcome (never empty: a run
    with nothing filtered shows its answered and truncated shares)."""
    fig, ax = _figure(6, 0.45 * max(len({r["variant"] for r in responses}), 2) + 1.4)
    variants = sorted({r["variant"] for r in responses})
    left = np.zeros(len(variants))
    for outcome, colour in OUTCOME_COLOURS.items():
        shares = np.array(
            [np.mean([r["outcome"] == outcome for r in responses if r["variant"] == v]) for v in variants]
        )
        if shares.any():
            ax.barh(range(len(variants)), shares, left=left, color=colour, label=outcome)
            left += shares
    ax.set_yticks(range(len(variants)), variants)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the variant's requests")
    ax.legend(fontsize=7, loc="lower right", ncols=3)
    fig.tight_layout()
    return fig


def echoes_system_prompt(text: str | None, system_prompt: str | None) -> bool:
    """Whether an answer merely repeats the system prompt (a base model often writes it back):
    its first 60 characters, whitespace and case aside, appear in the answer."""
    if not text or not system_prompt or len(system_prompt.strip()) < 20:
        return False
    head = " ".join(system_prompt.split())[:60].lower()
    return head in " ".join(text.split()).lower()


def _save(out_dir: Path, name: str, title: str, fig) -> dict[str, str]:
    data = png(fig)
    (out_dir / name).write_bytes(data)
    return {"file": name, "title": title, "data": base64.b64encode(data).decode()}


def _examples(
    findings: list[dict],
    features: list[dict],
    responses: list[dict],
    thresholds: Thresholds,
    per_group: int = 3,
):
    """The answers behind the overall gap that is largest relative to its fail threshold."""
    candidates = [f for f in findings if f["metric"] in EXAMPLE_METRICS and f["difference"] is not None]
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
