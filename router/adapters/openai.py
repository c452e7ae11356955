"""OpenAI-compatible upstreams (OpenAI, Groq, Together, Fireworks, DeepInfra, vLLM, ...)."""
from __future__ import annotations

from typing import Any, AsyncIterator

import orjson

from ..transport import UpstreamRequest
from .base import UpstreamError, error_message_from, iter_sse_data, upstream_url

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

    async def parse_stream(self, lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
        async for _event, data in iter_sse_data(lines):
            if data.strip() == "[DONE]":
                return
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise UpstreamError("bad-response", "upstream sent malformed SSE data") from None
            if not isinstance(chunk, dict):
                raise UpstreamError("bad-response", "upstream sent a non-object SSE chunk")
            if "error" in chunk:
                raise UpstreamError("mid-stream", _message_of(chunk) or "upstream stream error")
            yield chunk

    def error_message(self, status: int, body: bytes) -> str:
        return error_message_from(body, status, _message_of)


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
