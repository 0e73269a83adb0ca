"""Trends across audits: each overall metric of the same suite and model over time, with drift.

A *series* is one overall comparison (metric, group_a vs group_b) across the runs of one suite
on one provider and model, in the order the runs were generated. A point *drifts* when its
estimate lies outside the 95 % CI of the previous point that has one: the metric moved by more
than the previous audit's own uncertainty. (Not a test of its own: with many metrics, some
drift by chance; a drift is a reason to look, the verdict of each run stays the judgement.)

Reads the tables ``runs`` and ``metrics`` like the report (Parquet: with pyarrow, no Spark).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from bias_audit.catalog import read_runs
from bias_audit.html import environment, fmt, png, subplots, threshold_bands
from bias_audit.metric_registry import METRICS
from bias_audit.run_folder import trends_page
from bias_audit.scoring.tasks import run_scoring
from bias_audit.stats.change import changes_between
from bias_audit.stats.metrics import LEVEL, OVERALL, answer_values
from bias_audit.stats.statistics import benjamini_hochberg
from bias_audit.tables import Tables, open_tables
from bias_audit.thresholds import Thresholds


@dataclass
class Point:
    run_id: str
    at: str
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    n_a: int | None
    n_b: int | None
    finding: str
    drift: bool = False


@dataclass
class Series:
    metric: str
    group_a: str
    group_b: str
    points: list[Point] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.metric}: {self.group_a} vs {self.group_b}"


@dataclass
class Trend:
    suite: str
    provider: str
    model: str
    runs: list[dict[str, Any]]
    series: list[Series]

    @property
    def drifts(self) -> list[tuple[Series, Point]]:
        return [(s, p) for s in self.series for p in s.points if p.drift]


def trends(warehouse: Path | str | Tables) -> list[Trend]:
    """One Trend per suite, provider and model that has analysed runs."""
    tables = open_tables(warehouse)
    runs = read_runs(tables)
    metrics: dict[str, list[dict]] = {}
    for row in tables.rows("metrics"):
        # the gaps; a task suite's levels (accuracy on pro sentences) are no gap to band
        if row.get("scope") == OVERALL and row.get("group_b") != LEVEL:
            metrics.setdefault(row["run_id"], []).append(row)
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for run in runs:
        key = (str(run.get("suite")), str(run.get("provider")), str(run.get("model")))
        groups.setdefault(key, []).append(run)
    result = []
    for (suite, provider, model), members in sorted(groups.items()):
        series: dict[tuple[str, str, str], Series] = {}
        for run in members:
            for row in metrics.get(run["run_id"], []):
                key = (row["metric"], row["group_a"], row["group_b"])
                series.setdefault(key, Series(*key)).points.append(
                    Point(
                        run_id=run["run_id"],
                        at=run["at"],
                        difference=row.get("difference"),
                        ci_low=row.get("ci_low"),
                        ci_high=row.get("ci_high"),
                        n_a=row.get("n_a"),
                        n_b=row.get("n_b"),
                        finding=str(row.get("finding")),
                    )
                )
        flag_drift(members, series, tables)
        result.append(Trend(suite, provider, model, members, sorted(series.values(), key=lambda s: s.label)))
    return result


def flag_drift(
    runs: list[dict[str, Any]],
    series: Mapping[tuple[str, str, str], Series],
    tables: Tables,
    alpha: float = 0.05,
) -> None:
    """Mark the points whose gap changed significantly since the previous audit of the trend: the
    case-by-case test of ``bias-audit compare`` for each pair of consecutive audits, with
    Benjamini-Hochberg over every metric and every pair (false discovery control across metrics
    and runs: with many of both, some would move by chance)."""
    values = {
        run["run_id"]: answer_values(list(tables.rows("features", run["run_id"])), run_scoring(run))
        for run in runs
    }
    found = [
        (after["run_id"], change)
        for before, after in pairwise(runs)
        for change in changes_between(values[before["run_id"]], values[after["run_id"]], run_scoring(after))
        if change.scope == OVERALL  # the series are the pooled gaps; per-case changes are compare's
    ]
    drifted = {
        (change.metric, change.group_a, change.group_b, run_id)
        for (run_id, change), p in zip(
            found, benjamini_hochberg([c.change.p_value for _, c in found]), strict=True
        )
        if p is not None and p < alpha
    }
    for key, s in series.items():
        for point in s.points:
            point.drift = (*key, point.run_id) in drifted


def drifts_of_run(history: list[Trend], run_id: str) -> list[tuple[Series, Point]]:
    """The metrics of this run whose gap changed significantly since the previous audit."""
    return [(s, p) for t in history for s, p in t.drifts if p.run_id == run_id]


def render_trends(history: list[Trend], report_href: Callable[[str], str], index_href: str = "../") -> str:
    """The trend page: per suite and model, the runs with their verdicts, the drifts, one plot per
    metric. ``report_href(run_id)`` gives the link to a run's report, ``index_href`` the runs list's
    (the file beside the runs' folders is served one level below it)."""
    template = environment().get_template("trends.html.j2")
    found = [(t, _plots(t)) for t in history]
    return template.render(trends=found, report_href=report_href, index_href=index_href, fmt=fmt)


def write_trends(history: list[Trend], runs_dir: Path) -> Path:
    """Write the trend page beside the runs' folders (``runs/trends.html``); links are relative."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    path = trends_page(runs_dir)
    path.write_text(render_trends(history, lambda run_id: f"{run_id}/report.html"), encoding="utf-8")
    return path


def _plots(trend: Trend) -> list[dict[str, str]]:
    """One plot per metric (in the registry's order), a line per group pair: each audit's gap with
    its 95 % CI (hollow: no interval; red edge: drifted), the metric's warn band shaded and its fail
    thresholds dotted; under each audit its time and samples per prompt."""
    thresholds = _thresholds(trend)
    order = [r["run_id"] for r in trend.runs]
    ticks = [f"{str(r['at'])[5:16]}\n{fmt(r.get('samples'))}/prompt" for r in trend.runs]
    by_metric: dict[str, list[Series]] = {}
    for s in trend.series:
        if any(p.difference is not None for p in s.points):
            by_metric.setdefault(s.metric, []).append(s)
    known = [m for m in METRICS if m in by_metric] + sorted(m for m in by_metric if m not in METRICS)
    out = []
    for metric in known:
        series = by_metric[metric]
        fig, ax = subplots(figsize=(6.5, 2.9))
        for index, s in enumerate(series):
            points = [p for p in s.points if p.difference is not None and p.run_id in order]
            x = [order.index(p.run_id) + 0.06 * (index - (len(series) - 1) / 2) for p in points]
            line = ax.plot(
                x, [p.difference for p in points], linewidth=0.8, label=f"{s.group_a} − {s.group_b}"
            )
            colour = line[0].get_color()
            for xi, p in zip(x, points, strict=True):
                if p.ci_low is not None:
                    ax.vlines(xi, p.ci_low, p.ci_high, color=colour, linewidth=1.5)
                ax.plot(
                    xi,
                    p.difference,
                    "o",
                    color=colour,
                    markerfacecolor=colour if p.ci_low is not None else "none",
                    markeredgecolor="#c62828" if p.drift else colour,
                    markeredgewidth=2 if p.drift else 1,
                )
        threshold_bands(ax, thresholds.warn.get(metric), thresholds.fail.get(metric), alpha=0.35)
        ax.set_xticks(range(len(order)), ticks, fontsize=6)
        ax.set_title(metric, fontsize=9)
        ax.legend(fontsize=6, loc="best")
        fig.tight_layout()
        out.append({"label": metric, "data": base64.b64encode(png(fig, dpi=90)).decode()})
    return out


def _thresholds(trend: Trend) -> Thresholds:
    """The thresholds of the trend's latest audit (as its verdict applied them), else the defaults."""
    for run in reversed(trend.runs):
        if run.get("thresholds"):
            return Thresholds.from_json(run["thresholds"])
    return Thresholds()
