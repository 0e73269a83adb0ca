"""The per-case comparisons of a sequential analysis, followed as arrays (sequential.py's Tracker
holds one ``CaseFamily``): each look adjusts, intersects and decides thousands of them at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from bias_audit.metric_registry import RATES
from bias_audit.stats.design import Design, Key, _key, futility_note
from bias_audit.stats.metrics import (
    MetricRow,
    phrasing_sd,
)
from bias_audit.stats.per_case import beyond_p, phrasing_variance, z_two_sided
from bias_audit.stats.statistics import Comparison, benjamini_hochberg
from bias_audit.thresholds import Thresholds


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
        beyond = np.nan_to_num(self.p_adjusted, nan=1.0) < self.design.alpha_at(look)
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

    def snapshot(self, method: Callable[[Comparison], str]) -> CaseSnapshot:
        """This look's per-case rows as they stand: findings, intervals and which are futile."""
        finding = self.finding[self.at].copy()
        futile = self.futile_mask(finding)
        return CaseSnapshot(
            self.current, finding, self.low[self.at].copy(), self.high[self.at].copy(),
            self.decided_at[self.at].copy(), futile, method, self.design,
        )  # fmt: skip

    def futile_mask(self, finding: np.ndarray) -> np.ndarray:
        """Formula (4) for the per-case rows: the answers' part of SE shrinks to K, the phrasing part
        stays; the threshold is crossed at Benjamini-Hochberg's level k alpha / m, for k the rows
        decided so far and those still open that could be, tightened until it holds (a row left out
        could not be decided at that k either)."""
        c, design = self.columns, self.design
        samples = design.looks[self.look - 1]
        candidates = (finding == "") & ~np.isnan(c["lo"])
        if not design.futility or samples >= design.max_samples or not candidates.any():
            return np.zeros(len(finding), dtype=bool)
        phrasing = np.where(
            c["rates"],
            phrasing_variance(c["n_a"], c["mean_a"], c["n_b"], c["mean_b"], True, c["phrasing_sd"]),
            phrasing_variance(c["n_a"], c["mean_a"], c["n_b"], c["mean_b"], False, c["phrasing_sd"]),
        )
        se_k = np.sqrt(np.maximum(c["se"] ** 2 - phrasing, 0.0) * samples / design.max_samples + phrasing)
        alpha = design.alpha_ahead(self.look)  # the narrowest interval it could still get
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
