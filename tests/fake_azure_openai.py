"""A local HTTP server that speaks Azure OpenAI's chat completions API, for tests and benchmarks.

It follows what Azure answers, as documented and as seen in the wild:

- ``POST /openai/deployments/{deployment}/chat/completions?api-version=…`` (and the v1 API,
  ``POST /openai/v1/chat/completions`` with ``model`` = deployment) authenticated by the
  ``api-key`` header or an Entra ID ``Authorization: Bearer`` token;
- 401 for a wrong key, 404 ``DeploymentNotFound`` for an unknown deployment, 404 ``Resource not
  found`` for an unknown api-version;
- a TPM/RPM quota: each request is charged its prompt tokens plus ``max_tokens`` on arrival,
  over a sliding window; past the quota, 429 with ``retry-after-ms``, ``retry-after`` and the
  "Please retry after N seconds" message;
- content filtering: 400 ``content_filter`` with ``innererror.content_filter_result`` when the
  prompt carries a flagged word, ``finish_reason: content_filter`` when the completion would;
- ``finish_reason: length`` when ``max_tokens`` cuts the answer;
- ``x-ratelimit-remaining-requests``/``-tokens``, ``apim-request-id`` and ``x-request-id`` headers;
- injected faults (500, 503, 408, a hang past the client's timeout, a dropped connection, 429 with
  each kind of retry hint), consumed one per request in order.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy as email_policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import bpe_openai

SUPPORTED_API_VERSIONS = {"2024-06-01", "2024-10-21", "2025-04-01-preview"}
PROMPT_FLAG = "forbiddenword"  # a prompt containing it is filtered
COMPLETION_FLAG = "filterme"  # a prompt containing it gets its completion filtered
WORDS = ("she", "he", "they", "works", "with", "care", "and", "skill", "every", "day")

_FILTER_OK = {
    category: {"filtered": False, "severity": "safe"}
    for category in ("hate", "self_harm", "sexual", "violence")
}


CONTENT_FILTER_ERROR = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
        "management policy. Please modify your prompt and retry. To learn more about our content "
        "filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {**_FILTER_OK, "hate": {"filtered": True, "severity": "high"}},
        },
    }
}


@dataclass
class Quota:
    tokens_per_minute: int | None = None
    requests_per_minute: int | None = None
    window_seconds: float = 60.0  # Azure evaluates per minute; benchmarks shorten it


@dataclass
class ServerState:
    api_key: str = "test-key-0123456789abcdef"
    bearer_token: str | None = None
    deployments: tuple[str, ...] = ("gpt-4o",)
    quota: Quota = field(default_factory=Quota)
    latency_seconds: float = 0.0
    faults: deque[str] = field(default_factory=deque)
    answer_words: int | None = None  # None: about 3/4 of max_tokens
    # A model with a behaviour: the answer to a prompt (the user message), or None for the default.
    answer_for: Callable[[str], str | None] | None = None
    # observations
    received: list[dict] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    charged: deque[tuple[float, int]] = field(default_factory=deque)  # within the window
    charged_total: list[int] = field(default_factory=list)  # every charge since the start
    # the Batch API: files and batches by id; the global-batch deployments; how many polls a batch
    # stays in_progress; how batches end (completed, or expired with ``batch_expire``'s lines)
    files: dict[str, dict] = field(default_factory=dict)
    batches: dict[str, dict] = field(default_factory=dict)
    batch_deployments: tuple[str, ...] = ("gpt-4o-batch",)
    batch_polls: int = 2
    batch_fate: str = "completed"
    batch_expire: tuple[str, ...] = ()  # custom_ids that an expired batch did not get to
    batch_answered: list[str] = field(default_factory=list)  # custom_ids the batches answered
    batch_calls: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> int:
        return sum(1 for s in self.statuses if s == status)

    def add_faults(self, *faults: str) -> None:
        with self.lock:
            self.faults.extend(faults)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return

    def do_POST(self) -> None:
        state = self.server.state
        url = urlparse(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        if url.path.startswith(("/openai/files", "/openai/batches")):
            return self._batch_api("POST", url, raw)
        body = json.loads(raw or b"{}")
        with state.lock:
            state.received.append(
                {
                    "path": url.path,
                    "body": body,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "at": time.monotonic(),
                }
            )
            fault = state.faults.popleft() if state.faults else None
        if state.latency_seconds:
            time.sleep(state.latency_seconds)
        if fault and self._inject(fault):
            return
        if not self._authorised():
            return self._error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API "
                "endpoint. Make sure to provide a valid key for an active subscription and "
                "use a correct regional API endpoint for your resource.",
            )
        deployment = self._deployment(url, body)
        if deployment is None:
            return None
        if deployment not in state.deployments:
            return self._error(
                404,
                "DeploymentNotFound",
                "The API deployment for this resource does not "
                "exist. If you created the deployment within the last 5 minutes, please "
                "wait a moment and try again.",
            )
        self._complete(deployment, body)
        return None

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path.startswith(("/openai/files", "/openai/batches")):
            return self._batch_api("GET", url, b"")
        return self._error(404, "404", "Resource not found")

    # -- the files and batches APIs (Azure OpenAI Batch) --------------------------------------

    def _batch_api(self, method: str, url, raw: bytes) -> None:
        state = self.server.state
        if not self._authorised():
            return self._error(401, "401", "Access denied due to invalid subscription key.")
        version = parse_qs(url.query).get("api-version", [None])[0]
        if version not in SUPPORTED_API_VERSIONS:
            return self._error(404, "404", "Resource not found")
        parts = url.path.strip("/").split("/")[1:]  # after "openai"
        with state.lock:
            state.batch_calls.append((method, "/".join(parts)))
        if parts == ["files"] and method == "POST":
            return self._upload(raw)
        if len(parts) == 3 and parts[0] == "files" and parts[2] == "content" and method == "GET":
            data = state.files.get(parts[1], {}).get("data")
            if data is None:
                return self._error(404, "404", f"File with id {parts[1]} not found.")
            return self._send_bytes(data)
        if parts == ["batches"] and method == "POST":
            return self._create_batch(json.loads(raw or b"{}"))
        if len(parts) == 2 and parts[0] == "batches" and method == "GET":
            batch = state.batches.get(parts[1])
            if batch is None:
                return self._error(404, "404", f"Batch with id {parts[1]} not found.")
            with state.lock:
                advance_batch(state, batch)
            return self._send(200, public(batch))
        if len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel" and method == "POST":
            batch = state.batches.get(parts[1])
            if batch is None:
                return self._error(404, "404", f"Batch with id {parts[1]} not found.")
            with state.lock:
                if batch["status"] in ("validating", "in_progress", "finalizing"):
                    batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
            return self._send(200, public(batch))
        return self._error(404, "404", "Resource not found")

    def _upload(self, raw: bytes) -> None:
        state = self.server.state
        message = BytesParser(policy=email_policy.default).parsebytes(
            b"Content-Type: " + self.headers.get("content-type", "").encode() + b"\r\n\r\n" + raw
        )
        fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        if "file" not in fields or "purpose" not in fields:
            return self._error(400, "invalidPayload", "file and purpose are required")
        purpose = fields["purpose"].get_content().strip()
        if purpose not in ("batch", "fine-tune", "assistants"):
            return self._error(400, "invalidPayload", f"Invalid value for purpose: {purpose}")
        data = fields["file"].get_payload(decode=True)
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        with state.lock:
            state.files[file_id] = {"data": data, "purpose": purpose}
        return self._send(
            200,
            {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": fields["file"].get_filename() or "upload.jsonl",
                "purpose": purpose,
                "status": "processed",
            },
        )

    def _create_batch(self, body: dict) -> None:
        state = self.server.state
        if body.get("input_file_id") not in state.files:
            return self._error(404, "404", f"File with id {body.get('input_file_id')} not found.")
        if body.get("endpoint") != "/chat/completions" or body.get("completion_window") != "24h":
            return self._error(
                400, "invalidPayload", "endpoint must be /chat/completions, completion_window 24h"
            )
        batch_id = f"batch_{uuid.uuid4()}"
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": "/chat/completions",
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "in_progress_at": None,
            "expires_at": int(time.time()) + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
            "_polls": 0,
        }
        with state.lock:
            state.batches[batch_id] = batch
        return self._send(200, public(batch))

    def _send_bytes(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- pieces -----------------------------------------------------------------------------

    def _deployment(self, url, body: dict) -> str | None:
        parts = url.path.strip("/").split("/")
        if parts[:2] == ["openai", "v1"] and parts[2:] == ["chat", "completions"]:
            return body.get("model")
        is_deployment_path = parts[:2] == ["openai", "deployments"] and parts[3:] == ["chat", "completions"]
        if len(parts) == 5 and is_deployment_path:
            version = parse_qs(url.query).get("api-version", [None])[0]
            if version not in SUPPORTED_API_VERSIONS:
                self._error(404, "404", "Resource not found")
                return None
            return parts[2]
        self._error(404, "404", "Resource not found")
        return None

    def _authorised(self) -> bool:
        state = self.server.state
        key = self.headers.get("api-key")
        bearer = self.headers.get("authorization", "")
        if key is not None:
            return key == state.api_key
        if bearer.startswith("Bearer "):
            token = bearer.removeprefix("Bearer ")
            return token in {state.bearer_token, state.api_key}  # v1 API: the key as a bearer token
        return False

    def _complete(self, deployment: str, body: dict) -> None:
        state = self.server.state
        problem = response_format_problem(
            body, parse_qs(urlparse(self.path).query).get("api-version", [None])[0]
        )
        if problem is not None:
            return self._error(400, "BadRequest", problem)
        messages = body.get("messages") or []
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
        n = int(body.get("n") or 1)
        remaining = self._charge(prompt_tokens_of(messages) + n * max_tokens)
        if remaining is None:
            return
        status, payload = chat_answer(state, body)
        if status != 200:
            return self._send(status, payload)
        self._send(
            200,
            payload,
            {
                "x-ratelimit-remaining-requests": str(remaining[0]),
                "x-ratelimit-remaining-tokens": str(remaining[1]),
            },
        )
        return None

    def _charge(self, tokens: int) -> tuple[int, int] | None:
        """Charge the request against the sliding window; answer 429 when over quota."""
        state = self.server.state
        quota = state.quota
        window = quota.window_seconds
        token_limit = None if quota.tokens_per_minute is None else quota.tokens_per_minute * window / 60
        request_limit = None if quota.requests_per_minute is None else quota.requests_per_minute * window / 60
        with state.lock:
            now = time.monotonic()
            while state.charged and state.charged[0][0] <= now - window:
                state.charged.popleft()
            used_tokens = sum(t for _, t in state.charged)
            used_requests = len(state.charged)
            over_tokens = token_limit is not None and used_tokens + tokens > token_limit
            over_requests = request_limit is not None and used_requests + 1 > request_limit
            if over_tokens or over_requests:
                wait = state.charged[0][0] + window - now if state.charged else window
            else:
                state.charged.append((now, tokens))
                state.charged_total.append(tokens)
        if over_tokens or over_requests:  # answered outside the lock: _send takes it too
            self._rate_limited(wait, "token rate limit" if over_tokens else "call rate limit")
            return None
        return (
            int(request_limit - used_requests - 1) if request_limit is not None else 1_000_000,
            int(token_limit - used_tokens - tokens) if token_limit is not None else 100_000_000,
        )

    def _rate_limited(self, wait: float, kind: str, *, headers: str = "both") -> None:
        seconds = max(1, math.ceil(wait))
        message = (
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 "
            f"have exceeded {kind} of your current OpenAI S0 pricing tier. Please retry after {seconds} "
            "seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further "
            "increase the default rate limit."
        )
        extra = {}
        if headers in {"both", "ms"}:
            extra["retry-after-ms"] = str(max(1, int(wait * 1000)))
        if headers in {"both", "seconds"}:
            extra["retry-after"] = str(seconds)
        self._error(429, "429", message, extra)

    def _inject(self, fault: str) -> bool:
        """Answer with the fault; False if the request should then be served normally."""
        kind, _, arg = fault.partition(":")
        if kind in {"500", "502", "503", "408"}:
            code = int(kind)
            message = {
                500: "The server had an error while processing your request. Sorry about that!",
                502: "Bad gateway.",
                503: "The service is temporarily unable to process your request. Please try again later.",
                408: "Request timed out.",
            }[code]
            self._error(code, str(code), message)
            return True
        if kind == "hang":  # longer than the client's timeout
            time.sleep(float(arg or 2))
            self._error(500, "500", "late")
            return True
        if kind == "drop":  # the connection is cut without an answer
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        if kind == "429":  # 429 with one kind of hint: ms, seconds, date, message, none
            wait = float(arg.split("=")[1]) if "=" in arg else 0.2
            hint = arg.split("=")[0] if arg else "ms"
            if hint == "date":
                from email.utils import formatdate

                self._error(
                    429,
                    "429",
                    "Rate limit is exceeded.",
                    {"retry-after": formatdate(time.time() + wait, usegmt=True)},
                )
            elif hint == "message":
                self._error(429, "429", f"Rate limit is exceeded. Please retry after {int(wait)} seconds.")
            elif hint == "none":
                self._error(429, "429", "Rate limit is exceeded.")
            else:
                self._rate_limited(wait, "token rate limit", headers=hint)
            return True
        if kind == "401":
            self._error(401, "401", "Access denied due to invalid subscription key.")
            return True
        if kind == "403":
            self._error(
                403,
                "PermissionDenied",
                "The principal lacks the required data action "
                "Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action.",
            )
            return True
        return False

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"code": code, "message": message}}, headers or {})

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        with self.server.state.lock:
            self.server.state.statuses.append(status)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("apim-request-id", str(uuid.uuid4()))
        self.send_header("x-request-id", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


_ENCODING = bpe_openai.get_encoding("o200k_base")


def public(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if not k.startswith("_")}


def advance_batch(state: ServerState, batch: dict) -> None:
    """One poll's worth of progress: validating -> in_progress (for ``batch_polls`` polls) ->
    finalizing -> completed (or ``state.batch_fate``: expired, failed); cancelling -> cancelled.
    A line whose model is not a global-batch deployment fails the batch at validation."""
    now = int(time.time())
    batch["_polls"] += 1
    status = batch["status"]
    lines = [
        json.loads(line) for line in state.files[batch["input_file_id"]]["data"].splitlines() if line.strip()
    ]
    if status == "validating":
        wrong = [
            (number, line.get("body", {}).get("model"))
            for number, line in enumerate(lines, 1)
            if line.get("body", {}).get("model") not in state.batch_deployments
        ]
        if wrong:
            number, model = wrong[0]
            batch.update(status="failed", failed_at=now)
            batch["errors"] = {
                "object": "list",
                "data": [
                    {
                        "code": "model_not_found",
                        "message": f"The provided model deployment '{model}' does not exist in the AOAI "
                        "resource or is not a global batch deployment.",
                        "param": "model",
                        "line": number,
                    }
                ],
            }
            return
        batch.update(status="in_progress", in_progress_at=now)
        batch["request_counts"] = {"total": len(lines), "completed": 0, "failed": 0}
    elif status == "in_progress":
        done = min(len(lines), len(lines) * batch["_polls"] // (state.batch_polls + 1))
        batch["request_counts"]["completed"] = done
        if batch["_polls"] > state.batch_polls:
            batch.update(status="finalizing", finalizing_at=now)
    elif status == "finalizing":
        _finish(state, batch, lines, state.batch_fate, now)
    elif status == "cancelling":
        _finish(state, batch, lines[: len(lines) // 2], "cancelled", now, missing=lines[len(lines) // 2 :])


def _finish(state: ServerState, batch: dict, lines: list[dict], fate: str, now: int, missing=()) -> None:
    output, errors = [], []
    expire = set(state.batch_expire)
    for line in lines:
        request_id = str(uuid.uuid4())
        if fate == "expired" and line["custom_id"] in expire:
            expired = {
                "code": "batch_expired",
                "message": "This request could not be executed before the completion window expired.",
            }
            errors.append(
                {
                    "id": f"batch_req_{uuid.uuid4().hex[:24]}",
                    "custom_id": line["custom_id"],
                    "response": None,
                    "error": expired,
                }
            )
            continue
        status, body = chat_answer(state, line["body"])
        state.batch_answered.append(line["custom_id"])
        entry = {
            "id": f"batch_req_{uuid.uuid4().hex[:24]}",
            "custom_id": line["custom_id"],
            "response": {"status_code": status, "request_id": request_id, "body": body},
            "error": None,
        }
        (output if status == 200 else errors).append(entry)
    for file_entries, key in ((output, "output_file_id"), (errors, "error_file_id")):
        if file_entries:
            file_id = f"file-{uuid.uuid4().hex[:24]}"
            data = "".join(json.dumps(e) + "\n" for e in file_entries).encode()
            state.files[file_id] = {"data": data, "purpose": "batch_output"}
            batch[key] = file_id
    counts = batch["request_counts"]
    counts.update(completed=len(output), failed=len(errors))
    batch.update(status=fate, **{f"{'completed' if fate == 'completed' else fate}_at": now})


# Structured outputs (response_format json_schema) came with this api version; older ones refuse them.
JSON_SCHEMA_SINCE = "2024-08-01-preview"


def response_format_problem(body: dict, api_version: str | None) -> str | None:
    """Azure's 400 message for a response_format it refuses, as the service words it; None if fine."""
    response_format = body.get("response_format")
    if not response_format or response_format.get("type") != "json_schema":
        return None
    if api_version is not None and api_version < JSON_SCHEMA_SINCE:
        return (
            f"response_format value as json_schema is enabled only for api versions {JSON_SCHEMA_SINCE} "
            "and later"
        )
    spec = response_format.get("json_schema") or {}
    name, schema = spec.get("name"), spec.get("schema")
    if not name or not isinstance(schema, dict):
        return "Missing required parameter: 'response_format.json_schema.name'."
    if spec.get("strict"):
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return (
                f"Invalid schema for response_format '{name}': In context=(), 'additionalProperties' is "
                "required to be supplied and to be false."
            )
        if set(schema.get("required") or []) != set(properties):
            return (
                f"Invalid schema for response_format '{name}': In context=(), 'required' is required to "
                "be supplied and to be an array including every key in properties."
            )
    return None


def prompt_tokens_of(messages: list[dict]) -> int:
    prompt_text = "\n".join(str(m.get("content", "")) for m in messages)
    return len(_ENCODING.encode(prompt_text)) + 3 + 4 * len(messages)


def chat_answer(state: ServerState, body: dict) -> tuple[int, dict]:
    """What the model answers to a chat completion body: (200, the completion) or (400, the
    content-filter error). The online endpoint and the batch both use it."""
    messages = body.get("messages") or []
    prompt_text = "\n".join(str(m.get("content", "")) for m in messages)
    prompt_tokens = prompt_tokens_of(messages)
    max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
    if PROMPT_FLAG in prompt_text:
        return 400, CONTENT_FILTER_ERROR
    words = state.answer_words if state.answer_words is not None else max(1, (max_tokens * 3) // 4)
    completion_tokens = min(words, max_tokens)
    text = " ".join(WORDS[i % len(WORDS)] for i in range(completion_tokens))
    finish = "length" if words >= max_tokens else "stop"
    user = str(messages[-1].get("content", "")) if messages else ""
    custom = state.answer_for(user) if state.answer_for else None
    if custom is not None:
        text, completion_tokens, finish = custom, len(_ENCODING.encode(custom)), "stop"
    choice_filter = dict(_FILTER_OK)
    if COMPLETION_FLAG in prompt_text:
        finish, text = "content_filter", ""
        choice_filter = {**_FILTER_OK, "violence": {"filtered": True, "severity": "medium"}}
    return 200, {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_fake0001",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _FILTER_OK}],
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "logprobs": None,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "content_filter_results": choice_filter,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, state: ServerState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request, client_address) -> None:
        # A client killed mid-request (the kill -9 test) is expected: no traceback on stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeAzureOpenAI:
    """Start with ``with FakeAzureOpenAI() as server:``; ``server.endpoint`` is its base URL."""

    def __init__(self, state: ServerState | None = None):
        self.state = state or ServerState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def connection(self) -> dict:
        """The Airflow connection azure_openai_default (as AIRFLOW_CONN_... JSON) for this server."""
        return {
            "conn_type": "generic",
            "host": self.endpoint,
            "password": self.state.api_key,
            "extra": {"deployment": "gpt-4o", "api_version": "2024-10-21"},
        }

    def __enter__(self) -> FakeAzureOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
