"""Generation: expand a suite into requests, send them to the provider, record every answer.

Records are appended to ``<out>/<run_id>/responses.jsonl`` one line per answer, flushed and
fsynced as they arrive, so a run killed half-way keeps what it had; run again with the same
run_id, it sends only the requests that have no record yet (keyed by ``request_key``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.llm.base import Completion, Provider, Request, derive_seed
from bias_audit.llm.ratelimit import RateLimiter
from bias_audit.records import ResponseRecord, utc_now
from bias_audit.suites import Suite, load_suite

log = logging.getLogger(__name__)

RESPONSES_FILE = "responses.jsonl"
MANIFEST_FILE = "run.json"


def effective_settings(suite: Suite, config: RunConfig) -> dict[str, float | int]:
    """The run's generation settings: its own where given, else the suite's defaults."""
    defaults = suite.defaults
    return {
        "temperature": defaults.temperature if config.temperature is None else config.temperature,
        "top_p": defaults.top_p if config.top_p is None else config.top_p,
        "max_tokens": config.max_tokens or defaults.max_tokens,
    }


def expand(suite: Suite, config: RunConfig) -> list[Request]:
    """Every prompt of the suite, ``config.samples`` times, with the run's generation settings."""
    settings = effective_settings(suite, config)
    return [
        Request(
            suite=suite.name,
            case_id=item.case_id,
            variant=item.variant,
            prompt=item.prompt,
            system_prompt=suite.system_prompt,
            sample_index=index,
            **settings,
            seed=derive_seed(config.seed, suite.system_prompt, item.prompt, index),
            completion=suite.completion,
        )
        for item in suite.prompts()
        for index in range(config.samples)
    ]


class ResponseLog:
    """Append-only JSONL of response records; tolerant of a torn last line after a crash."""

    def __init__(self, path: Path):
        self.path = path

    def recorded_keys(self) -> set[str]:
        if not self.path.exists():
            return set()
        return {record["request_key"] for record in self._read()}

    def _read(self) -> Iterator[dict[str, object]]:
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.endswith("\n"):
                    yield json.loads(line)

    def _drop_torn_tail(self) -> None:
        """A line without its newline was cut by a crash mid-write; its request is sent again."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as file:
            data = file.read()
            if data and not data.endswith(b"\n"):
                file.truncate(data.rfind(b"\n") + 1)
                log.warning("%s: dropped a partial last line left by an interrupted run", self.path)

    def open(self) -> ResponseLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        self._file = self.path.open("a", encoding="utf-8")
        return self

    def append(self, record: ResponseRecord) -> None:
        self._file.write(record.model_dump_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


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
    run_dir = out_dir / config.run_id
    responses = ResponseLog(run_dir / RESPONSES_FILE).open()
    try:
        done = responses.recorded_keys()
        keyed = [(r.key(provider.name, provider.model, provider.api_version), r) for r in requests]
        pending = [(key, request) for key, request in keyed if key not in done]
        _write_manifest(run_dir, config, suite, provider, total=len(keyed), status="generating")
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
    _write_manifest(run_dir, config, suite, provider, total=len(keyed), status="generated")
    progress.finish()
    return GenerationResult(run_dir, len(keyed), len(pending), progress.already, dict(progress.outcomes))


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
    return ResponseRecord(
        run_id=run_id,
        request_key=key,
        provider=provider.name,
        model=provider.model,
        api_version=provider.api_version,
        **request.as_dict(),
        outcome=completion.outcome,
        finish_reason=completion.finish_reason,
        text=completion.text,
        content_filter=json.dumps(completion.content_filter) if completion.content_filter else None,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency_ms=completion.latency_ms,
        attempts=completion.attempts,
        response_id=completion.response_id,
        system_fingerprint=completion.system_fingerprint,
        error=completion.error,
        rate_limit=json.dumps(completion.rate_limit) if completion.rate_limit else None,
        created_at=utc_now(),
    )


def read_manifest(run_dir: Path) -> dict[str, object]:
    """The run's ``run.json`` (empty when it is missing, e.g. for answers written by hand)."""
    path = run_dir / MANIFEST_FILE
    if not path.is_file():
        log.warning("%s is missing; the run's settings (suite hash, thresholds ...) are unknown", path)
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _write_manifest(
    run_dir: Path, config: RunConfig, suite: Suite, provider: Provider, *, total: int, status: str
) -> None:
    """``run.json``: the run's configuration, which the ``runs`` table is built from."""
    manifest = {
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
    }
    partial = run_dir / f".{MANIFEST_FILE}.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, run_dir / MANIFEST_FILE)


def case_attributes(manifest: dict[str, object]) -> dict[str, dict]:
    """The suite's case attributes (occupation, BLS share), if the run's suite can still be read."""
    source = manifest.get("suite_source")
    if not source:
        return {}
    try:
        suite = load_suite(str(source))
    except UserInputError as exc:
        log.warning("suite of the run not readable (%s): no grounding metrics", exc)
        return {}
    return {case.case_id: dict(case.attributes) for case in suite.cases}
