"""What generation asks of a provider, and what it gets back."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bias_audit.records import Outcome

if TYPE_CHECKING:
    from bias_audit.llm.ratelimit import RateLimiter


@dataclass(frozen=True)
class Request:
    """One request to the model: one sample of one prompt of one case."""

    suite: str
    case_id: str
    variant: str
    prompt: str
    system_prompt: str
    sample_index: int
    temperature: float
    top_p: float
    max_tokens: int
    seed: int
    completion: bool = False  # continue the prompt's text instead of answering it
    # Structured output: the chat API's ``response_format`` as JSON text (a judge's grade, judge/).
    response_format: str | None = None
    language: str = "en"  # the suite's: a base model's template is said in it (llm/local.py)

    def key(self, provider: str, model: str, api_version: str | None) -> str:
        """Hash of everything that determines the answer: the cache and idempotency key."""
        determining = {
            "provider": provider,
            "model": model,
            "api_version": api_version,
            "system_prompt": self.system_prompt,
            "prompt": self.prompt,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "sample_index": self.sample_index,
        }
        if self.completion:  # only then, so that the keys of question suites stay as they were
            determining["completion"] = True
        if self.response_format:  # likewise
            determining["response_format"] = self.response_format
        if self.language != "en":  # likewise (a base model's template is said in the language)
            determining["language"] = self.language
        canonical = json.dumps(determining, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def messages(self) -> list[dict[str, str]]:
        """The chat messages of the request: the system prompt (when there is one), the prompt."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, {"role": "user", "content": self.prompt}]

    def chat_body(self) -> dict[str, object]:
        """The chat completion's parameters besides the model: what the online path sends and
        what a Batch API line carries (llm/remote.py, llm/batch.py)."""
        body: dict[str, object] = {
            "messages": self.messages(),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
        }
        if self.response_format:
            body["response_format"] = json.loads(self.response_format)
        return body

    def as_dict(self) -> dict[str, object]:
        """The fields a response record repeats."""
        fields = asdict(self)
        fields.pop("completion")
        fields.pop("response_format")
        fields.pop("language")  # the run's (run.json, the runs table), not each answer's
        return fields


@dataclass
class Completion:
    """A provider's final word on one request (after its own retries)."""

    outcome: Outcome
    text: str | None
    finish_reason: str | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float | None = None
    attempts: int = 1
    response_id: str | None = None
    system_fingerprint: str | None = None
    content_filter: dict[str, object] | None = None
    error: str | None = None
    rate_limit: dict[str, str] | None = None  # the rate-limit headers of the final answer


def derive_seed(base_seed: int, system_prompt: str, prompt: str, sample_index: int) -> int:
    """A per-sample seed derived from the request, so each sample differs and a run is reproducible."""
    material = f"{base_seed}\x00{system_prompt}\x00{prompt}\x00{sample_index}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:4], "big") & 0x7FFFFFFF


class Provider(Protocol):
    name: str
    model: str
    api_version: str | None
    max_concurrency: int | None  # None: as many as the run's --concurrency

    async def acomplete(self, request: Request, limiter: RateLimiter) -> Completion:
        """The final outcome of one request, after the provider's own bounded retries."""
        ...

    async def aclose(self) -> None:
        """Close the provider's connections in the event loop that opened them (llm/dispatch.py's
        ``closing``); a later run opens anew. Nothing to close: return."""
        ...

    def batch_sender(self, run_dir: Path) -> Any:
        """What sends this provider's requests through its batch API (``--batch``; llm/batch.py's
        BatchSender); only providers whose registry entry has ``batch`` are asked."""
        ...
