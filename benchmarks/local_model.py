"""Tokens/s of the local provider vs raw llama-cpp-python on the same prompts, in one run.

    .venv/bin/python benchmarks/local_model.py [--samples K] [--max-tokens N]

Both sides run the seed-lab prompts with the same template, settings and seeds; the provider adds
request bookkeeping (template, seed derivation, result mapping) on top of llama.cpp. The ratio
shows what that costs: close to 1.0 means the provider adds nothing measurable.
"""

from __future__ import annotations

import argparse
import time

from llama_cpp import Llama

from bias_audit.config import RunConfig
from bias_audit.generate import expand
from bias_audit.llm.local import N_CTX, STOP, LocalProvider, model_path, render_prompt
from bias_audit.suites import load_suite


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

    raw = Llama(model_path=str(path), n_ctx=N_CTX, verbose=False)
    provider = LocalProvider(path)
    provider.complete(requests[0])  # load and warm up both before timing
    raw.create_completion(render_prompt(requests[0].system_prompt, requests[0].prompt), max_tokens=4)

    started = time.perf_counter()
    raw_tokens = 0
    for r in requests:
        out = raw.create_completion(
            render_prompt(r.system_prompt, r.prompt),
            max_tokens=r.max_tokens,
            temperature=r.temperature,
            top_p=r.top_p,
            seed=r.seed,
            stop=STOP,
        )
        raw_tokens += out["usage"]["completion_tokens"]
    raw_seconds = time.perf_counter() - started

    started = time.perf_counter()
    ours_tokens = sum(provider.complete(r).completion_tokens or 0 for r in requests)
    ours_seconds = time.perf_counter() - started

    raw_rate, ours_rate = raw_tokens / raw_seconds, ours_tokens / ours_seconds
    print(f"requests: {len(requests)} (seed-lab x {args.samples} samples, max_tokens {args.max_tokens})")
    print(f"raw llama-cpp-python: {raw_tokens:5d} tokens in {raw_seconds:6.2f} s = {raw_rate:6.1f} tokens/s")
    print(
        f"local provider:       {ours_tokens:5d} tokens in {ours_seconds:6.2f} s = {ours_rate:6.1f} tokens/s"
    )
    print(f"ratio (provider / raw): {ours_rate / raw_rate:.3f}")


if __name__ == "__main__":
    main()
