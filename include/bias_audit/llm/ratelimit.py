"""A client-side limiter on tokens and requests per minute, shared by all concurrent workers, and
the concurrency that keeps it busy.

Two token buckets (tokens, requests) refill continuously at ``utilisation`` x ``share`` x quota /
60 per second and hold at most ``burst_seconds`` worth, so the client never sends in bursts that a
server evaluating its quota over a short window would reject. A request waits until both buckets
cover it, in arrival order (one lock, held while waiting). A 429 calls ``pause``: every worker
waits, not just the one that was told, and the rate drops to ``BACKOFF`` of what it was (other
traffic is using the deployment, or the quota given is wrong); each answer without a 429 wins
back ``RECOVERY`` of the distance to the full share (additive increase, multiplicative decrease,
as TCP shares a link: Chiu & Jain 1989). Written by hand because no maintained asyncio library
combines token and request budgets with a server-driven pause and a share of the quota.

``Concurrency`` sizes the requests in flight by Little's law: to sustain the rate the limiter
allows (requests per second) against answers that take ``latency`` seconds, about rate x latency
requests must be in flight. It measures the latency as answers arrive and resizes; a ``ceiling``
(the run's ``--concurrency``) caps it. Without a quota there is no rate to size from, and it keeps
``DEFAULT_CONCURRENCY`` (or the ceiling).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

BACKOFF = 0.7  # the rate after a 429, as a share of the rate before it
RECOVERY = 0.02  # the share of the way back to the full rate each answer without a 429 wins
LOWEST = 0.1  # the rate never drops below this share of the quota share
DEFAULT_CONCURRENCY = 8  # without a quota to size from
AUTO_CEILING = 256  # automatic sizing never goes beyond this many requests in flight
HEADROOM = 1.5  # in flight: rate x latency x HEADROOM, for latency that varies from answer to answer
ASSUMED_LATENCY = 2.0  # seconds, until the first answer: Azure answers 100-token completions in 1-5 s


class _Bucket:
    def __init__(self, per_minute: float, burst_seconds: float, now: float):
        self.full_rate = per_minute / 60.0
        self.rate = self.full_rate
        self.capacity = max(self.rate * burst_seconds, 1.0)
        self.level = self.capacity
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:  # after a pause, ``updated`` lies in the future: no refill until then
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def wait_for(self, amount: float) -> float:
        # A request larger than the bucket goes when the bucket is full, leaving it in debt.
        needed = min(amount, self.capacity)
        # The epsilon absorbs float rounding: sleeping exactly the computed wait must be enough.
        return 0.0 if self.level >= needed - 1e-6 else (needed - self.level) / self.rate


@dataclass
class RateLimitStats:
    """What the limiter saw: for the run's summary (run.json) and the log."""

    requests: int = 0
    tokens_charged: int = 0  # as estimated before sending (prompt + max_tokens)
    rate_limited: int = 0  # 429 answers
    paused_seconds: float = 0.0  # time every worker was held by a pause
    lowest_throttle: float = 1.0  # the lowest share of the quota share the rate dropped to

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


class RateLimiter:
    def __init__(
        self,
        tokens_per_minute: int | None = None,
        requests_per_minute: int | None = None,
        *,
        share: float = 1.0,
        utilisation: float = 0.95,
        burst_seconds: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1] (value: {share})")
        self._clock = clock
        self._sleep = sleep
        now = clock()
        scale = utilisation * share
        self.tokens_per_minute, self.requests_per_minute, self.share = (
            tokens_per_minute,
            requests_per_minute,
            share,
        )
        self._tokens = _Bucket(tokens_per_minute * scale, burst_seconds, now) if tokens_per_minute else None
        self._requests = (
            _Bucket(requests_per_minute * scale, burst_seconds, now) if requests_per_minute else None
        )
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.throttle = 1.0  # the share of the full (shared) rate in force after 429s
        self.stats = RateLimitStats()
        self._cost: float | None = None  # tokens per request, a moving average

    @property
    def limited(self) -> bool:
        return bool(self._tokens or self._requests)

    async def acquire(self, tokens: int) -> None:
        async with self._lock:
            while (wait := self._wait(tokens)) > 0:
                await self._sleep(wait)
            for bucket, amount in ((self._tokens, tokens), (self._requests, 1)):
                if bucket:
                    bucket.level -= amount
        self.stats.requests += 1
        self.stats.tokens_charged += tokens
        self._cost = tokens if self._cost is None else 0.9 * self._cost + 0.1 * tokens

    def _wait(self, tokens: int) -> float:
        now = self._clock()
        waits = [self._paused_until - now]
        for bucket, amount in ((self._tokens, tokens), (self._requests, 1)):
            if bucket:
                bucket.refill(now)
                waits.append(bucket.wait_for(amount))
        return max(waits)

    def pause(self, seconds: float, reason: str = "429") -> None:
        """The server said to wait: hold every request for ``seconds``, start from empty buckets,
        and slow down to ``BACKOFF`` of the current rate."""
        self.stats.rate_limited += 1
        now = self._clock()
        until = max(self._paused_until, now + seconds)
        self.stats.paused_seconds += until - max(self._paused_until, now)
        self._paused_until = until
        self._set_throttle(max(LOWEST, self.throttle * BACKOFF))
        for bucket in (self._tokens, self._requests):
            if bucket:
                bucket.level = min(bucket.level, 0.0)
                bucket.updated = max(bucket.updated, self._paused_until)
        log.info(
            "rate limit: all requests paused %.2f s (%s); sending at %.0f%% of %s",
            seconds,
            reason,
            self.throttle * 100,
            "the quota" if self.share == 1 else f"the quota share {self.share:g}",
        )

    def answered(self) -> None:
        """An answer came without a 429: win back part of the way to the full rate."""
        if self.throttle < 1.0:
            self._set_throttle(min(1.0, self.throttle + RECOVERY * (1.0 - self.throttle) + 1e-3))

    def _set_throttle(self, throttle: float) -> None:
        self.throttle = throttle
        self.stats.lowest_throttle = min(self.stats.lowest_throttle, throttle)
        for bucket in (self._tokens, self._requests):
            if bucket:
                bucket.refill(self._clock())
                bucket.rate = bucket.full_rate * throttle

    def requests_per_second(self) -> float | None:
        """The rate the quota allows now (requests per second), at the average cost seen so far;
        None without a quota."""
        rates = []
        if self._requests:
            rates.append(self._requests.rate)
        if self._tokens and self._cost:
            rates.append(self._tokens.rate / self._cost)
        return min(rates) if rates else None


class Concurrency:
    """How many requests may be in flight: rate x latency x HEADROOM (Little's law), resized as
    answers arrive, at most ``ceiling``. Workers hold a slot while their request is in flight."""

    def __init__(self, limiter: RateLimiter, ceiling: int | None):
        self.limiter = limiter
        self.ceiling = ceiling or AUTO_CEILING
        self.fixed = not limiter.limited  # no quota: nothing to size from
        # with a quota: a start, until the first answers tell how long they take
        self.limit = (
            (ceiling or DEFAULT_CONCURRENCY) if self.fixed else min(self.ceiling, DEFAULT_CONCURRENCY)
        )
        self.in_flight = 0
        self.latency: float | None = None  # seconds, a moving average
        self.highest = self.limit
        self._changed = asyncio.Condition()

    @classmethod
    def within(cls, limiter: RateLimiter, *ceilings: int | None) -> Concurrency:
        """Sized as above, at most the lowest of the ``ceilings`` that are given (the run's
        --concurrency, the provider's own limit)."""
        given = [c for c in ceilings if c]
        return cls(limiter, min(given) if given else None)

    def describe(self) -> str:
        if self.fixed:
            return str(self.limit)
        ceiling = f"at most {self.ceiling}" if self.ceiling != AUTO_CEILING else f"up to {AUTO_CEILING}"
        return f"sized from the quota and the latency ({ceiling}, starting at {self.limit})"

    async def __aenter__(self) -> Concurrency:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    async def observe(self, latency_seconds: float | None) -> None:
        """An answer took ``latency_seconds``: resize to the rate the limiter allows."""
        if self.fixed or latency_seconds is None:
            return
        self.latency = latency_seconds if self.latency is None else 0.8 * self.latency + 0.2 * latency_seconds
        await self._resize(self.latency)

    async def started(self) -> None:
        """A request is about to be sent: before any answer, size for ``ASSUMED_LATENCY``."""
        if not self.fixed and self.latency is None:
            await self._resize(ASSUMED_LATENCY)

    async def _resize(self, latency: float) -> None:
        rate = self.limiter.requests_per_second()
        if rate is None:
            return
        wanted = max(1, min(self.ceiling, math.ceil(rate * latency * HEADROOM) + 1))
        if wanted != self.limit:
            async with self._changed:
                self.limit = wanted
                self.highest = max(self.highest, wanted)
                self._changed.notify_all()
