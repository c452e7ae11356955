"""The adapter interface and the upstream error every adapter raises."""
from __future__ import annotations

import functools
import re
from typing import Any, AsyncIterator, Protocol

import httpx
import orjson

from ..transport import UpstreamRequest

__all__ = ["Adapter", "UpstreamError", "redact", "iter_sse_data", "error_message_from"]

# Anything that looks like a credential is cut out of upstream messages before a client sees it.
_SECRET_PATTERN = re.compile(r"(sk-[A-Za-z0-9_\-*]{4,}|(?:api[_-]?key|token|bearer)[\"'=: ]+[A-Za-z0-9_\-.*]{8,})", re.I)


@functools.lru_cache(maxsize=4096)
def upstream_url(base_url: str, path: str) -> httpx.URL:
    """The parsed URL of one upstream route: parsing costs ~12 us a request, and there are few routes."""
    return httpx.URL(base_url.rstrip("/") + path)


def redact(text: str) -> str:
    return _SECRET_PATTERN.sub("[redacted]", text)


class UpstreamError(Exception):
    """One attempt failed. `error_class` is the telemetry class; `retryable` drives fallback."""

    def __init__(self, error_class: str, message: str, status: int = 0, retryable: bool = True,
                 retry_after_s: float | None = None):
        super().__init__(message)
        self.error_class = error_class
        self.message = redact(message)
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Adapter(Protocol):
    def build_request(self, base_url: str, api_key: str | None, kind: str, payload: dict[str, Any],
                      stream: bool) -> UpstreamRequest: ...

    def parse_response(self, data: dict[str, Any], kind: str) -> dict[str, Any]: ...

    def parse_stream(self, lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]: ...

    def error_message(self, status: int, body: bytes) -> str: ...


async def iter_sse_data(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str]]:
    """Yield (event name, data) for each SSE event; comments and keep-alives are skipped."""
    event: str | None = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:
        yield event, "\n".join(data)


def error_message_from(body: bytes, status: int, message_of) -> str:
    """The upstream's own error message (found by `message_of` in its JSON), or a generic one."""
    try:
        return message_of(orjson.loads(body)) or f"upstream returned HTTP {status}"
    except orjson.JSONDecodeError:
        return f"upstream returned HTTP {status}"
