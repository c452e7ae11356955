"""Cheap token estimates used before the upstream reports real counts.

Four characters per token is the usual rule of thumb for English BPE tokenizers; the estimate
only feeds context-length filtering, reservations and routing features, never the final bill
when the upstream reports usage.
"""
from __future__ import annotations

from typing import Any

__all__ = ["estimate_prompt_tokens", "estimate_text_tokens"]

_CHARS_PER_TOKEN = 4
_PER_MESSAGE_OVERHEAD = 4
_PER_IMAGE_TOKENS = 765  # OpenAI's charge for a 512x512 high-detail tile set; a conservative guess


def estimate_text_tokens(text: str) -> int:
    return (len(text) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN


def estimate_prompt_tokens(payload: dict[str, Any]) -> int:
    if "messages" in payload:
        total = 0
        for message in payload["messages"]:
            total += _PER_MESSAGE_OVERHEAD
            content = message.get("content")
            if isinstance(content, str):
                total += estimate_text_tokens(content)
            elif isinstance(content, list):
                for part in content:
                    if part.get("type") == "text":
                        total += estimate_text_tokens(part.get("text", ""))
                    elif part.get("type") == "image_url":
                        total += _PER_IMAGE_TOKENS
            for call in message.get("tool_calls") or ():
                total += estimate_text_tokens(str(call.get("function", {})))
        if payload.get("tools"):
            total += estimate_text_tokens(str(payload["tools"]))
        return total
    items = payload.get("prompt", payload.get("input", ""))
    if isinstance(items, str):
        return estimate_text_tokens(items)
    if items and isinstance(items[0], int):
        return len(items)  # already token ids
    return sum(len(i) if isinstance(i, list) else estimate_text_tokens(str(i)) for i in items)
