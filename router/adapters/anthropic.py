"""Anthropic Messages API: OpenAI chat requests translated there, answers translated back."""
from __future__ import annotations

import base64
import time
from typing import Any

import orjson

from ..transport import UpstreamRequest
from .base import UpstreamError, error_message_from, sse_object, upstream_url

__all__ = ["AnthropicAdapter", "to_anthropic", "from_anthropic"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; OpenAI clients often omit it
_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
                 "pause_turn": "stop", "refusal": "content_filter"}


class AnthropicAdapter:
    def build_request(self, base_url: str, api_key: str | None, kind: str, payload: dict[str, Any],
                      stream: bool) -> UpstreamRequest:
        if kind != "chat":
            raise UpstreamError("user", f"the Anthropic API does not serve {kind} requests", status=400, retryable=True)
        headers = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION,
                   "accept-encoding": "identity"}
        if api_key:
            headers["x-api-key"] = api_key
        body = to_anthropic(payload)
        if stream:
            body["stream"] = True
        return UpstreamRequest(upstream_url(base_url, "/messages"), headers, orjson.dumps(body))

    def parse_response(self, data: dict[str, Any], kind: str) -> dict[str, Any]:
        if data.get("type") == "error" or "content" not in data:
            raise UpstreamError("bad-response", _message_of(data) or "Anthropic response has no 'content'", status=200)
        return from_anthropic(data)

    def stream_decoder(self) -> "_StreamState":
        return _StreamState()

    def error_message(self, status: int, body: bytes) -> str:
        return error_message_from(body, status, _message_of)


def _message_of(data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"].get("message")
    return None


# ---- request translation -------------------------------------------------------------------------
def to_anthropic(payload: dict[str, Any]) -> dict[str, Any]:
    system_parts: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in payload["messages"]:
        role = message["role"]
        if role in ("system", "developer"):
            system_parts.append(_text_of(message.get("content")))
            continue
        if role in ("tool", "function"):
            block = {"type": "tool_result", "tool_use_id": message.get("tool_call_id") or message.get("name", ""),
                     "content": _text_of(message.get("content"))}
            _append(messages, "user", [block])
            continue
        blocks = _blocks_of(message.get("content"))
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            try:
                arguments = orjson.loads(function.get("arguments") or "{}")
            except orjson.JSONDecodeError:
                arguments = {}
            blocks.append({"type": "tool_use", "id": call.get("id", ""), "name": function.get("name", ""),
                           "input": arguments})
        _append(messages, "assistant" if role == "assistant" else "user", blocks)
    body: dict[str, Any] = {
        "model": payload["model"],
        "messages": messages,
        "max_tokens": payload.get("max_completion_tokens") or payload.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system_parts:
        body["system"] = "\n\n".join(p for p in system_parts if p)
    for name in ("temperature", "top_p", "top_k"):
        if payload.get(name) is not None:
            body[name] = payload[name]
    stop = payload.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if payload.get("tools"):
        body["tools"] = [
            {"name": t["function"]["name"], "description": t["function"].get("description", ""),
             "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}}}
            for t in payload["tools"] if t.get("type") == "function"
        ]
    choice = payload.get("tool_choice")
    if choice == "auto":
        body["tool_choice"] = {"type": "auto"}
    elif choice == "required":
        body["tool_choice"] = {"type": "any"}
    elif choice == "none":
        body["tool_choice"] = {"type": "none"}
    elif isinstance(choice, dict) and choice.get("function"):
        body["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    if payload.get("user"):
        body["metadata"] = {"user_id": payload["user"]}
    return body


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    # Anthropic requires alternating roles: consecutive same-role messages are merged.
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def _blocks_of(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            blocks.append({"type": "image", "source": _image_source(url)})
    return blocks


def _image_source(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0] or "image/png"
        if ";base64" not in header:
            data = base64.b64encode(data.encode()).decode()
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


# ---- response translation ------------------------------------------------------------------------
def from_anthropic(data: dict[str, Any]) -> dict[str, Any]:
    text = "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text")
    tool_calls = [
        {"id": b["id"], "type": "function",
         "function": {"name": b["name"], "arguments": orjson.dumps(b.get("input", {})).decode()}}
        for b in data["content"] if b.get("type") == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if tool_calls else "")}
    if tool_calls:
        message["tool_calls"] = tool_calls
    usage = data.get("usage") or {}
    prompt_tokens = int(usage.get("input_tokens", 0)) + int(usage.get("cache_read_input_tokens") or 0)
    completion_tokens = int(usage.get("output_tokens", 0))
    return {
        "id": data.get("id", ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("model", ""),
        "choices": [{"index": 0, "message": message,
                     "finish_reason": _STOP_REASONS.get(data.get("stop_reason") or "", "stop")}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


class _StreamState:
    """Anthropic stream events -> OpenAI chat.completion.chunk objects."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index
        self.created = int(time.time())
        self.done = False

    def decode(self, event: str | None, data: str) -> dict[str, Any] | None:
        payload = sse_object(data)
        kind = payload.get("type", event)
        if kind == "error":
            raise UpstreamError("mid-stream", _message_of(payload) or "Anthropic stream error")
        if kind == "message_stop":
            self.done = True
        return self.translate(kind, payload)

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"id": "", "object": "chat.completion.chunk", "created": self.created, "model": "",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    def translate(self, kind: str | None, event: dict[str, Any]) -> dict[str, Any] | None:
        if kind == "message_start":
            usage = event.get("message", {}).get("usage", {})
            self.prompt_tokens = int(usage.get("input_tokens", 0))
            return self._chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block = event.get("content_block", {})
            if block.get("type") == "tool_use":
                index = self.tool_index.setdefault(event.get("index", 0), len(self.tool_index))
                return self._chunk({"tool_calls": [{"index": index, "id": block.get("id"), "type": "function",
                                                    "function": {"name": block.get("name"), "arguments": ""}}]})
            return None
        if kind == "content_block_delta":
            delta = event.get("delta", {})
            if delta.get("type") == "text_delta":
                return self._chunk({"content": delta.get("text", "")})
            if delta.get("type") == "input_json_delta":
                index = self.tool_index.get(event.get("index", 0), 0)
                return self._chunk({"tool_calls": [{"index": index,
                                                    "function": {"arguments": delta.get("partial_json", "")}}]})
            return None
        if kind == "message_delta":
            self.completion_tokens = int(event.get("usage", {}).get("output_tokens", 0))
            reason = _STOP_REASONS.get(event.get("delta", {}).get("stop_reason") or "", "stop")
            chunk = self._chunk({}, reason)
            chunk["usage"] = {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                              "total_tokens": self.prompt_tokens + self.completion_tokens}
            return chunk
        return None
