"""Generation throughput against a quota: our dispatcher vs the lab's sequential loop, in one run.

    .venv/bin/python benchmarks/generation_throughput.py [--tpm N] [--rpm N] [--latency S] [--samples K]

Both sides talk to the same kind of local server (tests/fake_azure_openai.py) that speaks Azure
OpenAI's API, enforces a TPM/RPM quota over a sliding window and answers after a fixed latency.
The quota is the physical limit: the figure that matters is the share of it each side sustains
(tokens as Azure charges them — prompt plus max_tokens — per minute), with the count of 429s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openai

from bias_audit.config import RunConfig
from bias_audit.generate import generate
from bias_audit.llm.remote import AzureProvider, AzureSettings
from bias_audit.suites import load_suite
from tests.fake_azure_openai import FakeAzureOpenAI, Quota, ServerState


def server_state(args: argparse.Namespace) -> ServerState:
    return ServerState(
        quota=Quota(args.tpm, args.rpm, window_seconds=args.window),
        latency_seconds=args.latency,
    )


def charged_per_minute(state: ServerState, seconds: float) -> float:
    return sum(state.charged_total) / seconds * 60


def ours(args: argparse.Namespace) -> dict[str, float]:
    state = server_state(args)
    with FakeAzureOpenAI(state) as server, tempfile.TemporaryDirectory() as out:
        provider = AzureProvider(
            AzureSettings(endpoint=server.endpoint, deployment="gpt-4o", api_key=state.api_key)
        )
        config = RunConfig.build(
            run_id="bench",
            suite="seed-lab",
            samples=args.samples,
            provider="azure",
            max_tokens=args.max_tokens,
            tpm=args.tpm,
            rpm=args.rpm,
            concurrency=args.concurrency,
        )
        started = time.monotonic()
        result = generate(config, Path(out), provider)
        seconds = time.monotonic() - started
        lines = (result.run_dir / "responses.jsonl").read_text().splitlines()
        keys = [json.loads(line)["request_key"] for line in lines]
        return summary(state, seconds, requests=result.total, recorded=len(keys), unique=len(set(keys)))


def lab_loop(args: argparse.Namespace) -> dict[str, float]:
    """The lab's way: one request after another, the SDK's default retries, no quota awareness."""
    state = server_state(args)
    suite = load_suite("seed-lab")
    with FakeAzureOpenAI(state) as server:
        client = openai.AzureOpenAI(
            azure_endpoint=server.endpoint, api_key=state.api_key, api_version="2024-10-21"
        )
        answers = []
        started = time.monotonic()
        for _ in range(args.samples):
            for prompt in suite.prompts():
                try:
                    response = client.chat.completions.create(
                        model="gpt-4o",
                        messages=[
                            {"role": "system", "content": suite.system_prompt},
                            {"role": "user", "content": prompt.prompt},
                        ],
                        max_tokens=args.max_tokens,
                    )
                    answers.append(response.choices[0].message.content)
                except openai.APIError:
                    answers.append(None)  # the lab has no error handling; count it as lost
        seconds = time.monotonic() - started
        recorded = sum(1 for a in answers if a is not None)
        return summary(state, seconds, requests=len(answers), recorded=recorded, unique=recorded)


def summary(state: ServerState, seconds: float, **counts: int) -> dict[str, float]:
    sent = len(state.received)
    return {
        "seconds": seconds,
        "tokens_per_minute": charged_per_minute(state, seconds),
        "sent": sent,
        "429": state.count(429),
        **counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tpm", type=int, default=60_000)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--window", type=float, default=10.0, help="server's quota window, seconds")
    parser.add_argument("--latency", type=float, default=0.3, help="server's answer latency, seconds")
    parser.add_argument("--samples", type=int, default=20, help="samples per seed-lab prompt")
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    print(
        f"quota {args.tpm:,} TPM / {args.rpm:,} RPM (window {args.window:g} s), latency {args.latency:g} s, "
        f"{10 * args.samples} requests of max_tokens {args.max_tokens}"
    )
    results = {"bias-audit (concurrent, rate-limited)": ours(args), "lab loop (sequential)": lab_loop(args)}
    print(
        f"{'side':<40}{'seconds':>9}{'tokens/min':>12}{'of quota':>10}{'sent':>6}{'429s':>6}"
        f"{'429 %':>7}{'recorded':>10}{'lost':>6}{'dup':>5}"
    )
    for name, r in results.items():
        share = r["tokens_per_minute"] / args.tpm
        print(
            f"{name:<40}{r['seconds']:9.1f}{r['tokens_per_minute']:12,.0f}{share:10.1%}{r['sent']:6d}"
            f"{r['429']:6d}{r['429'] / r['sent']:7.1%}{r['recorded']:10d}"
            f"{r['requests'] - r['recorded']:6d}{r['recorded'] - r['unique']:5d}"
        )
    ours_rate, lab_rate = (r["tokens_per_minute"] for r in results.values())
    print(f"ratio bias-audit / lab loop (tokens per minute): {ours_rate / lab_rate:.2f}")


if __name__ == "__main__":
    main()
