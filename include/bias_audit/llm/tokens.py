"""Estimate a chat request's prompt tokens before sending it, to charge the rate limiter.

Uses bpe-openai, a tiktoken-compatible tokenizer whose wheels bundle the encodings: tiktoken
itself downloads its encoding files at first use, which fails on workers without internet access
(and on our CI). The estimate is padded (``HEADROOM``) so the client never under-charges.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

HEADROOM = 1.10
# Chat formatting overhead per message and per reply, as OpenAI's cookbook counts it.
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REPLY = 3


@functools.cache
def _encoding(name: str = "o200k_base"):
    import bpe_openai

    return bpe_openai.get_encoding(name)


def estimate_prompt_tokens(messages: Sequence[dict[str, str]]) -> int:
    counted = sum(TOKENS_PER_MESSAGE + len(_encoding().encode(m.get("content") or "")) for m in messages)
    return math.ceil((counted + TOKENS_PER_REPLY) * HEADROOM)


def estimate_request_tokens(messages: Sequence[dict[str, str]], max_tokens: int, n: int = 1) -> int:
    """What Azure charges against the TPM quota on arrival: prompt tokens plus n x max_tokens."""
    return estimate_prompt_tokens(messages) + n * max_tokens
