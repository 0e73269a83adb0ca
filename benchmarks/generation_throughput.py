"""Generation throughput against a quota, side by side in one run: bias-audit's dispatcher with its
default settings (concurrency sized from the quota and the measured latency), the same with the
old fixed 8 requests in flight, the same with a quota share, and the lab's sequential loop.

    .venv/bin/python benchmarks/generation_throughput.py [--tpm N] [--rpm N] [--latency S ...]
                                                         [--samples K] [--lab-requests N]

Every side talks to the same kind of local server (tests/fake_azure_openai.py) that speaks Azure
OpenAI's API, enforces a TPM/RPM quota over a sliding window, answers 429 past it, and answers
after a fixed latency. The quota is the physical limit: the figure that matters is the share of
the *binding* limit each side sustains while it sends (first request to last, as the server saw
them arrive) — tokens as Azure charges them (prompt plus max_tokens) per minute against the TPM,
or requests per minute against the RPM, whichever is nearer its limit — with the 429s and any
lost or duplicated record. ``seconds`` is the whole run, the last answers' latency included. The
lab's loop, one request at a time, is timed over its first ``--lab-requests`` requests (at 3 s per
answer, 200 would take 10 minutes). Also printed: how far the token estimate that charges the
limiter is padded over what the server counted (``token_estimate_headroom`` in run.json).

Goal (issue 14): at least 90 % of the binding limit at 0.3 s and at 3 s latency with default
settings, no lost or duplicated record, at most 2 % of requests answered 429.
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
from bias_audit.run_folder import RunFolder
from bias_audit.suites import load_suite
from tests.fake_azure_openai import FakeAzureOpenAI, Quota, ServerState


def server_state(args: argparse.Namespace, latency: float) -> ServerState:
    return ServerState(quota=Quota(args.tpm, args.rpm, window_seconds=args.window), latency_seconds=latency)


def ours(args: argparse.Namespace, latency: float, **settings) -> dict[str, float]:
    state = server_state(args, latency)
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
            **settings,
        )
        started = time.monotonic()
        result = generate(config, Path(out), provider)
        seconds = time.monotonic() - started
        lines = (result.run_dir / "responses.jsonl").read_text().splitlines()
        keys = [json.loads(line)["request_key"] for line in lines]
        limits = RunFolder(result.run_dir).read_manifest().get("rate_limits", {})
        return summary(
            args,
            state,
            seconds,
            requests=result.total,
            recorded=len(keys),
            unique=len(set(keys)),
            headroom=limits.get("token_estimate_headroom"),
            concurrency=limits.get("concurrency_highest"),
        )


def lab_loop(args: argparse.Namespace, latency: float) -> dict[str, float]:
    """The lab's way: one request after another, the SDK's default retries, no quota awareness."""
    state = server_state(args, latency)
    prompts = [p for _ in range(args.samples) for p in load_suite("seed-lab").prompts()][: args.lab_requests]
    system = load_suite("seed-lab").system_prompt
    with FakeAzureOpenAI(state) as server:
        client = openai.AzureOpenAI(
            azure_endpoint=server.endpoint, api_key=state.api_key, api_version="2024-10-21"
        )
        answers = []
        started = time.monotonic()
        for prompt in prompts:
            try:
                response = client.chat.completions.create(
                    model="gpt-4o",
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": prompt.prompt},
                    ],
                    max_tokens=args.max_tokens,
                )
                answers.append(response.choices[0].message.content)
            except openai.APIError:
                answers.append(None)  # the lab has no error handling; count it as lost
        seconds = time.monotonic() - started
        recorded = sum(1 for a in answers if a is not None)
        return summary(args, state, seconds, requests=len(answers), recorded=recorded, unique=recorded)


def summary(args: argparse.Namespace, state: ServerState, seconds: float, **counts) -> dict[str, float]:
    """Rates over the time the server was receiving (first request to last): the pace the quota
    saw while the audit ran, without the last answers' latency or the set-up before the first."""
    sent = len(state.received)
    arrivals = [r["at"] for r in state.received]
    window = max(arrivals) - min(arrivals) if len(arrivals) > 1 else seconds
    tokens_per_minute = sum(state.charged_total) / window * 60
    requests_per_minute = state.count(200) / window * 60
    shares = [
        tokens_per_minute / args.tpm if args.tpm else 0.0,
        requests_per_minute / args.rpm if args.rpm else 0.0,
    ]
    binding = "tokens" if shares[0] >= shares[1] else "requests"
    return {
        "seconds": seconds,
        "tokens_per_minute": tokens_per_minute,
        "requests_per_minute": requests_per_minute,
        "binding": binding,
        "of_limit": max(shares),
        "sent": sent,
        "429": state.count(429),
        **counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tpm", type=int, default=60_000)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--window", type=float, default=10.0, help="server's quota window, seconds")
    parser.add_argument(
        "--latency", type=float, nargs="+", default=[0.3, 3.0], help="server latency, seconds"
    )
    parser.add_argument("--samples", type=int, default=40, help="samples per seed-lab prompt")
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--share", type=float, default=0.3, help="the quota share of the polite side")
    parser.add_argument("--lab-requests", type=int, default=30, help="requests the lab's loop is timed on")
    args = parser.parse_args()

    print(
        f"quota {args.tpm:,} TPM / {args.rpm:,} RPM (window {args.window:g} s), "
        f"{10 * args.samples} seed-lab requests of max_tokens {args.max_tokens}"
    )
    print(
        f"{'latency':>7}  {'side':<44}{'seconds':>8}{'tokens/min':>11}{'req/min':>8}{'binding':>9}"
        f"{'of limit':>9}{'429 %':>7}{'lost':>5}{'dup':>4}{'in flight':>10}{'estimate/usage':>15}"
    )
    for latency in args.latency:
        sides = {
            "bias-audit, defaults (concurrency sized)": ours(args, latency),
            "bias-audit, --concurrency 8 (the old fixed)": ours(args, latency, concurrency=8),
            f"bias-audit, --quota-share {args.share:g}": ours(args, latency, quota_share=args.share),
            f"lab loop (sequential, first {args.lab_requests})": lab_loop(args, latency),
        }
        for name, r in sides.items():
            headroom = "" if r.get("headroom") is None else f"{r['headroom']:.2f}"
            print(
                f"{latency:>6g}s  {name:<44}{r['seconds']:8.1f}{r['tokens_per_minute']:11,.0f}"
                f"{r['requests_per_minute']:8.0f}{r['binding']:>9}{r['of_limit']:9.1%}"
                f"{r['429'] / max(r['sent'], 1):7.1%}{r['requests'] - r['recorded']:5d}"
                f"{r['recorded'] - r['unique']:4d}{r.get('concurrency') or 1:>10}{headroom:>15}"
            )


if __name__ == "__main__":
    main()
