"""Sending many requests to a provider: workers within the rate limits and the concurrency
(``dispatch``), the provider's connections closed in the loop that opened them (``closing``), and a
progress line (``Progress``). The generation stage and the judge's grading both send this way."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from bias_audit.llm.base import Completion, Provider, Request
from bias_audit.llm.ratelimit import Concurrency, RateLimiter
from bias_audit.records import ResponseRecord


async def closing(provider: Provider, work: Awaitable[None]) -> None:
    """Run ``work``, then close the provider's connections in the loop they were opened in."""
    try:
        await work
    finally:
        close = getattr(provider, "aclose", None)
        if close is not None:
            await close()


async def dispatch(
    pending: list[tuple[str, Request]],
    provider: Provider,
    limiter: RateLimiter,
    concurrency: Concurrency,
    record: Callable[[str, Request, Completion], None],
) -> None:
    """Workers take requests in order, each holding a slot of ``concurrency`` while its request is
    in flight; the limiter keeps them within the quota.

    A ProviderSetupError (bad key, unknown deployment) cancels the other workers and ends the
    run; every answer recorded before it stays recorded.
    """
    queue = iter(pending)

    async def worker() -> None:
        for key, request in queue:  # one shared iterator: each request goes to one worker
            await concurrency.started()
            async with concurrency:
                completion = await provider.acomplete(request, limiter)
            record(key, request, completion)
            if completion.outcome != "failed":
                limiter.answered()
            await concurrency.observe(None if completion.latency_ms is None else completion.latency_ms / 1000)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(concurrency.ceiling, len(pending)))):
                group.create_task(worker())
    except ExceptionGroup as group_error:
        raise group_error.exceptions[0] from None


class Progress:
    """A log line at most every few seconds: done/total, tokens per minute, ETA."""

    def __init__(self, total: int, already: int, every_seconds: float = 5.0, stage: str = "generate"):
        self.total, self.already, self.done = total, already, already
        self.stage = stage
        self._log = logging.getLogger(f"bias_audit.{stage}")  # in the stage's log, as its own lines
        self.outcomes: Counter[str] = Counter()
        self.tokens = 0
        self._every = every_seconds
        self._started = self._last = time.monotonic()

    def update(self, record: ResponseRecord) -> None:
        self.done += 1
        self.outcomes[record.outcome] += 1
        self.tokens += (record.prompt_tokens or 0) + (record.completion_tokens or 0)
        now = time.monotonic()
        if now - self._last >= self._every or self.done == self.total:
            self._last = now
            self._log.info("%s: %s", self.stage, self.line(now))

    def line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        sent = self.done - self.already
        rate = sent / elapsed
        eta = (self.total - self.done) / rate if rate else float("inf")
        return (
            f"{self.done}/{self.total} done, {self.tokens / elapsed * 60:,.0f} tokens/min, "
            f"ETA {duration(eta)}, outcomes {dict(self.outcomes)}"
        )

    def finish(self) -> None:
        self._log.info(
            "%s: finished in %s: %s",
            self.stage,
            duration(time.monotonic() - self._started),
            self.line(time.monotonic()),
        )


def duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
