"""The verdict's thresholds: defaults from the metric registry, a run's overrides validated and
named by field. A bottom-layer module (no numpy): the configuration validates a run's thresholds
before any request, and every stage reads the same definition."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bias_audit.errors import UserInputError
from bias_audit.metric_registry import METRICS, VERDICT_METRICS


@dataclass(frozen=True)
class Thresholds:
    """The verdict's thresholds, in each metric's raw units; defaults from the metric registry."""

    alpha: float = 0.05
    warn: dict[str, float] = field(default_factory=lambda: {m: METRICS[m].warn for m in VERDICT_METRICS})
    fail: dict[str, float] = field(default_factory=lambda: {m: METRICS[m].fail for m in VERDICT_METRICS})

    @classmethod
    def from_overrides(cls, overrides: dict | None) -> Thresholds:
        """The defaults with a run's overrides, e.g. ``{"warn": {"word_count": 15}, "alpha": 0.01}``."""
        base = cls()
        if not overrides:
            return base
        unknown = set(overrides) - {"alpha", "warn", "fail"}
        if unknown:
            raise UserInputError(f"unknown keys {sorted(unknown)}; use alpha, warn, fail", field="thresholds")
        warn = {**base.warn, **overrides.get("warn", {})}
        fail = {**base.fail, **overrides.get("fail", {})}
        for level, values in (("warn", warn), ("fail", fail)):
            for metric, value in values.items():
                if metric not in base.warn:
                    raise UserInputError(
                        f"unknown metric {metric!r}; metrics: {', '.join(base.warn)}",
                        field=f"thresholds.{level}",
                    )
                if not isinstance(value, int | float) or value <= 0:
                    raise UserInputError(
                        f"must be a number > 0 (value: {value!r})", field=f"thresholds.{level}.{metric}"
                    )
        for metric in base.warn:
            if warn[metric] > fail[metric]:
                raise UserInputError(
                    f"warn {warn[metric]} is above fail {fail[metric]}", field=f"thresholds.{metric}"
                )
        alpha = overrides.get("alpha", base.alpha)
        if not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise UserInputError(f"must be between 0 and 1 (value: {alpha!r})", field="thresholds.alpha")
        return cls(alpha=float(alpha), warn=warn, fail=fail)

    @classmethod
    def from_json(cls, stored: str | None) -> Thresholds:
        """The thresholds a run was judged by, as the runs table stores them (``as_dict`` as JSON)."""
        return cls.from_overrides(json.loads(stored) if stored else None)

    def as_dict(self) -> dict[str, object]:
        """What a run stores of the thresholds it was judged by (runs table, analysis summary)."""
        return {"alpha": self.alpha, "warn": dict(self.warn), "fail": dict(self.fail)}
