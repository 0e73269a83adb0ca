"""Grading answers with the judge: requests sent like generation's (rate-limited, concurrent, the
provider's own retries), every grade recorded, every grade cached.

- ``<run>/grades.jsonl``: one line per graded answer (``GradeRecord``), appended as grades arrive;
  the Spark job joins it to the run's features (column ``stereotyping``).
- ``<runs>/.judge-cache.jsonl``: every grade by its judge key, the hash of the judge's request
  (the answer and its question, the rubric and its version, the judge's provider, model and api
  version; llm/base.py ``Request.key``). Grading an answer again (a re-run, a re-analysis, another
  run with the same answer, judge-check) costs no request.

A grade that cannot be read is recorded as ``unparseable`` with what was wrong, and cached: asking
again at temperature 0 would cost a request for the same reply. A request that failed (after the
provider's retries) is recorded as ``failed`` and asked again on the next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from bias_audit.judge.rubric import RUBRIC_VERSION, judge_request, parse_grade
from bias_audit.llm.base import Completion, Provider, Request
from bias_audit.llm.dispatch import closing, dispatch
from bias_audit.llm.ratelimit import Concurrency, RateLimiter
from bias_audit.records import utc_now
from bias_audit.run_folder import ResponseLog, RunFolder, judge_cache

if TYPE_CHECKING:
    from bias_audit.config import RunConfig

log = logging.getLogger(__name__)

GradeStatus = Literal["ok", "unparseable", "filtered", "failed"]
GRADED = ("ok", "truncated")  # the outcomes whose answers have text to grade
# What names a judge (its check's file, the grades a run's analysis takes); grades also record the
# judge's api version, which is part of their cache key.
JUDGE_KEYS = ("rubric_version", "judge_provider", "judge_model")


class GradeRecord(BaseModel):
    """The judge's grade of one answer (``request_key``: the answer's; a labelled item's id in
    judge-check)."""

    model_config = ConfigDict(extra="forbid")

    request_key: str
    judge_key: str
    rubric_version: str
    judge_provider: str
    judge_model: str
    judge_api_version: str | None
    replicate: int
    status: GradeStatus
    grade: int | None
    reason: str | None
    problem: str | None  # unparseable: what was wrong; failed: why; never a secret
    reply: str | None  # the judge's reply as it came (at most 500 characters), for the record
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: float | None
    cached: bool  # taken from the cache: no request was sent for it
    created_at: datetime


@dataclass(frozen=True)
class Item:
    """One thing to grade: an answer (``subject``: its request key) to a question."""

    subject: str
    question: str
    answer: str
    replicate: int = 0


@dataclass(frozen=True)
class JudgeLimits:
    """The judge deployment's quota (it is usually not the audited one's) and concurrency."""

    tpm: int | None = None
    rpm: int | None = None
    concurrency: int | None = None

    @classmethod
    def of(cls, config: RunConfig) -> JudgeLimits:
        return cls(config.judge_tpm, config.judge_rpm, config.concurrency)


def judge_identity(provider: Provider) -> dict[str, str | None]:
    """What a grade depends on besides the answer: recorded in run.json and each check's file."""
    return {
        "rubric_version": RUBRIC_VERSION,
        "judge_provider": provider.name,
        "judge_model": provider.model,
        "judge_api_version": provider.api_version,
    }


class Grader:
    """Grades items with one judge, through the shared cache."""

    def __init__(self, provider: Provider, runs: Path, limits: JudgeLimits | None = None):
        self.provider = provider
        self.limits = limits or JudgeLimits()
        self.cache = ResponseLog(judge_cache(runs))
        self.known: dict[str, dict] = {
            r["judge_key"]: r for r in self.cache.records() if r.get("status") != "failed"
        }
        self.sent = 0

    def key(self, request: Request) -> str:
        return request.key(self.provider.name, self.provider.model, self.provider.api_version)

    def grade(self, items: Iterable[Item]) -> list[GradeRecord]:
        """Each item's grade, from the cache where there is one, else from the judge; items with the
        same judge key are asked once."""
        requests = [(item, judge_request(item.question, item.answer, item.replicate)) for item in items]
        keyed = [(item, self.key(request), request) for item, request in requests]
        pending: dict[str, Request] = {}
        for _, key, request in keyed:
            if key not in self.known:
                pending.setdefault(key, request)
        if pending:
            log.info(
                "judge: %d grade(s) to ask %s %s for", len(pending), self.provider.name, self.provider.model
            )
            fresh = asyncio.run(self._send(pending))
        else:
            fresh = {}
        graded = []
        for item, key, _ in keyed:
            if key in fresh:
                graded.append(fresh[key].model_copy(update={"request_key": item.subject}))
            else:
                graded.append(
                    GradeRecord.model_validate(
                        {
                            **self.known[key],
                            "request_key": item.subject,
                            "cached": True,
                            "created_at": utc_now(),
                        }
                    )
                )
        return graded

    async def _send(self, pending: dict[str, Request]) -> dict[str, GradeRecord]:
        limiter = RateLimiter(self.limits.tpm, self.limits.rpm)
        concurrency = Concurrency.within(limiter, self.limits.concurrency, self.provider.max_concurrency)
        fresh: dict[str, GradeRecord] = {}
        self.cache.open()

        def record(key: str, request: Request, completion: Completion) -> None:
            entry = self._record(key, request, completion)
            fresh[key] = entry
            self.sent += 1
            if entry.status != "failed":
                self.cache.append(entry)
                self.known[key] = entry.model_dump(mode="json")

        try:
            await closing(
                self.provider, dispatch(list(pending.items()), self.provider, limiter, concurrency, record)
            )
        finally:
            self.cache.close()
        return fresh

    def _record(self, key: str, request: Request, completion: Completion) -> GradeRecord:
        if completion.outcome == "failed":
            status, grade, reason, problem = "failed", None, None, completion.error
        elif completion.outcome in ("prompt_filtered", "completion_filtered"):
            status, grade, reason, problem = "filtered", None, None, f"the judge's {completion.outcome}"
        else:
            parsed = parse_grade(completion.text)
            status = "ok" if parsed.parsed else "unparseable"
            grade, reason, problem = parsed.grade, parsed.reason, parsed.problem
            if completion.outcome == "truncated" and not parsed.parsed:
                problem = f"cut at max_tokens: {problem}"
        return GradeRecord(
            request_key="",
            judge_key=key,
            **judge_identity(self.provider),
            replicate=request.sample_index,
            status=status,
            grade=grade,
            reason=reason,
            problem=problem,
            reply=None if completion.text is None else completion.text[:500],
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            latency_ms=completion.latency_ms,
            cached=False,
            created_at=utc_now(),
        )


@dataclass
class GradingResult:
    answers: int  # answers with text, graded or not before
    asked: int  # requests sent to the judge
    statuses: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {"answers": self.answers, "asked": self.asked, "statuses": self.statuses}


def grade_run(
    folder: RunFolder, runs: Path, provider: Provider, limits: JudgeLimits | None = None
) -> GradingResult:
    """Grade every answer of the run that has text and no grade by this judge and rubric yet (a
    failed one is asked again); append the grades to the run's grades.jsonl and record the judge in
    run.json."""
    answers = gradable_answers(folder)
    identity = judge_identity(provider)
    current = current_grades(folder, identity)
    todo = [
        Item(key, str(r["prompt"]), str(r["text"]))
        for key, r in answers.items()
        if current.get(key, {}).get("status", "failed") == "failed"
    ]
    grader = Grader(provider, runs, limits)
    grades = grader.grade(todo)
    log_ = ResponseLog(folder.grades).open()
    try:
        for grade in grades:
            log_.append(grade)
            current[grade.request_key] = grade.model_dump(mode="json")
    finally:
        log_.close()
    statuses = dict(Counter(grade["status"] for grade in current.values()))
    manifest = folder.read_manifest()
    folder.write_manifest({**manifest, "judge_grading": {**identity, "statuses": statuses}})
    log.info(
        "judge: run %s: %d answers with text, %d graded now (%d asked of the judge), grades: %s",
        folder.run_id, len(answers), len(grades), grader.sent, statuses,
    )  # fmt: skip
    return GradingResult(len(answers), grader.sent, statuses)


def gradable_answers(folder: RunFolder) -> dict[str, dict]:
    """The run's answers that have text to grade (the latest record of each), by request key."""
    latest = {r["request_key"]: r for r in folder.response_log().records()}
    return {k: r for k, r in latest.items() if r["outcome"] in GRADED and (r.get("text") or "").strip()}


def current_grades(folder: RunFolder, identity: dict[str, str | None]) -> dict[str, dict]:
    """The run's latest grade of each answer by this judge and rubric."""
    grades: dict[str, dict] = {}
    for record in ResponseLog(folder.grades).records():
        if all(record.get(k) == v for k, v in identity.items()) and record.get("replicate", 0) == 0:
            grades[record["request_key"]] = record
    return grades
