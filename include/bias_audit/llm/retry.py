"""How long to wait before trying again: the server's hint first, else backoff with jitter."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

_MESSAGE_HINT = re.compile(r"retry after (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


def server_wait_seconds(
    headers: Mapping[str, str], message: str | None, now: float | None = None
) -> float | None:
    """Azure's hints in order: ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date), then
    "retry after N seconds" in the error message. None when the server gave no hint."""
    hint = server_wait(headers, message, now)
    return None if hint is None else hint[0]


def server_wait(
    headers: Mapping[str, str], message: str | None, now: float | None = None
) -> tuple[float, str] | None:
    """The server's hint and where it came from (``retry-after-ms header``, ``retry-after header``,
    ``the error message``); None when it gave none."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000), "retry-after-ms header"
        except ValueError:
            pass
    if (after := lowered.get("retry-after")) is not None:
        try:
            return max(0.0, float(after)), "retry-after header"
        except ValueError:
            try:
                when = parsedate_to_datetime(after)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(
                    0.0, when.timestamp() - (time.time() if now is None else now)
                ), "retry-after header"
    if message and (match := _MESSAGE_HINT.search(message)):
        return float(match.group(1)), "the error message"
    return None


def backoff_seconds(
    attempt: int, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter: half of min(cap, base x 2^(attempt-1)), plus up to as much
    again at random, so that workers which failed together do not retry together."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
