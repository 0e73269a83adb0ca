"""A client-side limiter on tokens and requests per minute, shared by all concurrent workers.

Two token buckets (tokens, requests) refill continuously at ``utilisation`` x quota / 60 per
second and hold at most ``burst_seconds`` worth, so the client never sends in bursts that a
server evaluating its quota over a short window would reject. A request waits until both buckets
cover it, in arrival order (one lock, held while waiting). A 429 calls ``pause``: every worker
waits, not just the one that was told. Written by hand because no maintained asyncio library
combines token and request budgets with a server-driven pause.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class _Bucket:
    def __init__(self, per_minute: float, burst_seconds: float, now: float):
        self.rate = per_minute / 60.0
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


class RateLimiter:
    def __init__(
        self,
        tokens_per_minute: int | None = None,
        requests_per_minute: int | None = None,
        *,
        utilisation: float = 0.95,
        burst_seconds: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self._clock = clock
        self._sleep = sleep
        now = clock()
        self._tokens = (
            _Bucket(tokens_per_minute * utilisation, burst_seconds, now) if tokens_per_minute else None
        )
        self._requests = (
            _Bucket(requests_per_minute * utilisation, burst_seconds, now) if requests_per_minute else None
        )
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.pauses = 0

    async def acquire(self, tokens: int) -> None:
        async with self._lock:
            while (wait := self._wait(tokens)) > 0:
                await self._sleep(wait)
            for bucket, amount in ((self._tokens, tokens), (self._requests, 1)):
                if bucket:
                    bucket.level -= amount

    def _wait(self, tokens: int) -> float:
        now = self._clock()
        waits = [self._paused_until - now]
        for bucket, amount in ((self._tokens, tokens), (self._requests, 1)):
            if bucket:
                bucket.refill(now)
                waits.append(bucket.wait_for(amount))
        return max(waits)

    def pause(self, seconds: float) -> None:
        """The server said to wait: hold every request for ``seconds`` and start from empty buckets."""
        self.pauses += 1
        now = self._clock()
        self._paused_until = max(self._paused_until, now + seconds)
        for bucket in (self._tokens, self._requests):
            if bucket:
                bucket.level = min(bucket.level, 0.0)
                bucket.updated = max(bucket.updated, self._paused_until)
