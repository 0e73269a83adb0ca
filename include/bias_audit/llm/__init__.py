"""LLM providers: one interface, several back ends (local llama.cpp now; Azure and OpenAI next)."""

from bias_audit.llm.base import Completion, Provider, Request
from bias_audit.llm.registry import make_provider

__all__ = ["Completion", "Provider", "Request", "make_provider"]
