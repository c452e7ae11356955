"""Provider adapters: build the upstream request and turn its answer into OpenAI's shape.

Adapters do no I/O: `router.upstream` sends what they build through the one shared httpx
transport, so each adapter is testable with `httpx.MockTransport` alone.
"""
from .base import Adapter, UpstreamError, redact
from .openai import OpenAIAdapter
from .anthropic import AnthropicAdapter

ADAPTERS: dict[str, Adapter] = {"openai": OpenAIAdapter(), "anthropic": AnthropicAdapter()}

__all__ = ["Adapter", "UpstreamError", "OpenAIAdapter", "AnthropicAdapter", "ADAPTERS", "redact"]
