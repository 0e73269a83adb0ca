"""The wire format of chat completions, shared by the online path (remote.py) and the Batch API's
output lines (batch.py): a completion as the record's outcome, text, usage and filter result, and
what an error body says (message, code, Azure's content filter result)."""

from __future__ import annotations

from typing import Any

import openai

from bias_audit.llm.base import Completion

RATE_LIMIT_HEADERS = ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens")


def completion_of(
    response: Any, *, latency_ms: float | None, attempt: int, headers: dict[str, str] | None
) -> Completion:
    """A chat completion as the record's outcome, text, usage and filter result (the online path
    and the Batch API's output lines alike)."""
    choice = response.choices[0]
    finish = choice.finish_reason
    outcome = {"length": "truncated", "content_filter": "completion_filtered"}.get(finish or "", "ok")
    extra = choice.model_extra or {}
    usage = response.usage
    return Completion(
        outcome=outcome,
        text=choice.message.content if choice.message else None,
        finish_reason=finish,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        latency_ms=latency_ms,
        attempts=attempt,
        response_id=response.id,
        system_fingerprint=response.system_fingerprint,
        content_filter=extra.get("content_filter_results"),
        rate_limit=headers,
    )


def failed(error: str, attempts: int, latency_ms: float | None = None) -> Completion:
    return Completion(
        outcome="failed", text=None, finish_reason=None, latency_ms=latency_ms, attempts=attempts, error=error
    )


def error_message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    message = error.get("message") if isinstance(error, dict) else None
    return str(message or exc.message)


def error_code(exc: openai.APIStatusError) -> str | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return error.get("code") if isinstance(error, dict) else None


def inner_filter_result(exc: openai.APIStatusError) -> dict[str, Any] | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    return filter_result_of(body.get("error", body))


def filter_result_of(error: Any) -> dict[str, Any] | None:
    """The content filter's result in an Azure error body's ``innererror``."""
    inner = error.get("innererror") if isinstance(error, dict) else None
    return inner.get("content_filter_result") if isinstance(inner, dict) else None
