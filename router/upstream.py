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
from .adapters.base import SSEDecoder, StreamDecoder
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


def _transport_failure(exc: httpx.TransportError) -> UpstreamError:
    """What went wrong below HTTP, as the attempt's error (both transports raise httpx's exceptions)."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError("timeout", "upstream timed out")
    if isinstance(exc, httpx.LocalProtocolError):
        return UpstreamError("bad-response", _UNSENDABLE)
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError("connect", "could not connect to upstream")
    return UpstreamError("connect", f"upstream connection failed: {type(exc).__name__}")


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
    except httpx.TransportError as exc:
        raise _transport_failure(exc) from None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("bad-response", "upstream returned invalid JSON", status=response.status_code) from None
    if not isinstance(data, dict):
        raise UpstreamError("bad-response", "upstream returned a non-object JSON body", status=response.status_code)
    return adapter.parse_response(data, kind), response.status_code


async def open_stream(transport: httpx.AsyncBaseTransport, adapter: Adapter, request: UpstreamRequest,
                      timeout_s: float) -> tuple[Any, AsyncIterator[list[dict[str, Any]]]]:
    """Send a streaming request and wait for its response headers (2xx) within `timeout_s`.

    Returns the response and its chunks in batches, one batch per upstream read."""
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
        if isinstance(exc, httpx.TransportError):
            raise _transport_failure(exc) from None
        raise
    return response, _batches(response, adapter.stream_decoder())


async def _batches(response, decoder: StreamDecoder) -> AsyncIterator[list[dict[str, Any]]]:
    """The stream's chunks, one list per upstream read, so the relay forwards each read in one write.

    Chunks decoded before an error in the same read are yielded first, then the error is raised:
    whatever the upstream sent before it failed reaches the client.
    """
    sse = SSEDecoder()
    try:
        async for block in response.aiter_bytes():
            chunks, error = _decode(decoder, sse.feed(block))
            if chunks:
                yield chunks
            if error is not None:
                raise error
            if decoder.done:
                return
        chunks, error = _decode(decoder, sse.close())
        if chunks:
            yield chunks
        if error is not None:
            raise error
    except httpx.TransportError as exc:
        raise UpstreamError("mid-stream", f"upstream stream broke: {type(exc).__name__}") from None


def _decode(decoder: StreamDecoder, events: list[tuple[str | None, str]]
            ) -> tuple[list[dict[str, Any]], UpstreamError | None]:
    """(chunks decoded, the error that stopped decoding or None)."""
    chunks: list[dict[str, Any]] = []
    for event, data in events:
        try:
            chunk = decoder.decode(event, data)
        except UpstreamError as error:
            return chunks, error
        if chunk is not None:
            chunks.append(chunk)
        if decoder.done:
            break
    return chunks, None
