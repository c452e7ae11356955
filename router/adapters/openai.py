"""OpenAI-compatible upstreams (OpenAI, Groq, Together, Fireworks, DeepInfra, vLLM, ...)."""
from __future__ import annotations

from typing import Any

import orjson

from ..transport import UpstreamRequest
from .base import UpstreamError, error_message_from, sse_object, upstream_url

__all__ = ["OpenAIAdapter"]

_PATHS = {"chat": "/chat/completions", "completion": "/completions", "embedding": "/embeddings"}


class OpenAIAdapter:
    def build_request(self, base_url: str, api_key: str | None, kind: str, payload: dict[str, Any],
                      stream: bool) -> UpstreamRequest:
        headers = {"content-type": "application/json", "accept": "text/event-stream" if stream else "application/json",
                   "accept-encoding": "identity"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        if stream:
            # Ask for usage in the last chunk so cost can be computed from real token counts.
            payload = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        return UpstreamRequest(upstream_url(base_url, _PATHS[kind]), headers, orjson.dumps(payload))

    def parse_response(self, data: dict[str, Any], kind: str) -> dict[str, Any]:
        if "error" in data and not data.get("choices") and not data.get("data"):
            raise UpstreamError("bad-response", _message_of(data) or "upstream returned an error body", status=200)
        if kind == "embedding":
            if not isinstance(data.get("data"), list):
                raise UpstreamError("bad-response", "upstream embedding response has no 'data' list", status=200)
        elif not isinstance(data.get("choices"), list) or not data["choices"]:
            raise UpstreamError("bad-response", "upstream response has no 'choices'", status=200)
        return data

    def stream_decoder(self) -> "_OpenAIStream":
        return _OpenAIStream()

    def error_message(self, status: int, body: bytes) -> str:
        return error_message_from(body, status, _message_of)


class _OpenAIStream:
    """OpenAI-compatible chunks pass through as they are, after checks; `[DONE]` ends the stream."""

    def __init__(self) -> None:
        self.done = False

    def decode(self, event: str | None, data: str) -> dict[str, Any] | None:
        if data.strip() == "[DONE]":
            self.done = True
            return None
        chunk = sse_object(data)
        if "error" in chunk:
            raise UpstreamError("mid-stream", _message_of(chunk) or "upstream stream error")
        return chunk


def _message_of(data: Any) -> str | None:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
        if isinstance(data.get("message"), str):
            return data["message"]
    return None
