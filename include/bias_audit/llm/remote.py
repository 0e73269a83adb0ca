"""Remote chat-completion providers: Azure OpenAI (``azure``) and any OpenAI-compatible endpoint
(``openai``: Azure's v1 API, Databricks Model Serving, vLLM, a llama.cpp server).

Both use the openai SDK with its own retries off (``max_retries=0``): the waits are ours, so a
429 pauses every worker through the shared RateLimiter instead of each one sleeping on its own.

What each answer becomes:
- 200: ``ok``; ``finish_reason`` length -> ``truncated``; content_filter -> ``completion_filtered``.
- 400 ``content_filter``: ``prompt_filtered`` with the filter result. Never retried, never dropped.
- 429: wait what the server says (``retry-after-ms``, ``retry-after``, "retry after N seconds"),
  else backoff; every worker waits. Bounded attempts, then ``failed`` with the reason.
- 408, 409, 5xx, timeouts, connection errors: backoff with jitter, bounded, then ``failed``.
- 401, 403, 404, an unsupported api-version: ``ProviderSetupError`` stops the whole run at once,
  naming the setting to fix.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import openai
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from bias_audit.errors import ProviderSetupError, UserInputError
from bias_audit.llm.base import Completion, Request
from bias_audit.llm.batch import BatchSender
from bias_audit.llm.ratelimit import RateLimiter
from bias_audit.llm.retry import backoff_seconds, server_wait
from bias_audit.llm.tokens import estimate_request_tokens
from bias_audit.llm.wire import (
    RATE_LIMIT_HEADERS,
    completion_of,
    error_code,
    error_message,
    failed,
    inner_filter_result,
)

# The current GA version of the Azure OpenAI data-plane API (the lab's 2023-03-15-preview is retired).
DEFAULT_AZURE_API_VERSION = "2024-10-21"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
_TRANSIENT_STATUS = {408, 409}


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ENV: ClassVar[dict[str, str]] = {}  # field -> environment variable

    api_key: SecretStr | None = None
    timeout_seconds: float = Field(60.0, gt=0)
    max_attempts: int = Field(6, ge=1)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str, names: Mapping[str, str] | None = None):
        """Validate settings; an error names the setting as the user wrote it (``names``)."""
        try:
            return cls.model_validate({k: v for k, v in values.items() if v not in (None, "")})
        except ValidationError as exc:
            raise UserInputError.from_validation(exc, source, names=names, show_values=False) from None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ):
        return cls.from_mapping(
            {field: env.get(name) for field, name in cls.ENV.items()}, source="environment", names=cls.ENV
        )


class AzureSettings(_Settings):
    """Where the deployment is. Environment: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_DEPLOYMENT,
    AZURE_OPENAI_API_VERSION, AZURE_OPENAI_API_KEY (leave it unset for Entra ID)."""

    ENV: ClassVar[dict[str, str]] = {
        "endpoint": "AZURE_OPENAI_ENDPOINT",
        "deployment": "AZURE_OPENAI_DEPLOYMENT",
        "api_version": "AZURE_OPENAI_API_VERSION",
        "api_key": "AZURE_OPENAI_API_KEY",
        "batch_poll_seconds": "AZURE_OPENAI_BATCH_POLL_SECONDS",
        "batch_enqueued_tokens": "AZURE_OPENAI_BATCH_ENQUEUED_TOKENS",
    }

    endpoint: str = Field(pattern=r"^https?://")
    deployment: str = Field(min_length=1)
    api_version: str = DEFAULT_AZURE_API_VERSION
    batch_poll_seconds: float = Field(60.0, gt=0)  # --batch: how often a batch's status is read
    batch_enqueued_tokens: int | None = Field(None, gt=0)  # --batch: the deployment's enqueued-token limit


class OpenAISettings(_Settings):
    """Any OpenAI-compatible endpoint. Environment: OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_API_KEY."""

    ENV: ClassVar[dict[str, str]] = {
        "base_url": "OPENAI_BASE_URL",
        "model": "OPENAI_MODEL",
        "api_key": "OPENAI_API_KEY",
    }

    base_url: str = Field(pattern=r"^https?://")
    model: str = Field(min_length=1)


class RemoteChatProvider:
    """Chat completions over HTTP with the openai SDK; subclasses say how to build the client."""

    name: str
    model: str
    api_version: str | None
    max_concurrency: int | None = None
    # what to name in a setup error: (key setting, model setting, version setting, endpoint setting)
    _settings_names: tuple[str, str, str, str]

    def __init__(self, make_client: Callable[[], openai.AsyncOpenAI], *, model: str, max_attempts: int):
        self._make_client = make_client
        self._open: openai.AsyncOpenAI | None = None
        self.model = model
        self._max_attempts = max_attempts

    @property
    def _client(self) -> openai.AsyncOpenAI:
        """The SDK client, made in the event loop that uses it (its connections belong to that loop)."""
        if self._open is None:
            self._open = self._make_client()
        return self._open

    async def aclose(self) -> None:
        """Close the client's connections in the loop that opened them; a later run opens anew."""
        if self._open is not None:
            client, self._open = self._open, None
            await client.close()

    async def acomplete(self, request: Request, limiter: RateLimiter) -> Completion:
        cost = estimate_request_tokens(request.messages(), request.max_tokens)
        reason = "no attempt made"
        for attempt in range(1, self._max_attempts + 1):
            await limiter.acquire(cost)
            started = time.perf_counter()
            try:
                raw = await self._client.chat.completions.with_raw_response.create(
                    model=self.model, n=1, **request.chat_body()
                )
            except openai.RateLimitError as exc:
                hint = server_wait(exc.response.headers, error_message(exc))
                wait, source = hint or (backoff_seconds(attempt), "no hint from the server: backoff")
                limiter.pause(wait, f"429 from {self.name}, wait from {source}")
                reason = f"429 rate limited (told to wait {wait:.2f} s)"
                continue
            except openai.BadRequestError as exc:
                if error_code(exc) == "content_filter":
                    return Completion(
                        outcome="prompt_filtered",
                        text=None,
                        finish_reason=None,
                        content_filter=inner_filter_result(exc),
                        latency_ms=_ms(started),
                        attempts=attempt,
                        error=None,
                    )
                if "api version" in error_message(exc).lower() or "api-version" in error_message(exc).lower():
                    raise self._setup_error(exc, "version") from None
                return failed(f"400 bad request: {error_message(exc)}", attempt, _ms(started))
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
                raise self._setup_error(exc, None) from None
            except openai.APIStatusError as exc:
                if exc.status_code in _TRANSIENT_STATUS or exc.status_code >= 500:
                    reason = f"{exc.status_code}: {error_message(exc)}"
                    await asyncio.sleep(backoff_seconds(attempt))
                    continue
                return failed(f"{exc.status_code}: {error_message(exc)}", attempt, _ms(started))
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                reason = type(exc).__name__.removeprefix("API") + ": " + str(exc)
                await asyncio.sleep(backoff_seconds(attempt))
                continue
            return _completion(raw, started, attempt)
        return failed(f"gave up after {self._max_attempts} attempts; last: {reason}", self._max_attempts)

    def _setup_error(self, exc: openai.APIStatusError, hint: str | None) -> ProviderSetupError:
        key, model, version, endpoint = self._settings_names
        status = exc.status_code
        if status == 401:
            fix = f"the credentials were refused: check {key} (or the Entra ID identity)"
        elif status == 403:
            fix = f"the identity may not call this deployment: check {key} or its role assignment"
        elif hint == "version":
            fix = f"the api version is not supported: check {version} ({self.api_version!r})"
        elif error_code(exc) == "DeploymentNotFound":
            fix = f"there is no deployment {self.model!r}: check {model}"
        else:
            fix = f"the resource was not found: check {endpoint}, {model} ({self.model!r})" + (
                f" and {version} ({self.api_version!r})" if self.api_version else ""
            )
        return ProviderSetupError(f"{self.name} answered {status} ({error_message(exc)}); {fix}")


class AzureProvider(RemoteChatProvider):
    name = "azure"
    _settings_names = (
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_DEPLOYMENT",
        "AZURE_OPENAI_API_VERSION",
        "AZURE_OPENAI_ENDPOINT",
    )

    def __init__(self, settings: AzureSettings, *, token_provider: Any = None):
        if settings.api_key is None and token_provider is None:
            token_provider = entra_token_provider()

        def client() -> openai.AsyncAzureOpenAI:
            return openai.AsyncAzureOpenAI(
                azure_endpoint=settings.endpoint,
                api_version=settings.api_version,
                api_key=settings.api_key.get_secret_value() if settings.api_key else None,
                azure_ad_token_provider=None if settings.api_key else token_provider,
                max_retries=0,
                timeout=settings.timeout_seconds,
            )

        self.api_version = settings.api_version
        self._batch = settings.batch_poll_seconds, settings.batch_enqueued_tokens
        super().__init__(client, model=settings.deployment, max_attempts=settings.max_attempts)

    def batch_sender(self, run_dir: Any) -> Any:
        """What sends this provider's requests through the Azure OpenAI Batch API (llm/batch.py)."""
        poll, enqueued = self._batch
        return BatchSender(self, run_dir, poll_seconds=poll, enqueued_tokens=enqueued)


class OpenAICompatibleProvider(RemoteChatProvider):
    name = "openai"
    api_version = None
    _settings_names = ("OPENAI_API_KEY", "OPENAI_MODEL", "", "OPENAI_BASE_URL")

    def __init__(self, settings: OpenAISettings):
        def client() -> openai.AsyncOpenAI:
            return openai.AsyncOpenAI(
                base_url=settings.base_url,
                # Servers without auth (vLLM, llama.cpp) still need a non-empty key for the SDK.
                api_key=settings.api_key.get_secret_value() if settings.api_key else "unused",
                max_retries=0,
                timeout=settings.timeout_seconds,
            )

        super().__init__(client, model=settings.model, max_attempts=settings.max_attempts)


def entra_token_provider() -> Any:
    """Entra ID (azure-identity): DefaultAzureCredential covers managed identity, workload identity,
    a service principal in AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, and ``az login``."""
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    return get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)


def _completion(raw: Any, started: float, attempt: int) -> Completion:
    headers = {name: raw.headers[name] for name in RATE_LIMIT_HEADERS if name in raw.headers}
    return completion_of(raw.parse(), latency_ms=_ms(started), attempt=attempt, headers=headers or None)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
