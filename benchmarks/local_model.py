"""Tokens/s of the local provider vs raw llama-cpp-python on the same prompts, in one run.

    .venv/bin/python benchmarks/local_model.py [--samples K] [--max-tokens N]

Every side runs the seed-lab prompts with the same template, settings and seeds (so they generate
the same tokens); the provider adds request bookkeeping (template, seed derivation, result mapping)
and uses every core. Against raw llama-cpp-python with the same thread count, a ratio close to 1.0
means the provider adds nothing measurable.
"""

from __future__ import annotations

import argparse
import os
import time

from llama_cpp import Llama

from bias_audit.config import RunConfig
from bias_audit.llm.local import N_CTX, STOP, LocalProvider, model_path, render_prompt
from bias_audit.run_requests import expand
from bias_audit.suites import load_suite


def time_raw(llm: Llama, requests: list) -> tuple[int, float]:
    started = time.perf_counter()
    tokens = 0
    for r in requests:
        out = llm.create_completion(
            render_prompt(r.system_prompt, r.prompt),
            max_tokens=r.max_tokens,
            temperature=r.temperature,
            top_p=r.top_p,
            seed=r.seed,
            stop=STOP,
        )
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - started


def time_provider(provider: LocalProvider, requests: list) -> tuple[int, float]:
    started = time.perf_counter()
    tokens = sum(provider.complete(r).completion_tokens or 0 for r in requests)
    return tokens, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    config = RunConfig.build(
        run_id="bench", suite="seed-lab", samples=args.samples, max_tokens=args.max_tokens
    )
    requests = expand(load_suite("seed-lab"), config)
    path = model_path()
    threads = os.cpu_count() or 1

    # The naive way: llama-cpp-python's defaults (n_threads = half the cores); then the same
    # library with the thread count the provider uses, so the ratio isolates the provider's overhead.
    sides = {
        "raw llama-cpp-python, default threads": Llama(model_path=str(path), n_ctx=N_CTX, verbose=False),
        f"raw llama-cpp-python, {threads} threads": Llama(
            model_path=str(path), n_ctx=N_CTX, n_threads=threads, verbose=False
        ),
    }
    provider = LocalProvider(path)
    provider.complete(requests[0])  # load and warm up every side before timing
    for llm in sides.values():
        llm.create_completion(render_prompt(requests[0].system_prompt, requests[0].prompt), max_tokens=4)

    print(f"requests: {len(requests)} (seed-lab x {args.samples} samples, max_tokens {args.max_tokens})")
    rates = {}
    for name, llm in sides.items():
        tokens, seconds = time_raw(llm, requests)
        rates[name] = tokens / seconds
        print(f"{name:<40} {tokens:5d} tokens in {seconds:6.2f} s = {rates[name]:6.1f} tokens/s")
    tokens, seconds = time_provider(provider, requests)
    ours = tokens / seconds
    name = "local provider (bias-audit)"
    print(f"{name:<40} {tokens:5d} tokens in {seconds:6.2f} s = {ours:6.1f} tokens/s")
    for name, rate in rates.items():
        print(f"ratio provider / {name}: {ours / rate:.3f}")


if __name__ == "__main__":
    main()
