"""The report's figures: each drawn by a function of the run's data, in the order of ``FIGURES`` (file,
caption, draw, when it applies); ``draw_figures`` writes the PNGs beside the report and embeds them.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import numpy as np

from bias_audit.html import Figure, png, subplots, threshold_bands
from bias_audit.metric_registry import RATES, VERDICT_METRICS
from bias_audit.report.read import RunData
from bias_audit.stats.metrics import (
    LEVEL,
    OVERALL,
)
from bias_audit.stats.statistics import wilson_interval
from bias_audit.tasks import KINDS
from bias_audit.thresholds import Thresholds


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
    if len(groups) > 4:  # crossed groups: a row each (overall), too many to set side by side
        return _many_levels_figure([m for m in levels if m["scope"] == OVERALL], names, groups)
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
        if name in RATES:
            ax.set_xlim(0, 1)
        else:  # a ranking's ratio to the fair share: 1 is parity
            ax.axvline(1, color="#555", linewidth=0.8, linestyle=":")
        ax.invert_yaxis()
        ax.set_xlabel(f"{name} (share)" if name in RATES else name)
        ax.legend(
            fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0
        )  # beside the points, not over them
    fig.tight_layout()
    return fig


def _many_levels_figure(levels: list[dict], names: list[str], groups: list[str]):
    """Per task metric a panel, each group's overall level with its interval on a row of its own."""
    fig, axes = subplots(1, len(names), figsize=(4.2 * len(names), 0.24 * len(groups) + 1.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for y, group in enumerate(groups):
            row = next((m for m in levels if (m["metric"], m["group_a"]) == (name, group)), None)
            if row is None:
                continue
            if row["ci_low"] is not None:
                ax.plot([row["ci_low"], row["ci_high"]], [y, y], color="#1565c0", linewidth=2)
            ax.plot(row["difference"], y, "o", color="#1565c0")
        ax.set_yticks(range(len(groups)), groups, fontsize=7)
        if name in RATES:
            ax.set_xlim(0, 1)
        else:
            ax.axvline(1, color="#555", linewidth=0.8, linestyle=":")
        ax.invert_yaxis()
        ax.set_xlabel(f"{name} (share)" if name in RATES else name)
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
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
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
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    fig.tight_layout()
    return fig


def _save(out_dir: Path, name: str, title: str, fig) -> dict[str, str]:
    data = png(fig)
    (out_dir / name).write_bytes(data)
    return {"file": name, "title": title, "data": base64.b64encode(data).decode()}


def _heatmap_caption(data: RunData) -> str:
    heatmap = data.heatmap or {}
    unit, pair = heatmap["unit"], heatmap["pair"]
    return (
        f"Gaps within each {unit}, {pair}, in units of each metric's fail threshold (the "
        f"{len(heatmap['rows'])} {unit}s with the largest; red: higher for {pair.split(' − ')[0]}). "
        f"These describe the {unit}s' own prompts and do not enter the verdict"
    )


FIGURES_BEFORE_TASK: tuple[Figure, ...] = (
    Figure(
        "gaps.png",
        "Every gap between groups, most severe first, with its 95 % CI, in units of its metric's "
        "fail threshold (shaded: the warn band; dotted: fail; hollow: no interval yet)",
        lambda d: _gap_figure(d.findings, d.thresholds),
    ),
    Figure(
        "occupations_bls.png",
        "Neutral prompts: share of gendered answers assuming female, by occupation, "
        "against the BLS share of women (95 % Wilson CIs; diagonal: mirrors the labour market)",
        lambda d: _bls_figure(d.shares),
        lambda d: bool(d.shares),
    ),
    Figure(
        "looks.png",
        "Sequential audit: each comparison's interval after each round (the running intersection "
        "of the looks' intervals); shaded: the warn band, dotted: the fail thresholds",
        lambda d: _looks_figure(d.looks, d.thresholds),
        lambda d: bool(d.looks),
    ),
    Figure(
        "case_gaps.png", _heatmap_caption, lambda d: _heatmap_figure(d.heatmap), lambda d: bool(d.heatmap)
    ),
    Figure(
        "assumed_gender.png",
        "Gender the answers assume, by variant",
        lambda d: _assumed_gender_figure(d.features),
        lambda d: d.task is None,
    ),
)
FIGURES_AFTER_TASK: tuple[Figure, ...] = (
    Figure(
        "outcomes.png",
        "What became of each request, by variant: answered, cut at max_tokens (truncated), "
        "filtered or failed (share of the variant's requests)",
        lambda d: _outcome_figure(d.responses),
    ),
)
# The figures every task suite shows (a kind's own come after them, scoring/kinds.py).
TASK_FIGURES: tuple[Figure, ...] = (
    Figure(
        "task_levels.png",
        "What the answers decided, by group: overall and within each case attribute the suite "
        "breaks its gaps down by (pooled over cases, 95 % CI; unparsed: answers that pick no option)",
        lambda d: _task_figure(d.metrics),
        lambda d: d.task is not None,
    ),
)


def figures_of(data: RunData) -> tuple[Figure, ...]:
    """The run's figures in the report's order: the general ones, the task kind's, the outcomes."""
    kind = KINDS.get(data.task_kind or "")
    kind_figures = TASK_FIGURES + (kind.figures if kind else ())
    return FIGURES_BEFORE_TASK + kind_figures + FIGURES_AFTER_TASK


def draw_figures(data: RunData) -> list[dict[str, str]]:
    """Each figure the run has, drawn, written beside the report and embedded (file, title, data)."""
    data.folder.path.mkdir(parents=True, exist_ok=True)
    return [
        _save(data.folder.path, figure.file, figure.caption_of(data), figure.draw(data))
        for figure in figures_of(data)
        if figure.applies(data)
    ]
