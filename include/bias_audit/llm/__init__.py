"""LLM providers: one interface (base.py's ``Provider``), several back ends — the local model
in-process (local.py, llama.cpp), Azure OpenAI and any OpenAI-compatible endpoint (remote.py, the
openai SDK; Azure's Batch API in batch.py) — each one entry of the registry (registry.py)."""

from bias_audit.llm.base import Completion, Provider, Request
from bias_audit.llm.registry import make_provider

__all__ = ["Completion", "Provider", "Request", "make_provider"]
