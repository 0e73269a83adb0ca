"""The azure and openai providers against a local server that speaks Azure OpenAI's API."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bias_audit.cli import main
from bias_audit.config import RunConfig
from bias_audit.errors import ProviderSetupError, UserInputError
from bias_audit.generate import generate
from bias_audit.llm.ratelimit import RateLimiter
from bias_audit.llm.registry import make_provider
from bias_audit.llm.remote import AzureProvider, AzureSettings, OpenAICompatibleProvider, OpenAISettings
from bias_audit.llm.retry import backoff_seconds, server_wait_seconds
from tests.fake_azure_openai import COMPLETION_FLAG, PROMPT_FLAG, FakeAzureOpenAI, Quota, ServerState

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def server():
    with FakeAzureOpenAI() as fake:
        yield fake


def azure(server, **overrides) -> AzureProvider:
    values = {
        "endpoint": server.endpoint,
        "deployment": "gpt-4o",
        "api_key": server.state.api_key,
        "timeout_seconds": 5,
        "max_attempts": 4,
    }
    return AzureProvider(AzureSettings(**{**values, **overrides}))


def suite_file(tmp_path: Path, prompts: dict[str, str]) -> str:
    lines = ["name: t", "system_prompt: Be fair.", "cases:"]
    for case_id, prompt in prompts.items():
        lines += [f"  - case_id: {case_id}", f"    variants: {{neutral: '{prompt}'}}"]
    path = tmp_path / "suite.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(tmp_path, provider, *, suite="seed-lab", samples=1, run_id="r", **config):
    cfg = RunConfig.build(
        run_id=run_id,
        suite=suite,
        samples=samples,
        provider=provider.name,
        max_tokens=config.pop("max_tokens", 20),
        **config,
    )
    result = generate(cfg, tmp_path / "runs", provider)
    records = [json.loads(line) for line in (result.run_dir / "responses.jsonl").read_text().splitlines()]
    return result, records


def test_azure_records_everything_the_answer_says(tmp_path, server):
    _, records = run(tmp_path, azure(server), samples=2)
    assert len(records) == 20 and {r["outcome"] for r in records} == {"ok"}
    first = records[0]
    assert (
        first["provider"] == "azure" and first["model"] == "gpt-4o" and first["api_version"] == "2024-10-21"
    )
    assert first["response_id"].startswith("chatcmpl-") and first["system_fingerprint"] == "fp_fake0001"
    assert first["prompt_tokens"] > 30 and 0 < first["completion_tokens"] <= 20
    assert first["attempts"] == 1 and first["latency_ms"] > 0
    assert set(json.loads(first["rate_limit"])) == {
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
    }
    assert json.loads(first["content_filter"])["hate"] == {"filtered": False, "severity": "safe"}
    request = server.state.received[0]
    assert request["path"] == "/openai/deployments/gpt-4o/chat/completions"
    assert request["headers"]["api-key"] == server.state.api_key
    body = request["body"]
    assert body["messages"][0] == {"role": "system", "content": first["system_prompt"]}
    assert {"max_tokens", "temperature", "top_p", "seed"} <= set(body)
    assert len(server.state.received) == 20  # one request per answer: nothing sent twice


def test_finish_reasons_and_content_filters_are_recorded_never_retried(tmp_path, server):
    suite = suite_file(
        tmp_path,
        {
            "plain": "Describe a nurse.",
            "long": "Describe a chef.",
            "bad": f"Describe a {PROMPT_FLAG}.",
            "worse": f"Say {COMPLETION_FLAG}.",
        },
    )
    server.state.answer_words = 10
    provider = azure(server)
    cfg = RunConfig.build(run_id="f", suite=suite, samples=1, provider="azure", max_tokens=10)
    generate(cfg, tmp_path, provider)
    records = {
        r["case_id"]: r
        for r in map(json.loads, (tmp_path / "f" / "responses.jsonl").read_text().splitlines())
    }
    assert records["plain"]["outcome"] == records["long"]["outcome"] == "truncated"
    assert records["plain"]["finish_reason"] == "length"
    bad = records["bad"]
    assert bad["outcome"] == "prompt_filtered" and bad["text"] is None
    assert json.loads(bad["content_filter"])["hate"] == {"filtered": True, "severity": "high"}
    worse = records["worse"]
    assert worse["outcome"] == "completion_filtered" and worse["finish_reason"] == "content_filter"
    assert json.loads(worse["content_filter"])["violence"]["filtered"] is True
    assert len(server.state.received) == 4  # filtered requests are not retried


@pytest.mark.parametrize(
    ("fault", "least_wait"),
    [
        ("429:ms=0.6", 0.6),
        ("429:seconds=1", 1.0),
        ("429:date=2", 1.0),
        ("429:message=1", 1.0),
        ("429:none", 0.0),
    ],
)
def test_429_waits_what_the_server_says_then_succeeds(tmp_path, server, fault, least_wait):
    server.state.add_faults(fault)
    started = time.monotonic()
    _, records = run(tmp_path, azure(server), suite=suite_file(tmp_path, {"a": "Describe a nurse."}))
    assert time.monotonic() - started >= least_wait
    assert [r["outcome"] for r in records] == ["ok"] and records[0]["attempts"] == 2
    first, second = server.state.received
    assert second["at"] - first["at"] >= least_wait


def test_429_pauses_every_worker_not_just_one(tmp_path, server):
    server.state.latency_seconds = 0.05
    server.state.add_faults("429:ms=1.0")
    run(tmp_path, azure(server), samples=2, concurrency=4)
    arrivals = [r["at"] for r in server.state.received]
    told = arrivals[0] + server.state.latency_seconds  # when the 429 was answered
    # requests already in flight when the 429 came may arrive just after it; none later until the pause ends
    after = [a for a in arrivals[1:] if told + 0.1 < a < told + 0.95]
    assert after == []
    assert len(arrivals) == 21


def test_429_attempts_are_bounded_then_failed_with_the_reason(tmp_path, server):
    server.state.add_faults(*["429:ms=0.05"] * 3)
    _, records = run(
        tmp_path, azure(server, max_attempts=3), suite=suite_file(tmp_path, {"a": "Describe a nurse."})
    )
    assert records[0]["outcome"] == "failed" and records[0]["attempts"] == 3
    assert "gave up after 3 attempts" in records[0]["error"] and "429" in records[0]["error"]


@pytest.mark.parametrize("fault", ["500", "503", "502", "408", "drop", "hang:1.5"])
def test_transient_faults_are_retried(tmp_path, server, fault):
    server.state.add_faults(fault)
    _, records = run(
        tmp_path, azure(server, timeout_seconds=0.5), suite=suite_file(tmp_path, {"a": "Describe a nurse."})
    )
    assert records[0]["outcome"] == "ok" and records[0]["attempts"] == 2


def test_transient_faults_are_bounded(tmp_path, server):
    server.state.add_faults("503", "500", "503")
    _, records = run(
        tmp_path, azure(server, max_attempts=3), suite=suite_file(tmp_path, {"a": "Describe a nurse."})
    )
    assert records[0]["outcome"] == "failed"
    assert records[0]["error"].startswith("gave up after 3 attempts; last: 503")


@pytest.mark.parametrize(
    ("overrides", "fault", "setting"),
    [
        ({"api_key": "wrong-key-abcdef123456"}, None, "AZURE_OPENAI_API_KEY"),
        ({}, "403", "AZURE_OPENAI_API_KEY or its role assignment"),
        (
            {"deployment": "gpt-5-nope"},
            None,
            "there is no deployment 'gpt-5-nope': check AZURE_OPENAI_DEPLOYMENT",
        ),
        ({"api_version": "2023-03-15-preview"}, None, "AZURE_OPENAI_API_VERSION ('2023-03-15-preview')"),
    ],
)
def test_setup_errors_stop_the_run_at_once_naming_the_setting(tmp_path, server, overrides, fault, setting):
    server.state.latency_seconds = 0.02
    if fault:
        server.state.add_faults("none", "none", fault)  # two answers first: they must stay recorded
        server.state.latency_seconds = 0.0
    with pytest.raises(ProviderSetupError) as stopped:
        run(tmp_path, azure(server, **overrides), samples=3, concurrency=1)
    assert setting in str(stopped.value)
    sent = len(server.state.received)
    assert sent <= 3  # stopped at once: not 30 requests
    if fault:
        lines = (tmp_path / "runs" / "r" / "responses.jsonl").read_text().splitlines()
        assert len(lines) == 2


def test_bad_key_via_the_cli_exits_2_and_names_the_setting(tmp_path, server, monkeypatch, capsys):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.endpoint)
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "gpt-4o")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "not-the-key-987654321")
    code = main(
        [
            "generate",
            "--suite",
            "seed-lab",
            "--samples",
            "1",
            "--run-id",
            "k",
            "--out",
            str(tmp_path),
            "--provider",
            "azure",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "azure answered 401" in err and "check AZURE_OPENAI_API_KEY" in err
    assert "not-the-key-987654321" not in err


def test_missing_azure_settings_are_named(monkeypatch):
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UserInputError, match=r"^environment: AZURE_OPENAI_ENDPOINT: Field required"):
        make_provider("azure")


def test_entra_id_token_when_no_key_is_given(tmp_path, server):
    from azure.core.credentials import AccessToken
    from azure.identity import get_bearer_token_provider

    class FakeCredential:  # stands in for DefaultAzureCredential, which would call Entra ID
        def __init__(self) -> None:
            self.scopes: list[tuple[str, ...]] = []

        def get_token(self, *scopes, **kwargs):
            self.scopes.append(scopes)
            return AccessToken("entra-token-xyz", int(time.time()) + 3600)

        def get_token_info(self, *scopes, options=None):
            from azure.core.credentials import AccessTokenInfo

            self.scopes.append(scopes)
            return AccessTokenInfo("entra-token-xyz", int(time.time()) + 3600)

    credential = FakeCredential()
    server.state.bearer_token = "entra-token-xyz"
    provider = AzureProvider(
        AzureSettings(endpoint=server.endpoint, deployment="gpt-4o"),
        token_provider=get_bearer_token_provider(credential, "https://cognitiveservices.azure.com/.default"),
    )
    _, records = run(tmp_path, provider, suite=suite_file(tmp_path, {"a": "Describe a nurse."}))
    assert records[0]["outcome"] == "ok"
    assert server.state.received[0]["headers"]["authorization"] == "Bearer entra-token-xyz"
    assert "api-key" not in server.state.received[0]["headers"]
    assert credential.scopes[0] == ("https://cognitiveservices.azure.com/.default",)


def test_openai_compatible_provider_on_azures_v1_api(tmp_path, server):
    provider = OpenAICompatibleProvider(
        OpenAISettings(base_url=f"{server.endpoint}/openai/v1/", model="gpt-4o", api_key=server.state.api_key)
    )
    _, records = run(tmp_path, provider, samples=1)
    assert len(records) == 10 and {r["outcome"] for r in records} == {"ok"}
    assert records[0]["provider"] == "openai" and records[0]["api_version"] is None
    assert server.state.received[0]["path"] == "/openai/v1/chat/completions"
    assert server.state.received[0]["headers"]["authorization"] == f"Bearer {server.state.api_key}"


def test_rerun_sends_no_request_already_answered(tmp_path, server):
    provider = azure(server)
    run(tmp_path, provider, samples=2)
    again, records = run(tmp_path, provider, samples=2)
    assert (again.sent, again.already_recorded, len(records)) == (0, 20, 20)
    assert len(server.state.received) == 20


@pytest.mark.slow
def test_resume_after_kill_9_loses_and_duplicates_nothing(tmp_path):
    state = ServerState(latency_seconds=0.05)
    with FakeAzureOpenAI(state) as server:
        env = {
            **os.environ,
            "AZURE_OPENAI_ENDPOINT": server.endpoint,
            "AZURE_OPENAI_DEPLOYMENT": "gpt-4o",
            "AZURE_OPENAI_API_KEY": state.api_key,
        }
        argv = [
            sys.executable,
            "-m",
            "bias_audit.cli",
            "generate",
            "--suite",
            "seed-lab",
            "--samples",
            "8",
            "--run-id",
            "k9",
            "--out",
            str(tmp_path),
            "--provider",
            "azure",
            "--concurrency",
            "4",
        ]
        path = tmp_path / "k9" / "responses.jsonl"
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not path.exists() or path.read_text().count("\n") < 30):
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        recorded_at_kill = path.read_bytes().count(b"\n")
        assert 30 <= recorded_at_kill < 80, "the kill should land mid-run"
        sent_before = len(state.received)

        resumed = subprocess.run(argv, env=env, capture_output=True, text=True)

        assert resumed.returncode == 0, resumed.stderr
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(records) == 80
        assert len({r["request_key"] for r in records}) == 80  # exactly one record per request
        assert len(state.received) - sent_before == 80 - recorded_at_kill  # nothing answered was re-sent


def test_the_key_never_appears_in_logs_records_or_errors(tmp_path, server, caplog):
    caplog.set_level(logging.DEBUG)
    secret = server.state.api_key
    server.state.add_faults("429:ms=0.05", "500")
    provider = azure(server)
    result, records = run(tmp_path, provider, samples=1)
    with pytest.raises(ProviderSetupError) as wrong:
        run(tmp_path, azure(server, api_key=f"{secret}-wrong"), run_id="w")
    everything = "\n".join(
        [
            caplog.text,
            (result.run_dir / "responses.jsonl").read_text(),
            (result.run_dir / "run.json").read_text(),
            str(wrong.value),
            repr(wrong.value),
            repr(AzureSettings(endpoint="http://x", deployment="d", api_key=secret)),
        ]
    )
    assert len(records) == 10 and "HTTP Request" in caplog.text  # the SDK's own logging was captured
    assert secret not in everything


def test_server_wait_hints_in_order():
    now = 1_000_000.0
    assert server_wait_seconds({"retry-after-ms": "250", "retry-after": "9"}, None) == 0.25
    assert server_wait_seconds({"Retry-After": "3"}, None) == 3.0
    assert server_wait_seconds(
        {"retry-after": "Mon, 12 Jan 1970 13:46:45 GMT"}, None, now=now
    ) == pytest.approx(5.0)
    assert server_wait_seconds({}, "Please retry after 7 seconds. Go here") == 7.0
    assert server_wait_seconds({}, "Rate limit is exceeded.") is None
    rng = random.Random(1)
    waits = [backoff_seconds(attempt, rng=rng) for attempt in range(1, 12)]
    assert all(0.125 <= w <= 0.5 for w in waits[:1]) and all(w <= 30 for w in waits)
    assert waits[5] > waits[0]


def test_rate_limiter_keeps_every_window_within_the_quota():
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    tpm, rpm, utilisation, burst = 60_000, 600, 0.95, 0.25
    limiter = RateLimiter(
        tpm, rpm, utilisation=utilisation, burst_seconds=burst, clock=lambda: clock[0], sleep=sleep
    )
    rng = random.Random(7)
    sent: list[tuple[float, int]] = []

    async def go() -> None:
        for _ in range(3000):
            tokens = rng.randint(20, 400)
            await limiter.acquire(tokens)
            sent.append((clock[0], tokens))

    asyncio.run(go())
    elapsed = sent[-1][0]
    achieved = sum(t for _, t in sent) / elapsed * 60
    assert 0.9 * tpm <= achieved <= tpm  # close to the quota, never over it
    for window in (1.0, 10.0, 60.0):
        start = 0
        for end, (at, _) in enumerate(sent):
            while sent[start][0] <= at - window:
                start += 1
            tokens = sum(t for _, t in sent[start : end + 1])
            assert tokens <= utilisation * tpm * (window + burst) / 60 + 400
            assert end + 1 - start <= utilisation * rpm * (window + burst) / 60 + 1


def test_rate_limiter_pause_holds_everyone():
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    limiter = RateLimiter(None, None, clock=lambda: clock[0], sleep=sleep)

    async def go() -> float:
        await limiter.acquire(10)
        limiter.pause(2.5)
        await limiter.acquire(10)
        return clock[0]

    assert asyncio.run(go()) == pytest.approx(2.5)


def test_server_quota_429_is_waited_out_when_the_client_ignores_the_quota(tmp_path):
    # The client is told no quota, so only the server's 429s (with retry-after-ms) keep it in line.
    state = ServerState(quota=Quota(tokens_per_minute=12_000, window_seconds=1.0))
    with FakeAzureOpenAI(state) as server:
        _, records = run(tmp_path, azure(server, max_attempts=10), samples=1, concurrency=4)
    assert {r["outcome"] for r in records} == {"ok"} and len(records) == 10
    assert state.count(429) > 0
    assert sum(r["attempts"] for r in records) == len(state.received)


def test_progress_line_reports_done_total_tokens_per_minute_and_eta(tmp_path, server, caplog):
    caplog.set_level(logging.INFO, logger="bias_audit.generate")
    run(tmp_path, azure(server), samples=1)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("generate: 10/10 done")]
    assert lines, caplog.text
    assert " tokens/min, ETA " in lines[0] and "outcomes {'ok': 10}" in lines[0]
