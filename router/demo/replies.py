"""Deterministic reply content for demo upstreams: text, tool calls, embeddings, usage."""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["reply_words", "tool_call_for", "embedding_for", "count_prompt_tokens", "wants_tool_call"]

_WORDS = ("switchyard", "routes", "each", "request", "to", "the", "provider", "endpoint", "that", "a", "policy",
          "learned", "from", "telemetry", "scores", "best", "with", "fallback", "when", "one", "fails")


def reply_words(provider: str, n_tokens: int) -> list[str]:
    """`n_tokens` words (one token each), starting with who answered so tests can tell providers apart."""
    words = [f"[{provider}]"] + [_WORDS[i % len(_WORDS)] for i in range(max(n_tokens - 1, 0))]
    return [w + " " for w in words[:max(n_tokens, 1)]]


def count_prompt_tokens(body: dict[str, Any]) -> int:
    text = 0
    for message in body.get("messages") or ():
        content = message.get("content")
        if isinstance(content, str):
            text += len(content)
        elif isinstance(content, list):
            text += sum(len(str(part.get("text", part.get("content", "")))) for part in content)
    if "prompt" in body:
        text += len(str(body["prompt"]))
    if "input" in body:
        text += len(str(body["input"]))
    if isinstance(body.get("system"), str):
        text += len(body["system"])
    return max(1, text // 4)


def wants_tool_call(body: dict[str, Any]) -> bool:
    """Call a tool when tools are offered, not refused, and the last turn is not a tool result."""
    if not body.get("tools") or body.get("tool_choice") in ("none", {"type": "none"}):
        return False
    last = (body.get("messages") or [{}])[-1]
    if last.get("role") == "tool":
        return False
    content = last.get("content")
    if isinstance(content, list) and any(part.get("type") == "tool_result" for part in content):
        return False
    return True


def tool_call_for(tool: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(name, arguments) for the first tool, filling its required properties with sample values."""
    function = tool.get("function", tool)  # OpenAI {"function": {...}} or Anthropic {"name", "input_schema"}
    schema = function.get("parameters") or function.get("input_schema") or {}
    samples = {"string": "demo", "number": 1.5, "integer": 1, "boolean": True, "array": [], "object": {}}
    properties = schema.get("properties") or {}
    arguments = {name: samples.get(properties.get(name, {}).get("type", "string"), "demo")
                 for name in schema.get("required") or list(properties)[:1]}
    return function["name"], arguments


def embedding_for(text: str, dimensions: int = 64) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).normal(size=dimensions)
    return (vector / np.linalg.norm(vector)).round(6).tolist()
