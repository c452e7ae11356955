"""The one place that does upstream I/O: send what an adapter built, classify what went wrong.

Requests go to the transport directly (`router.transport.send_upstream`), not through an
`httpx.AsyncClient`: the gateway needs none of the client's auth, redirect or cookie layers, and they
cost about a fifth of its CPU per request.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import httpx
import orjson

from .adapters import Adapter, UpstreamError
from .transport import UpstreamRequest, send_upstream

__all__ = ["send_json", "open_stream", "classify_status"]


# A provider key (BYOK keys are user input) with a line break in it: never sent, and never quoted.
_UNSENDABLE = "the upstream request could not be encoded: a header value contains a line break"


def classify_status(status: int) -> tuple[str, bool]:
    """(telemetry error class, whether another endpoint should be tried)."""
    if status == 429:
        return "429", True
    if status >= 500:
        return "5xx", True
    if status in (401, 402, 403, 404, 408, 409):
        # The provider refused *our* credentials, quota or model name: another provider may serve it.
        return "bad-response", True
    return "user", False


def _retry_after(response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _scrub_credentials(message: str, request: UpstreamRequest) -> str:
    """Cut out the exact key this request carried: providers quote it back ("Incorrect API key
    provided: ..."), and not every key has a shape the pattern in `redact` recognises."""
    for header in ("authorization", "x-api-key", "api-key"):
        value = request.headers.get(header, "").removeprefix("Bearer ").strip()
        if len(value) >= 8:
            message = message.replace(value, "[redacted]")
    return message


async def _raise_for_status(adapter: Adapter, request: UpstreamRequest, response) -> None:
    if response.status_code < 400:
        return
    body = await response.aread()
    error_class, retryable = classify_status(response.status_code)
    message = _scrub_credentials(adapter.error_message(response.status_code, body), request)
    raise UpstreamError(error_class, message, status=response.status_code, retryable=retryable,
                        retry_after_s=_retry_after(response))


async def send_json(transport: httpx.AsyncBaseTransport, adapter: Adapter, request: UpstreamRequest, kind: str,
                    timeout_s: float) -> tuple[dict[str, Any], int]:
    """Send a non-streaming request; the whole exchange must finish within `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            response = await send_upstream(transport, request)
            try:
                await _raise_for_status(adapter, request, response)
                body = await response.aread()
            finally:
                await response.aclose()
    except TimeoutError:
        raise UpstreamError("timeout", f"upstream did not answer within {timeout_s:.1f}s") from None
    except httpx.TimeoutException:
        raise UpstreamError("timeout", "upstream timed out") from None
    except (httpx.ConnectError, httpx.ConnectTimeout):
        raise UpstreamError("connect", "could not connect to upstream") from None
    except httpx.LocalProtocolError:
        raise UpstreamError("bad-response", _UNSENDABLE) from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise UpstreamError("connect", f"upstream connection failed: {type(exc).__name__}") from None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("bad-response", "upstream returned invalid JSON", status=response.status_code) from None
    if not isinstance(data, dict):
        raise UpstreamError("bad-response", "upstream returned a non-object JSON body", status=response.status_code)
    return adapter.parse_response(data, kind), response.status_code


async def open_stream(transport: httpx.AsyncBaseTransport, adapter: Adapter, request: UpstreamRequest,
                      timeout_s: float) -> tuple[Any, AsyncIterator[dict[str, Any]]]:
    """Send a streaming request and wait for its response headers (2xx) within `timeout_s`."""
    response = None
    try:
        async with asyncio.timeout(timeout_s):
            response = await send_upstream(transport, request)
            await _raise_for_status(adapter, request, response)
    except BaseException as exc:
        if response is not None:
            await response.aclose()
        if isinstance(exc, UpstreamError):
            raise
        if isinstance(exc, TimeoutError):
            raise UpstreamError("timeout", f"upstream sent no headers within {timeout_s:.1f}s") from None
        if isinstance(exc, httpx.TimeoutException):
            raise UpstreamError("timeout", "upstream timed out") from None
        if isinstance(exc, httpx.LocalProtocolError):
            raise UpstreamError("bad-response", _UNSENDABLE) from None
        if isinstance(exc, httpx.TransportError):
            raise UpstreamError("connect", f"upstream connection failed: {type(exc).__name__}") from None
        raise
    return response, adapter.parse_stream(_lines(response))


async def _lines(response) -> AsyncIterator[str]:
    try:
        async for line in sse_lines(response.aiter_bytes()):
            yield line
    except httpx.TransportError as exc:
        raise UpstreamError("mid-stream", f"upstream stream broke: {type(exc).__name__}") from None


async def sse_lines(blocks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Lines of an event stream, split on CRLF, LF or CR as the SSE spec allows.

    SSE is UTF-8 by definition, so this skips httpx's charset detection and its incremental text
    and line decoders: two generator layers per token, ~10% of a streamed request's CPU.
    """
    pending = b""
    async for block in blocks:
        pending += block
        if pending.endswith(b"\r"):  # maybe the first half of a CRLF: wait for the next block
            head, pending = pending[:-1], b"\r"
        else:
            head, pending = pending, b""
        if b"\r" in head:
            head = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *complete, rest = head.split(b"\n")
        pending = rest + pending
        for line in complete:
            yield line.decode("utf-8", "replace")
    if pending:  # an unterminated last line, or one ended by a lone CR
        yield pending.removesuffix(b"\r").decode("utf-8", "replace")
