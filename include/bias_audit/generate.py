"""Generation: expand a suite into requests, send them to the provider, record every answer.

Records are appended to the run folder's ``responses.jsonl`` (run_folder.py) one line per answer, flushed and
fsynced as they arrive, so a run killed half-way keeps what it had; run again with the same
run_id, it sends only the requests that have no record yet (keyed by ``request_key``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bias_audit.config import RunConfig
from bias_audit.llm.base import Completion, Provider, Request, derive_seed
from bias_audit.llm.ratelimit import RateLimiter
from bias_audit.records import ResponseRecord, utc_now
from bias_audit.run_folder import RunFolder
from bias_audit.suites import Suite, load_suite

log = logging.getLogger(__name__)


def effective_settings(suite: Suite, config: RunConfig) -> dict[str, float | int]:
    """The run's generation settings: its own where given, else the suite's defaults."""
    defaults = suite.defaults
    return {
        "temperature": defaults.temperature if config.temperature is None else config.temperature,
        "top_p": defaults.top_p if config.top_p is None else config.top_p,
        "max_tokens": config.max_tokens or defaults.max_tokens,
    }


def system_prompt(suite: Suite, config: RunConfig) -> str:
    """The run's system prompt: its own where given (``""``: none), else the suite's."""
    return suite.system_prompt if config.system_prompt is None else config.system_prompt


def expand(suite: Suite, config: RunConfig) -> list[Request]:
    """Every prompt of the suite, ``config.samples`` times, with the run's generation settings."""
    settings = effective_settings(suite, config)
    system = system_prompt(suite, config)
    return [
        Request(
            suite=suite.name,
            case_id=item.case_id,
            variant=item.variant,
            prompt=item.prompt,
            system_prompt=system,
            sample_index=index,
            **settings,
            seed=derive_seed(config.seed, system, item.prompt, index),
            completion=suite.completion,
        )
        for item in suite.prompts()
        for index in range(config.samples)
    ]


@dataclass
class GenerationResult:
    run_dir: Path
    total: int
    sent: int
    already_recorded: int
    outcomes: dict[str, int]


def generate(config: RunConfig, out_dir: Path, provider: Provider) -> GenerationResult:
    """Send every request of the run that has no record yet; append each answer as it arrives."""
    suite = load_suite(config.suite)
    requests = expand(suite, config)
    folder = RunFolder.of(out_dir, config.run_id)
    responses = folder.response_log().open()
    try:
        done = responses.recorded_keys()
        keyed = [(r.key(provider.name, provider.model, provider.api_version), r) for r in requests]
        pending = [(key, request) for key, request in keyed if key not in done]
        _write_manifest(folder, config, suite, provider, total=len(keyed), status="generating")
        concurrency = min(config.concurrency, provider.max_concurrency or config.concurrency)
        log.info(
            "generate: run %s, suite %s, %d requests (%d already recorded), provider %s, model %s, "
            "concurrency %d, quota %s TPM / %s RPM",
            config.run_id,
            suite.name,
            len(keyed),
            len(keyed) - len(pending),
            provider.name,
            provider.model,
            concurrency,
            config.tpm or "no",
            config.rpm or "no",
        )
        progress = Progress(total=len(keyed), already=len(keyed) - len(pending))
        limiter = RateLimiter(config.tpm, config.rpm)

        def record(key: str, request: Request, completion: Completion) -> None:
            entry = _record(config.run_id, key, request, provider, completion)
            responses.append(entry)
            progress.update(entry)

        asyncio.run(_dispatch(pending, provider, limiter, concurrency, record))
    finally:
        responses.close()
    _write_manifest(folder, config, suite, provider, total=len(keyed), status="generated")
    progress.finish()
    return GenerationResult(folder.path, len(keyed), len(pending), progress.already, dict(progress.outcomes))


async def _dispatch(
    pending: list[tuple[str, Request]],
    provider: Provider,
    limiter: RateLimiter,
    concurrency: int,
    record: Callable[[str, Request, Completion], None],
) -> None:
    """``concurrency`` workers take requests in order; the limiter keeps them within the quota.

    A ProviderSetupError (bad key, unknown deployment) cancels the other workers and ends the
    run; every answer recorded before it stays recorded.
    """
    queue = iter(pending)

    async def worker() -> None:
        for key, request in queue:  # one shared iterator: each request goes to one worker
            record(key, request, await provider.acomplete(request, limiter))

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(concurrency, len(pending)))):
                group.create_task(worker())
    except ExceptionGroup as group_error:
        raise group_error.exceptions[0] from None


class Progress:
    """A log line at most every few seconds: done/total, tokens per minute, ETA."""

    def __init__(self, total: int, already: int, every_seconds: float = 5.0):
        self.total, self.already, self.done = total, already, already
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
            log.info("generate: %s", self.line(now))

    def line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        sent = self.done - self.already
        rate = sent / elapsed
        eta = (self.total - self.done) / rate if rate else float("inf")
        return (
            f"{self.done}/{self.total} done, {self.tokens / elapsed * 60:,.0f} tokens/min, "
            f"ETA {_duration(eta)}, outcomes {dict(self.outcomes)}"
        )

    def finish(self) -> None:
        log.info(
            "generate: finished in %s: %s",
            _duration(time.monotonic() - self._started),
            self.line(time.monotonic()),
        )


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _record(
    run_id: str, key: str, request: Request, provider: Provider, completion: Completion
) -> ResponseRecord:
    """The record of one answer: the request's fields, the provider's, and the completion's."""
    answered = asdict(completion)
    for name in ("content_filter", "rate_limit"):  # JSON text in the record and the table
        answered[name] = json.dumps(answered[name]) if answered[name] else None
    return ResponseRecord(
        run_id=run_id,
        request_key=key,
        provider=provider.name,
        model=provider.model,
        api_version=provider.api_version,
        **request.as_dict(),
        **answered,
        created_at=utc_now(),
    )


def _write_manifest(
    folder: RunFolder, config: RunConfig, suite: Suite, provider: Provider, *, total: int, status: str
) -> None:
    """``run.json``: the run's configuration, which the ``runs`` table is built from, and the
    attributes of the suite's cases, which the analysis needs (run_folder.py)."""
    attributes = {case.case_id: dict(case.attributes) for case in suite.cases if case.attributes}
    folder.write_manifest(
        {
            **config.model_dump(),
            **effective_settings(suite, config),
            "suite": suite.name,
            "suite_source": config.suite,
            "suite_hash": suite.content_hash(),
            "provider": provider.name,
            "model": provider.model,
            "api_version": provider.api_version,
            "requests": total,
            "status": status,
            "updated_at": utc_now().isoformat(),
            "case_attributes": attributes,
        }
    )
