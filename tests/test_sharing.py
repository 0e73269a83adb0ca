"""Generation that shares the deployment: concurrency sized from the quota and the latency, a
share of the quota, slowing down on 429s, and the rate limits made visible."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bias_audit.cli import main
from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.llm.ratelimit import (
    BACKOFF,
    DEFAULT_CONCURRENCY,
    HEADROOM,
    Concurrency,
    RateLimiter,
)
from bias_audit.run_folder import RunFolder
from tests.fake_azure_openai import FakeAzureOpenAI, Quota, ServerState
from tests.test_remote_providers import azure, run


def fake_time():
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    return clock, sleep


def test_concurrency_is_rate_times_latency_within_its_ceiling():
    async def go() -> tuple[int, int, int]:
        limiter = RateLimiter(None, 600)  # 600 RPM: 9.5 requests per second at 95 %
        sized, capped, unsized = (
            Concurrency(limiter, None),
            Concurrency(limiter, 20),
            Concurrency(RateLimiter(), None),
        )
        for gate in (sized, capped, unsized):
            await gate.observe(3.0)
        return sized.limit, capped.limit, unsized.limit

    sized, capped, unsized = asyncio.run(go())
    assert sized == int(600 * 0.95 / 60 * 3.0 * HEADROOM) + 2  # ceil(...) + 1
    assert capped == 20 and unsized == DEFAULT_CONCURRENCY


def test_concurrency_follows_the_latency_down_and_up():
    async def go() -> list[int]:
        gate = Concurrency(RateLimiter(None, 600), None)
        limits = []
        for latency in (0.3,) * 20 + (3.0,) * 20:
            await gate.observe(latency)
            limits.append(gate.limit)
        return limits

    limits = asyncio.run(go())
    assert limits[19] <= 6 and limits[-1] >= 40


def test_a_quota_share_is_that_share_of_the_rate():
    clock, sleep = fake_time()
    limiter = RateLimiter(None, 600, share=0.25, clock=lambda: clock[0], sleep=sleep)

    async def go() -> None:
        for _ in range(600):
            await limiter.acquire(100)

    asyncio.run(go())
    assert clock[0] / 60 == pytest.approx(600 / (600 * 0.95 * 0.25), rel=0.02)  # 4.2 minutes, not 1
    with pytest.raises(ValueError, match=r"share must be in \(0, 1\]"):
        RateLimiter(None, 600, share=1.5)


def test_429s_slow_the_rate_and_answers_win_it_back(caplog):
    clock, sleep = fake_time()
    limiter = RateLimiter(None, 600, clock=lambda: clock[0], sleep=sleep)
    with caplog.at_level(logging.INFO, logger="bias_audit.llm.ratelimit"):
        limiter.pause(2.0, "429 from azure, wait from retry-after-ms header")
        limiter.pause(1.0, "429 from azure, wait from retry-after-ms header")
    assert limiter.throttle == pytest.approx(BACKOFF**2)
    assert limiter.stats.rate_limited == 2 and limiter.stats.paused_seconds == pytest.approx(2.0)
    assert limiter.requests_per_second() == pytest.approx(600 * 0.95 / 60 * BACKOFF**2)
    assert "all requests paused 2.00 s (429 from azure, wait from retry-after-ms header)" in caplog.text
    for _ in range(300):
        limiter.answered()
    assert limiter.throttle == 1.0 and limiter.stats.lowest_throttle == pytest.approx(BACKOFF**2)


def test_a_quota_lower_than_given_shows_as_429s_with_a_hint_and_nothing_is_lost(tmp_path, caplog):
    """The deployment allows 12,000 TPM over a 1 s window, the run says 60,000: the server's 429s
    pause everyone and slow the client down, the log says what to fix, run.json counts it."""
    state = ServerState(quota=Quota(tokens_per_minute=12_000, window_seconds=1.0))
    with caplog.at_level(logging.INFO), FakeAzureOpenAI(state) as server:
        result, records = run(tmp_path, azure(server, max_attempts=12), samples=2, tpm=60_000)
    assert len(records) == 20 and {r["outcome"] for r in records} == {"ok"}
    assert len({r["request_key"] for r in records}) == 20
    limits = RunFolder(result.run_dir).read_manifest()["rate_limits"]
    assert limits["rate_limited"] == state.count(429) > 2
    assert limits["paused_seconds"] > 0 and limits["lowest_throttle"] < 1
    assert "wait from retry-after-ms header" in caplog.text
    assert "were answered 429" in caplog.text and "lower --tpm/--rpm, or set --quota-share" in caplog.text


def test_run_json_says_how_much_of_the_quota_the_run_used(tmp_path):
    state = ServerState(quota=Quota(tokens_per_minute=60_000, requests_per_minute=600), latency_seconds=0.05)
    with FakeAzureOpenAI(state) as server:
        result, records = run(tmp_path, azure(server), samples=3, tpm=60_000, rpm=600, quota_share=0.5)
    limits = RunFolder(result.run_dir).read_manifest()["rate_limits"]
    assert limits["requests"] == len(records) == 30 and limits["rate_limited"] == 0
    assert limits["quota_share"] == 0.5 and 0 < limits["quota_used"] <= 0.5
    # the limiter is charged a padded estimate; the server counted the prompt tokens itself
    assert limits["token_estimate_headroom"] == pytest.approx(1.1, abs=0.05)
    assert limits["charged_tokens_per_minute"] > limits["answered_tokens_per_minute"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--quota-share", "0.3"], "quota_share: is a share of the deployment's quota (value: 0.3)"),
        (["--quota-share", "0", "--tpm", "1000"], "quota_share: Input should be greater than 0"),
        (["--quota-share", "1.5", "--tpm", "1000"], "quota_share: Input should be less than or equal to 1"),
        (["--concurrency", "0"], "concurrency: Input should be greater than 0"),
    ],
)
def test_bad_sharing_settings_are_named(tmp_path, capsys, args, message):
    argv = [
        "generate",
        "--suite",
        "seed-lab",
        "--run-id",
        "bad",
        "--out",
        str(tmp_path),
        "--provider",
        "azure",
    ]
    assert main(argv + args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_run_config_needs_a_quota_for_a_share():
    with pytest.raises(UserInputError, match=r"^quota_share: "):
        RunConfig.build(run_id="x", quota_share=0.5)
    assert RunConfig.build(run_id="x", quota_share=0.5, rpm=100).quota_share == 0.5
