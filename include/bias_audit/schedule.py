"""A sequential audit's schedule of looks — samples per prompt at each — as a suite file or a run
gives it. A bottom-layer module (no numpy): the suite model and the run's configuration check a
schedule before any request; stats/sequential.py spends alpha over it."""

from __future__ import annotations


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
