"""Generation through the Azure OpenAI Batch API: half the price, no real-time quota used, answers
within the 24 h window (usually far sooner). ``--batch`` on generate; the DAG param ``batch``.

For the requests of a run (or of a sequential round) that have no record yet:

1. write them as the batch JSONL: one line per request, ``custom_id`` = the request key, ``url``
   ``/chat/completions``, the body the online path would send (the deployment as ``model``);
2. split it where Azure's limits say (``MAX_LINES`` lines, ``MAX_BYTES`` per file, and the
   deployment's enqueued-token limit when given: ``AZURE_OPENAI_BATCH_ENQUEUED_TOKENS``), and for
   each part in turn: upload it (files API, purpose ``batch``), create the batch (24 h window),
   poll it with its progress in the log, download its output and error files;
3. record one record per request with the outcomes of the online path (``ok``, ``truncated``,
   ``completion_filtered``, ``prompt_filtered`` with the filter's result). A line that expired, or
   a batch that failed or was cancelled, is recorded as ``failed`` with an error that starts
   ``batch:``: a later run sends those requests again (and only those).

Resumable: each batch id is kept in the run folder (``batches.json``) as soon as the batch exists,
so a crashed or retried task re-attaches to its batch and never submits a second one for the same
requests. Cancelling the task (SIGTERM from Airflow, Ctrl-C) cancels the batch it is waiting on.

Written with the openai SDK's own files and batches resources (``AsyncAzureOpenAI``); what is by
hand is the bookkeeping that makes it resumable, which no library does for a run folder.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai

from bias_audit.errors import ProviderSetupError
from bias_audit.llm.base import Completion, Request
from bias_audit.llm.tokens import estimate_request_tokens
from bias_audit.llm.wire import completion_of, filter_result_of

log = logging.getLogger(__name__)

BATCHES_FILE = "batches.json"
MAX_LINES = 100_000  # Azure: requests per batch file
MAX_BYTES = 190 * 1024 * 1024  # Azure: 200 MB per file; a margin for the multipart envelope
TERMINAL = ("completed", "failed", "expired", "cancelled")
RETRYABLE = "batch:"  # the error prefix of records a later run sends again

Record = Callable[[str, Request, Completion], None]


def retryable(record: dict[str, Any]) -> bool:
    """A record a later run sends again: a batch line that expired, failed or was cancelled."""
    return record.get("outcome") == "failed" and str(record.get("error") or "").startswith(RETRYABLE)


class BatchSender:
    """Sends requests through the Batch API of an Azure provider (llm/remote.py's AzureProvider)."""

    def __init__(
        self,
        provider: Any,
        run_dir: Path,
        *,
        poll_seconds: float = 60.0,
        enqueued_tokens: int | None = None,
        max_lines: int = MAX_LINES,
        max_bytes: int = MAX_BYTES,
    ):
        self.provider, self.path = provider, Path(run_dir) / BATCHES_FILE
        self.poll_seconds, self.enqueued_tokens = poll_seconds, enqueued_tokens
        self.max_lines, self.max_bytes = max_lines, max_bytes

    # -- bookkeeping ----------------------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        return json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else []

    def _save(self, entries: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{BATCHES_FILE}.partial")
        partial.write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
        os.replace(partial, self.path)

    def _update(self, batch_id: str, **changes: Any) -> None:
        entries = self.entries()
        for entry in entries:
            if entry["batch_id"] == batch_id:
                entry.update(changes)
        self._save(entries)

    # -- sending --------------------------------------------------------------------------

    async def send(self, pending: list[tuple[str, Request]], record: Record) -> None:
        by_key = dict(pending)
        for entry in self.entries():  # re-attach: a batch of these requests that was not collected
            if not entry.get("collected") and by_key.keys() & set(entry["keys"]):
                log.info("batch %s: re-attaching (submitted by an earlier attempt)", entry["batch_id"])
                await self._follow(entry, by_key, record)
        for part in self._parts([(k, r) for k, r in pending if k in by_key]):
            entry = await self._submit(part)
            await self._follow(entry, by_key, record)

    def _line(self, key: str, request: Request) -> bytes:
        body = {"model": self.provider.model, **request.chat_body()}  # as the online path sends it
        return (
            json.dumps({"custom_id": key, "method": "POST", "url": "/chat/completions", "body": body}) + "\n"
        ).encode()

    def _parts(self, pending: list[tuple[str, Request]]) -> Iterator[list[tuple[str, bytes]]]:
        """Batches within the line, byte and enqueued-token limits, in request order."""
        part: list[tuple[str, bytes]] = []
        size = tokens = 0
        for key, request in pending:
            line = self._line(key, request)
            # the token estimate (a tokenizer pass) only when there is an enqueued-token limit
            cost = (
                estimate_request_tokens(request.messages(), request.max_tokens) if self.enqueued_tokens else 0
            )
            full = (
                len(part) >= self.max_lines
                or size + len(line) > self.max_bytes
                or (self.enqueued_tokens is not None and tokens + cost > self.enqueued_tokens)
            )
            if part and full:
                yield part
                part, size, tokens = [], 0, 0
            part.append((key, line))
            size, tokens = size + len(line), tokens + cost
        if part:
            yield part

    async def _submit(self, part: list[tuple[str, bytes]]) -> dict[str, Any]:
        client = self.provider._client
        data = b"".join(line for _, line in part)
        try:
            uploaded = await client.files.create(
                file=(f"{self.path.parent.name}.jsonl", data), purpose="batch"
            )
            batch = await client.batches.create(
                input_file_id=uploaded.id,
                endpoint="/chat/completions",
                completion_window="24h",
                metadata={"bias_audit_run": self.path.parent.name[:64]},
            )
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
            raise self.provider._setup_error(exc, None) from None
        entry = {
            "batch_id": batch.id,
            "input_file_id": uploaded.id,
            "keys": [key for key, _ in part],
            "status": batch.status,
            "collected": False,
            "submitted_at": time.time(),
        }
        self._save([*self.entries(), entry])  # at once: a crash from here on re-attaches to it
        log.info(
            "batch %s: submitted %d requests (%.1f MB, file %s); polling every %g s",
            batch.id, len(part), len(data) / 1e6, uploaded.id, self.poll_seconds,
        )  # fmt: skip
        return entry

    async def _follow(self, entry: dict[str, Any], by_key: dict[str, Request], record: Record) -> None:
        client, batch_id = self.provider._client, entry["batch_id"]
        seen = None
        try:
            while True:
                batch = await client.batches.retrieve(batch_id)
                counts = batch.request_counts
                progress = (batch.status, counts.completed if counts else 0, counts.failed if counts else 0)
                if progress != seen:
                    seen = progress
                    total = counts.total if counts else len(entry["keys"])
                    log.info(
                        "batch %s: %s, %d of %d done, %d failed",
                        batch_id,
                        progress[0],
                        progress[1],
                        total,
                        progress[2],
                    )
                    self._update(batch_id, status=batch.status)
                if batch.status in TERMINAL:
                    break
                await asyncio.sleep(self.poll_seconds)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # cancelled (task killed, Ctrl-C): cancel the batch too
                await asyncio.shield(self._cancel(batch_id))
            raise
        if batch.status == "failed":
            self._fail_setup(batch)
        await self._collect(batch, entry, by_key, record)

    async def _cancel(self, batch_id: str) -> None:
        try:
            await self.provider._client.batches.cancel(batch_id)
            self._update(batch_id, status="cancelling")
            log.warning("batch %s: cancelled with the task that was waiting on it", batch_id)
        except Exception as exc:  # the task is going away regardless; say what was left behind
            log.error("batch %s: could not be cancelled (%s); cancel it in the Azure portal", batch_id, exc)

    def _fail_setup(self, batch: Any) -> None:
        errors = (batch.errors.data if batch.errors and batch.errors.data else None) or []
        for error in errors:
            if error.code in ("model_not_found", "DeploymentNotFound", "invalid_model"):
                raise ProviderSetupError(
                    f"azure batch {batch.id} failed validation ({error.message}); check "
                    "AZURE_OPENAI_DEPLOYMENT "
                    f"({self.provider.model!r}): --batch needs a global-batch deployment"
                )

    async def _collect(
        self, batch: Any, entry: dict[str, Any], by_key: dict[str, Request], record: Record
    ) -> None:
        client = self.provider._client
        answered: set[str] = set()
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await client.files.content(file_id)
            for line in content.content.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                result = json.loads(line)
                key = result.get("custom_id")
                if key in by_key and key not in answered:
                    answered.add(key)
                    record(key, by_key.pop(key), completion_of_line(result))
        reason = f"{RETRYABLE} {batch.status}, no answer for this request"
        if batch.status == "failed" and batch.errors and batch.errors.data:
            reason = f"{RETRYABLE} failed: {batch.errors.data[0].message}"
        for key in entry["keys"]:
            if key in by_key and key not in answered:
                record(
                    key,
                    by_key.pop(key),
                    Completion(outcome="failed", text=None, finish_reason=None, error=reason),
                )
        self._update(batch.id, collected=True, status=batch.status)
        log.info("batch %s: %s; recorded %d answers", batch.id, batch.status, len(answered))


def completion_of_line(result: dict[str, Any]) -> Completion:
    """One line of a batch's output or error file, as the online path records its answer."""
    from openai.types.chat import ChatCompletion

    response = result.get("response") or {}
    status, body = response.get("status_code"), response.get("body") or {}
    if status == 200:
        return completion_of(ChatCompletion.model_validate(body), latency_ms=None, attempt=1, headers=None)
    error = body.get("error") if isinstance(body.get("error"), dict) else (result.get("error") or {})
    if status == 400 and error.get("code") == "content_filter":
        return Completion(
            outcome="prompt_filtered", text=None, finish_reason=None, content_filter=filter_result_of(error)
        )
    what = f"{status}" if status else str(error.get("code") or "error")
    return Completion(
        outcome="failed", text=None, finish_reason=None, error=f"{RETRYABLE} {what}: {error.get('message')}"
    )
