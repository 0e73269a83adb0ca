"""Generation: expand a suite into requests, send them to the provider, record every answer.

Records are appended to the run folder's ``responses.jsonl`` (run_folder.py) one line per answer, flushed and
fsynced as they arrive, so a run killed half-way keeps what it had; run again with the same
run_id, it sends only the requests that have no record yet (keyed by ``request_key``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.llm.base import Completion, Provider, Request
from bias_audit.llm.batch import retryable
from bias_audit.llm.dispatch import Progress, closing, dispatch, duration
from bias_audit.llm.ratelimit import Concurrency, RateLimiter
from bias_audit.metric_registry import TEXT_METRICS
from bias_audit.plan import announce_plan
from bias_audit.records import ResponseRecord, utc_now
from bias_audit.run_folder import ResponseLog, RunFolder
from bias_audit.run_requests import design_of, effective_settings, expand, prompt_tokens
from bias_audit.scoring.features import score_text
from bias_audit.scoring.tasks import TASK_COLUMNS, Scoring, analysis_layout, task_scores, unit_of
from bias_audit.stats.design import SEQUENTIAL
from bias_audit.stats.metrics import answer_values
from bias_audit.stats.sequential import (
    SequentialAnalysis,
    analyse,
    described,
    needed_prompts,
    round_cost,
    stop_in_words,
    undecided_in_words,
)
from bias_audit.suites import Suite, load_suite
from bias_audit.thresholds import Thresholds

log = logging.getLogger(__name__)


@dataclass
class GenerationResult:
    run_dir: Path
    total: int
    sent: int
    already_recorded: int
    outcomes: dict[str, int]
    sequential: dict[str, object] | None = None  # rounds, stop reason, spent (sequential runs)


def generate(
    config: RunConfig, out_dir: Path, provider: Provider, *, origin: Mapping[str, str] | None = None
) -> GenerationResult:
    """Send every request of the run that has no record yet; append each answer as it arrives.
    A sequential run (``mode``) sends them in rounds, analysing after each (sequential.py).
    ``origin``: what started the run, recorded in run.json (the DAG: ``airflow_dag_id`` and
    ``airflow_run_id``, which the audit pages link to)."""
    suite, first = preflight(config)
    sequential = config.mode == SEQUENTIAL
    folder = RunFolder.of(out_dir, config.run_id)
    folder.check_owner(origin)
    responses = folder.response_log().open()
    try:
        sender = Sender(config, suite, folder, provider, responses, origin)
    except BaseException:
        responses.close()
        raise
    try:
        log.info(
            "generate: run %s, suite %s, %s, provider %s, model %s, concurrency %s, quota %s TPM / %s RPM%s",
            config.run_id,
            suite.name,
            "sequential" if sequential else f"{config.samples} samples per prompt",
            provider.name,
            provider.model,
            "the Azure Batch API" if config.batch else sender.concurrency.describe(),
            config.tpm or "no",
            config.rpm or "no",
            "" if config.quota_share is None else f", of which this audit uses {config.quota_share:.0%}",
        )
        sender.plan = announce_plan(config, suite)
        sender.manifest(first, status="generating")  # before any request: the run is listed at once
        if sequential:
            rounds = SequentialRounds(sender)
            asyncio.run(closing(provider, rounds.run()))  # one event loop for every round
            summary = rounds.summary()
        else:
            asyncio.run(closing(provider, sender.send(first)))
            summary = None
    finally:
        responses.close()
        sender.report_rate_limits()
    sender.manifest(sender.requested, status="generated", sequential=summary)
    return GenerationResult(
        folder.path,
        len(sender.requested),
        sender.sent,
        len(sender.requested) - sender.sent,
        dict(sender.outcomes),
        summary,
    )


class Sender:
    """Sends requests that have no record yet and records their answers; keeps every record of
    the run by request key, for the analysis between rounds and the budget."""

    def __init__(
        self,
        config: RunConfig,
        suite: Suite,
        folder: RunFolder,
        provider: Provider,
        responses: ResponseLog,
        origin: Mapping[str, str] | None = None,
    ):
        self.config, self.suite, self.folder, self.provider = config, suite, folder, provider
        self.origin = dict(origin or {})
        self.plan: dict[str, object] | None = None  # plan.py, set before the first request
        self.responses = responses
        # every record by key (the latest), but not batch lines that expired or failed: sent again
        latest = {r["request_key"]: r for r in responses.records()}
        self.records = {key: r for key, r in latest.items() if not retryable(r)}
        self.batch = provider.batch_sender(folder.path) if config.batch else None
        self.requested: list[Request] = []
        self.keys: list[str] = []
        self.sent = 0
        self.outcomes: Counter[str] = Counter()
        self.limiter = RateLimiter(config.tpm, config.rpm, share=config.quota_share or 1.0)
        self.concurrency = Concurrency.within(self.limiter, config.concurrency, provider.max_concurrency)
        self.sending_seconds = 0.0
        self.estimated_prompt_tokens = 0  # of the answers of this pass that report their usage
        self.reported_prompt_tokens = 0
        self.rate_limits: dict[str, object] = {}

    def key(self, request: Request) -> str:
        return request.key(self.provider.name, self.provider.model, self.provider.api_version)

    async def send(self, requests: list[Request]) -> None:
        keyed = [(self.key(r), r) for r in requests]
        pending = [(key, request) for key, request in keyed if key not in self.records]
        self.requested += requests
        self.keys += [key for key, _ in keyed]
        progress = Progress(total=len(keyed), already=len(keyed) - len(pending))
        log.info("generate: %d requests (%d already recorded)", len(keyed), len(keyed) - len(pending))

        def record(key: str, request: Request, completion: Completion) -> None:
            entry = _record(self.config.run_id, key, request, self.provider, completion)
            self.responses.append(entry)
            self.records[key] = entry.model_dump(mode="json")
            self.sent += 1
            self.outcomes[entry.outcome] += 1
            if entry.prompt_tokens and self.limiter.limited:
                self.estimated_prompt_tokens += prompt_tokens(request)
                self.reported_prompt_tokens += entry.prompt_tokens
            progress.update(entry)

        started = time.monotonic()
        try:
            if self.batch is not None:
                await self.batch.send(pending, record)
            else:
                await dispatch(pending, self.provider, self.limiter, self.concurrency, record)
        finally:
            self.sending_seconds += time.monotonic() - started
        progress.finish()

    def report_rate_limits(self) -> None:
        """The run's use of the quota, in the log and (``rate_limits``) in run.json: 429s, time
        paused, tokens per minute charged and answered, the share of the quota used, the
        concurrency reached, and how far the token estimate is padded over what the server
        counted. Many 429s at the given quota say it is wrong (or shared): a warning says so."""
        limiter, config = self.limiter, self.config
        if not limiter.limited or not self.sent or self.batch is not None:
            return
        stats = limiter.stats
        minutes = max(self.sending_seconds, 1e-9) / 60
        used = []
        if config.tpm:
            used.append(stats.tokens_charged / minutes / config.tpm)
        if config.rpm:
            used.append(stats.requests / minutes / config.rpm)
        self.rate_limits = {
            **stats.as_dict(),
            "seconds": round(self.sending_seconds, 1),
            "charged_tokens_per_minute": round(stats.tokens_charged / minutes),
            "answered_tokens_per_minute": round(self.tokens() / minutes),
            "requests_per_minute": round(stats.requests / minutes, 1),
            "quota_used": round(max(used), 3),  # of the binding limit
            "quota_share": limiter.share,
            "concurrency_highest": self.concurrency.highest,
            "latency_seconds": None
            if self.concurrency.latency is None
            else round(self.concurrency.latency, 3),
            "token_estimate_headroom": (
                round(self.estimated_prompt_tokens / self.reported_prompt_tokens, 3)
                if self.reported_prompt_tokens
                else None
            ),
        }
        log.info("generate: rate limits: %s", json.dumps(self.rate_limits))
        if stats.rate_limited > max(2, 0.02 * stats.requests):
            log.warning(
                "generate: %d of %d requests were answered 429 (paused %.0f s in all) at %s: the "
                "deployment's quota is lower than that, or other traffic shares it; check the "
                "deployment's quota in Azure and lower --tpm/--rpm, or set --quota-share",
                stats.rate_limited,
                stats.requests,
                stats.paused_seconds,
                " and ".join(
                    f"--{name} {value}" for name, value in (("tpm", config.tpm), ("rpm", config.rpm)) if value
                ),
            )

    def answered(self) -> list[dict]:
        """The records of the requests sent so far (this pass or an earlier one)."""
        return [self.records[key] for key in self.keys if key in self.records]

    def tokens(self) -> int:
        return sum((r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0) for r in self.answered())

    def manifest(self, requests: list[Request], *, status: str, sequential: dict | None = None) -> None:
        _write_manifest(
            self.folder, self.config, self.suite, self.provider, total=len(requests), status=status,
            sequential=sequential, rate_limits=self.rate_limits or None, origin=self.origin,
            plan=self.plan,
        )  # fmt: skip


def preflight(config: RunConfig) -> tuple[Suite, list[Request]]:
    """The run's suite and its first requests (a fixed run: all of them), once the budget is known
    to pay for them: a bad suite or budget fails here, before a model is loaded or a file written."""
    suite = load_suite(config.suite)
    indices = range(design_of(config, suite).looks[0]) if config.mode == SEQUENTIAL else None
    first = expand(suite, config, indices)
    check_budget(config, first)
    return suite, first


def check_budget(config: RunConfig, first: list[Request]) -> None:
    """Refuse, before any request, a budget that cannot pay for the first round (a fixed run: all
    of it). Tokens: the prompts' own tokens, which every request costs whatever it answers."""
    if config.budget_requests is not None and len(first) > config.budget_requests:
        what = "the first round" if config.mode == SEQUENTIAL else "this fixed run"
        raise UserInputError(
            f"{what} needs {len(first)} requests, more than the budget (value: {config.budget_requests})",
            field="budget_requests",
        )
    if config.budget_tokens is not None:
        least = sum(prompt_tokens(r) for r in first)
        if least > config.budget_tokens:
            what = "the first round's" if config.mode == SEQUENTIAL else "this fixed run's"
            raise UserInputError(
                f"{what} prompts alone take about {least} tokens, more than the budget "
                f"(value: {config.budget_tokens})",
                field="budget_tokens",
            )


class SequentialRounds:
    """The rounds of a sequential run (sequential.py): after each, the answers so far are scored as
    the Spark job scores them (features.score_text) and analysed with the same statistics; the run
    stops once the verdict is settled, at max_samples, or before a round that would exceed the
    budget. Resumable: a round's requests depend only on the answers of the rounds before it, so a
    killed run, started again, asks for the same requests and sends those without a record."""

    def __init__(self, sender: Sender):
        self.sender = sender
        config = sender.config
        self.design = design_of(config, sender.suite)
        self.thresholds = Thresholds.from_overrides(config.thresholds)
        self.facts = {case.case_id: case.attributes for case in sender.suite.cases}
        # the cases of the analysis (a kind's unit, EsBBQ's template, gathers several of the suite's)
        self.unit = {c: unit_of(sender.suite.task, c, facts) for c, facts in self.facts.items()}
        self.layout = analysis_layout(sender.suite)
        self.scoring = Scoring.of_suite(sender.suite)
        self.scores: dict[str, dict] = {}
        self.rounds: list[dict[str, object]] = []
        self.reason: str | None = None  # why it stopped, once it has
        self.analysis: SequentialAnalysis | None = None

    async def run(self) -> None:
        sender, design, config = self.sender, self.design, self.sender.config
        needed: set[tuple[str, str]] | None = None  # all prompts in the first round
        log.info("generate: sequential, %s", design.describe())
        reason = "max_samples"
        for look, samples in enumerate(design.looks, 1):
            start = design.looks[look - 2] if look > 1 else 0
            batch = expand(sender.suite, config, range(start, samples), needed)
            if look > 1 and self._over_budget(batch):
                reason = "budget"
                break
            started = time.monotonic()
            await sender.send(batch)
            pace = (time.monotonic() - started) / max(len(batch), 1)  # seconds per request, this round
            self.analysis = analyse(self.values(), design, look, self.thresholds, self.scoring)
            undecided = self.analysis.undecided
            self.rounds.append(
                {
                    "round": look,
                    "samples": samples,
                    "requests": len(batch),
                    "prompts": len(batch) // (samples - start),
                    "verdict": self.analysis.verdict,
                    "undecided": [described(r) for r in undecided],
                    "futile": [described(r) for r in self.analysis.futile],
                }
            )
            log.info(
                "generate: round %d of %d (%d samples per prompt, %d requests): verdict so far %s; "
                "%d comparison(s) still undecided: %s",
                look,
                len(design.looks),
                samples,
                len(batch),
                self.analysis.verdict,
                len(undecided),
                undecided_in_words(undecided),
            )
            sender.manifest(sender.requested, status="generating", sequential=self.summary())
            if self.analysis.settled:
                # settled with an inconclusive verdict: what is open cannot be settled by more samples
                futile = self.analysis.verdict == "inconclusive" and self.analysis.futile
                reason = "futile" if futile else "decided"
                break
            wanted = needed_prompts(undecided, self.layout, self.scoring)
            needed = {
                (c, v) for c in self.facts for v in self.layout[self.unit[c]] if (self.unit[c], v) in wanted
            }
            if look < len(design.looks):  # after the last look nothing is left to ask
                log.info("generate: %s", rest_of_run(design, look, len(needed), pace))
        self.reason = reason
        log.info("generate: %s", stop_in_words(self.reason, len(self.rounds), design, self.samples()))

    def _over_budget(self, batch: list[Request]) -> bool:
        """Whether the next round would take the run past a budget. Tokens: the round's requests at
        the mean tokens per request of the answers so far (every round after the first has some)."""
        config, sender = self.sender.config, self.sender
        if config.budget_requests is not None and len(sender.requested) + len(batch) > config.budget_requests:
            log.info(
                "generate: the next round's %d requests would exceed the budget of %d requests (%d sent)",
                len(batch), config.budget_requests, len(sender.requested),
            )  # fmt: skip
            return True
        if config.budget_tokens is not None:
            spent = sender.tokens()
            expected = round_cost(len(batch), spent, len(sender.answered()))
            if spent + expected > config.budget_tokens:
                log.info(
                    "generate: the next round's ~%d tokens would exceed the budget of %d tokens (%d spent)",
                    expected, config.budget_tokens, spent,
                )  # fmt: skip
                return True
        return False

    def values(self) -> list[dict]:
        """Per-answer metric values of the answers so far, as the Spark job makes them."""
        rows = []
        for record in self.sender.answered():
            key = record["request_key"]
            if key not in self.scores:
                text = record.get("text")
                self.scores[key] = {
                    # a task suite is judged by what its answers decide, not by their words
                    **(
                        score_text(text, self.scoring.language, self.sender.suite.names)
                        if text is not None and self.scoring.words
                        else {}
                    ),
                    **task_scores(
                        self.sender.suite.task,
                        self.facts[record["case_id"]],
                        text,
                        record.get("prompt"),
                        record["variant"],
                    ),
                }
            scores = self.scores[key]
            rows.append(
                {
                    **{k: record[k] for k in ("variant", "sample_index", "outcome")},
                    "case_id": self.unit[record["case_id"]],
                    "assumed_gender": scores.get("assumed_gender"),
                    **{m: scores.get(m) for m in (*TEXT_METRICS, *TASK_COLUMNS)},
                }
            )
        return answer_values(rows, self.scoring)

    def samples(self) -> int:
        return self.design.looks[len(self.rounds) - 1] if self.rounds else 0

    def summary(self) -> dict[str, object]:
        return {
            "stop_reason": self.reason,
            "rounds": len(self.rounds),
            "looks": list(self.design.looks),
            "max_samples": self.design.max_samples,
            "alphas": list(self.design.alphas),  # spent at each look (equal, or the suite's spend)
            "samples": self.samples(),
            "requests_spent": len(self.sender.requested),
            "tokens_spent": self.sender.tokens(),
            "round_log": self.rounds,
            "verdict": None if self.analysis is None else self.analysis.verdict,
        }


def rest_of_run(design, look: int, prompts: int, pace: float) -> str:
    """What is left of a sequential run after ``look``, as a range: the next round alone (if its
    look settles the verdict) up to every round to the last look, for the ``prompts`` still
    sampled, at this round's ``pace`` (seconds per request)."""
    done = design.looks[look - 1]
    least = prompts * (design.looks[look] - done)
    most = prompts * (design.looks[-1] - done)
    return (
        f"the rest of the run: {least:,} to {most:,} more requests ({prompts} prompts still sampled; the "
        f"fewer if the next look settles the verdict), ETA {duration(least * pace)} to "
        f"{duration(most * pace)} at this round's pace"
    )


def _record(
    run_id: str, key: str, request: Request, provider: Provider, completion: Completion
) -> ResponseRecord:
    """The record of one answer: the request's fields, the provider's, and the completion's."""
    answered = asdict(completion)
    for name in ("content_filter", "rate_limit"):  # JSON text in the record and the table
        answered[name] = json.dumps(answered[name]) if answered[name] else None
    return ResponseRecord(
        run_id=run_id,
        request_key=key,
        provider=provider.name,
        model=provider.model,
        api_version=provider.api_version,
        **request.as_dict(),
        **answered,
        created_at=utc_now(),
    )


def _write_manifest(
    folder: RunFolder,
    config: RunConfig,
    suite: Suite,
    provider: Provider,
    *,
    total: int,
    status: str,
    sequential: dict | None = None,
    rate_limits: dict | None = None,
    origin: Mapping[str, str] | None = None,
    plan: dict | None = None,
) -> None:
    """``run.json``: the run's configuration, which the ``runs`` table is built from, and the
    attributes of the suite's cases, which the analysis needs (run_folder.py)."""
    attributes = {case.case_id: dict(case.attributes) for case in suite.cases if case.attributes}
    folder.write_manifest(
        {
            **config.model_dump(),
            **effective_settings(suite, config),
            "suite": suite.name,
            "suite_source": config.suite,
            "suite_hash": suite.content_hash(),
            "language": suite.language,
            "translates": suite.translates,
            **({"names": suite.names} if suite.names else {}),  # read as evidence in Spanish answers
            **folder.generated_from(suite.generated_from, config.suite),  # a suite from a team's prompts
            "provider": provider.name,
            "model": provider.model,
            "api_version": provider.api_version,
            "requests": total,
            "status": status,
            "updated_at": utc_now().isoformat(),
            "case_attributes": attributes,
            # a task suite's scoring (scoring/tasks.py): what the analysis parses and compares
            "task": None if suite.task is None else suite.task.model_dump(mode="json"),
            **(origin or {}),
            # what the run was expected to ask before it asked anything (plan.py)
            **({"plan": plan} if plan else {}),
            # the run's use of the quota (remote providers with tpm/rpm): 429s, pauses, share used
            **({"rate_limits": rate_limits} if rate_limits else {}),
            # a sequential run: its rounds, why it stopped, what it spent (sequential.py)
            **({"sequential": sequential, **_sequential_columns(sequential)} if sequential else {}),
        }
    )


def _sequential_columns(summary: dict) -> dict[str, object]:
    """What the runs table shows of a sequential run (the manifest's top-level fields)."""
    return {
        name: summary[name] for name in ("samples", "max_samples", "stop_reason", "rounds", "tokens_spent")
    }
