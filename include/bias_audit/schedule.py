"""A sequential audit's schedule of looks — samples per prompt at each — as a suite file or a run
gives it. A bottom-layer module (no numpy): the suite model and the run's configuration check a
schedule before any request; stats/sequential.py spends alpha over it."""

from __future__ import annotations

import math


def check_schedule(looks: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """A schedule of looks: samples per prompt, positive and strictly increasing (ValueError
    naming the first that is not)."""
    if not looks:
        raise ValueError("a schedule needs at least one look")
    for i, s in enumerate(looks):
        if not isinstance(s, int) or isinstance(s, bool) or s < 1:
            raise ValueError(f"look {i + 1} must be a whole number >= 1 (value: {s!r})")
        if i and s <= looks[i - 1]:
            before = looks[i - 1]
            raise ValueError(f"looks must increase: look {i + 1} ({s}) is not above look {i} ({before})")
    return tuple(looks)


def check_spend(
    spend: tuple[float, ...] | list[float], looks: tuple[int, ...] | list[int]
) -> tuple[float, ...]:
    """Relative shares of alpha over a schedule's looks: one per look, then one for the look at
    max_samples, each a finite number > 0 (ValueError naming the first that is not)."""
    if len(spend) != len(looks) + 1:
        raise ValueError(
            f"spend needs {len(looks) + 1} shares: one for each of the {len(looks)} looks, then one "
            f"for the look at max_samples (value: {list(spend)})"
        )
    for i, share in enumerate(spend):
        number = isinstance(share, int | float) and not isinstance(share, bool)
        if not number or not math.isfinite(share) or share <= 0:
            raise ValueError(f"share {i + 1} of spend must be a number > 0 (value: {share!r})")
    return tuple(float(s) for s in spend)


def parse_schedule(text: str) -> tuple[int, ...]:
    """``"1, 3, 10, 30"`` -> (1, 3, 10, 30), checked (ValueError)."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        looks = [int(p) for p in parts]
    except ValueError:
        raise ValueError(
            f"samples per prompt at each look, comma-separated, e.g. 1, 3, 10, 30 (value: {text!r})"
        ) from None
    return check_schedule(looks)
