"""The record of one answer: one line of ``responses.jsonl`` and one row of the ``responses`` table.

Filtered and failed requests are records too: dropping them would bias the audit.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Outcome = Literal["ok", "truncated", "completion_filtered", "prompt_filtered", "failed"]
OUTCOMES: tuple[str, ...] = typing.get_args(Outcome)


class ResponseRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    suite: str
    case_id: str
    variant: str
    prompt: str
    system_prompt: str
    sample_index: int
    request_key: str
    provider: str
    model: str
    api_version: str | None
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    outcome: Outcome
    finish_reason: str | None
    text: str | None
    content_filter: str | None  # the provider's filter result, as JSON text
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float | None
    attempts: int
    response_id: str | None
    system_fingerprint: str | None
    error: str | None  # why the outcome is `failed`; never holds a secret
    rate_limit: str | None  # the provider's x-ratelimit-* headers of the answer, as JSON text
    created_at: datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


_SPARK_TYPES = {str: "STRING", int: "BIGINT", float: "DOUBLE", bool: "BOOLEAN", datetime: "TIMESTAMP"}


def spark_ddl(record: type[BaseModel] = ResponseRecord) -> str:
    """The Spark schema of a record (an answer; a judge's grade, judge/grading.py) as DDL, derived
    from the model so the two cannot drift."""
    columns = []
    for name, field in record.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, types.UnionType):
            annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
        spark_type = "STRING" if typing.get_origin(annotation) is Literal else _SPARK_TYPES[annotation]
        columns.append(f"{name} {spark_type}")
    return ", ".join(columns)
