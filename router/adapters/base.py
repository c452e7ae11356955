"""The adapter interface and the upstream error every adapter raises."""
from __future__ import annotations

import functools
import re
from typing import Any, Protocol

import httpx
import orjson

from ..transport import UpstreamRequest

__all__ = ["Adapter", "UpstreamError", "redact", "LineSplitter", "SSEDecoder", "StreamDecoder", "error_message_from"]

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

    def stream_decoder(self) -> StreamDecoder: ...

    def error_message(self, status: int, body: bytes) -> str: ...


class LineSplitter:
    """Bytes as they arrive → complete lines, split on CRLF, LF or CR as the SSE spec allows.

    SSE is UTF-8 by definition, so there is no charset detection and no incremental text decoder:
    a line is decoded once it is complete.
    """

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, block: bytes) -> list[str]:
        pending = self._pending + block
        if pending.endswith(b"\r"):  # maybe the first half of a CRLF: keep it for the next block
            head, carry = pending[:-1], b"\r"
        else:
            head, carry = pending, b""
        if b"\r" in head:
            head = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *complete, rest = head.split(b"\n")
        self._pending = rest + carry
        return [line.decode("utf-8", "replace") for line in complete]

    def close(self) -> list[str]:
        """The unterminated last line, or one ended by a lone CR."""
        pending, self._pending = self._pending, b""
        return [pending.removesuffix(b"\r").decode("utf-8", "replace")] if pending else []


class SSEDecoder:
    """Bytes → (event name, data) per complete SSE event; comments and keep-alives are skipped.

    Synchronous and per block, so one upstream read is decoded in one call and the relay can
    forward all of it in one write.
    """

    def __init__(self) -> None:
        self._lines = LineSplitter()
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, block: bytes) -> list[tuple[str | None, str]]:
        return self._events(self._lines.feed(block))

    def close(self) -> list[tuple[str | None, str]]:
        events = self._events(self._lines.close())
        if self._data:
            events.append((self._event, "\n".join(self._data)))
            self._event, self._data = None, []
        return events

    def _events(self, lines: list[str]) -> list[tuple[str | None, str]]:
        events = []
        for line in lines:
            if not line:
                if self._data:
                    events.append((self._event, "\n".join(self._data)))
                self._event, self._data = None, []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                self._data.append(value)
            elif field == "event":
                self._event = value
        return events


def sse_object(data: str) -> dict[str, Any]:
    """One SSE event's data as a JSON object; a "bad-response" UpstreamError when it is not one."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError("bad-response", "upstream sent malformed SSE data") from None
    if not isinstance(payload, dict):
        raise UpstreamError("bad-response", "upstream sent a non-object SSE event")
    return payload


class StreamDecoder(Protocol):
    """One stream's state in an adapter: each SSE event → an OpenAI chunk, or None (nothing to send).

    Raises UpstreamError on an error event or bad data. `done` turns True at the upstream's own end
    marker; events after it are not decoded.
    """

    done: bool

    def decode(self, event: str | None, data: str) -> dict[str, Any] | None: ...


def error_message_from(body: bytes, status: int, message_of) -> str:
    """The upstream's own error message (found by `message_of` in its JSON), or a generic one."""
    try:
        return message_of(orjson.loads(body)) or f"upstream returned HTTP {status}"
    except orjson.JSONDecodeError:
        return f"upstream returned HTTP {status}"
