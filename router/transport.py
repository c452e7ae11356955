"""A lean HTTP/1.1 transport for upstream calls, and the request type adapters build.

httpx's default transport (httpcore on anyio) spent ~70% of the gateway's CPU per request in
`benchmarks/bench_gateway.py`, growing with concurrency (its pool scans every connection per
request; see encode/httpx#3215). Upstream LLM APIs need only HTTP/1.1 keep-alive, so this
transport speaks exactly that on asyncio protocols with httptools' C parser (already installed
with uvicorn), and raises httpx's exceptions.

Two ways in: `send(UpstreamRequest)`, the gateway's path, with a minimal response object; and
httpx's `handle_async_request`, so it also works under an `httpx.AsyncClient`. An `httpx.Request`
alone takes 10-24 us to build (URL parsing, header normalisation the gateway does not need);
skipping the Request/Response objects took a streamed request from 1.52-1.76 to 1.38-1.49 ms of
gateway CPU at concurrency 64.

Not supported (use `SWITCHYARD_HTTP_TRANSPORT=httpx` for them): HTTP/2, proxies from the
environment, `Expect: 100-continue`.
"""
from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import dataclass
from typing import AsyncIterator

import httptools
import httpx

__all__ = ["LeanTransport", "LeanResponse", "UpstreamRequest", "send_upstream"]

_HIGH_WATER = 256 * 1024  # pause reading when the consumer falls this far behind
_LOW_WATER = 64 * 1024


@dataclass(slots=True)
class UpstreamRequest:
    """What an adapter builds: one POST to an upstream. Header names are lower-case."""

    url: httpx.URL
    headers: dict[str, str]
    content: bytes
    method: str = "POST"
    connect_timeout_s: float | None = None

    def to_httpx(self) -> httpx.Request:
        timeouts = {"connect": self.connect_timeout_s, "read": None, "write": None, "pool": None}
        return httpx.Request(self.method, self.url, headers=self.headers, content=self.content,
                             extensions={"timeout": timeouts})


async def send_upstream(transport: httpx.AsyncBaseTransport, request: UpstreamRequest):
    """Send through `transport`; the answer has httpx.Response's `status_code`, `headers`, `aread`,
    `aiter_bytes` and `aclose` whichever transport it is."""
    if isinstance(transport, LeanTransport):
        return await transport.send(request)
    return await transport.handle_async_request(request.to_httpx())


def _checked(value: bytes) -> bytes:
    # A BYOK key is user input: CR or LF in it would inject headers into the upstream request.
    if b"\r" in value or b"\n" in value:
        raise httpx.LocalProtocolError("header value contains a line break")
    return value


class _Connection(asyncio.Protocol):
    """One keep-alive TCP connection; one request/response at a time."""

    def __init__(self, origin: tuple[str, str, int]):
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done: asyncio.Future | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.waiter: asyncio.Future | None = None
        self.complete = False
        self.error: Exception | None = None
        self.paused = False
        self.has_length = False
        self.keep_alive = False

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP response from upstream: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done is not None and self.headers_done.done() and not self.complete and not self.has_length:
            self.on_message_complete()  # body delimited by connection close
            return
        if not self.complete:
            self._fail(httpx.RemoteProtocolError("upstream closed the connection before the response ended"))

    # -- httptools callbacks -------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length" or (lower == b"transfer-encoding" and b"chunked" in value.lower()):
            self.has_length = True

    def on_headers_complete(self) -> None:
        # Read it here: llhttp resets its state after the message, and then always says False.
        self.keep_alive = self.parser.should_keep_alive()
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_result(self.parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # -- helpers -------------------------------------------------------------------------------
    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _fail(self, exc: Exception) -> None:
        self.error = exc
        if self.headers_done is not None and not self.headers_done.done():
            self.headers_done.set_exception(exc)
        self._wake()
        if self.transport is not None:
            self.transport.close()

    async def request(self, raw: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        self._reset()
        loop = asyncio.get_running_loop()
        self.headers_done = loop.create_future()
        self.transport.write(raw)  # type: ignore[union-attr]
        status = await self.headers_done
        return status, self.headers

    async def body(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        while True:
            while self.chunks:
                # Everything already received goes out as one block (one parse, one relay write),
                # however many chunked-encoding pieces it came in.
                chunk = self.chunks.popleft() if len(self.chunks) == 1 else b"".join(self.chunks)
                self.chunks.clear()
                self.buffered -= len(chunk)
                if self.paused and self.buffered < _LOW_WATER and self.transport is not None:
                    self.paused = False
                    self.transport.resume_reading()
                yield chunk
            if self.error is not None:
                raise self.error
            if self.complete:
                return
            self.waiter = loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None

    @property
    def reusable(self) -> bool:
        return self.complete and not self.closed and self.error is None and self.keep_alive


class LeanResponse:
    """The part of httpx.Response that the gateway uses, without building one."""

    __slots__ = ("status_code", "raw_headers", "_connection", "_pool", "_headers", "_released")

    def __init__(self, status_code: int, raw_headers: list[tuple[bytes, bytes]], connection: _Connection,
                 pool: "LeanTransport"):
        self.status_code = status_code
        self.raw_headers = raw_headers
        self._connection = connection
        self._pool = pool
        self._headers: httpx.Headers | None = None
        self._released = False

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:  # only error paths read headers: build them on demand
            self._headers = httpx.Headers(self.raw_headers)
        return self._headers

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._connection.body():
                yield chunk
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from None

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self._connection)


class _Body(httpx.AsyncByteStream):
    def __init__(self, connection: _Connection, transport: "LeanTransport"):
        self.connection = connection
        self.pool = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.connection.body():
                yield chunk
        except httpx.TransportError:
            raise
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from None

    async def aclose(self) -> None:
        self.pool._release(self.connection)


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive pool keyed by origin; idle connections are reused newest first."""

    def __init__(self, max_idle_per_origin: int = 512, keepalive_expiry_s: float = 4.0, connect_timeout_s: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None):
        # 4 s idle expiry stays under common server keep-alive timeouts (uvicorn and node: 5 s), so
        # a reused connection is rarely one the server is closing at that very moment.
        self.max_idle_per_origin = max_idle_per_origin
        self.keepalive_expiry_s = keepalive_expiry_s
        self.connect_timeout_s = connect_timeout_s
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    def _ssl(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    async def _connect(self, origin: tuple[str, str, int], timeout_s: float) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        connection = _Connection(origin)
        try:
            async with asyncio.timeout(timeout_s):
                await loop.create_connection(lambda: connection, host, port,
                                             ssl=self._ssl() if scheme == "https" else None,
                                             server_hostname=host if scheme == "https" else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connect to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        return connection

    def _acquire_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_expiry_s:
                return connection
            if connection.transport is not None:
                connection.transport.close()
        return None

    def _release(self, connection: _Connection) -> None:
        if connection.reusable:
            idle = self._idle.setdefault(connection.origin, [])
            if len(idle) < self.max_idle_per_origin:
                connection.idle_since = time.monotonic()
                idle.append(connection)
                return
        if connection.transport is not None:
            connection.transport.close()

    async def send(self, request: UpstreamRequest) -> "LeanResponse":
        url = request.url
        head = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1\r\nhost: {url.netloc.decode('ascii')}"
                f"\r\ncontent-length: {len(request.content)}\r\n".encode()]
        for name, value in request.headers.items():
            head.append(name.encode("ascii") + b": " + _checked(value.encode("latin-1")) + b"\r\n")
        connection, status, headers = await self._exchange(url, request.connect_timeout_s, head, request.content)
        return LeanResponse(status, headers, connection, self)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        timeouts = request.extensions.get("timeout") or {}
        head = [f"{request.method} {url.raw_path.decode('ascii')} HTTP/1.1\r\n".encode()]
        for name, value in request.headers.raw:
            head.append(name + b": " + _checked(value) + b"\r\n")
        body = request.content  # the gateway always sends bytes bodies
        connection, status, headers = await self._exchange(url, timeouts.get("connect"), head, body)
        return httpx.Response(status, headers=headers, stream=_Body(connection, self),
                              extensions={"http_version": b"HTTP/1.1"})

    async def _exchange(self, url: httpx.URL, connect_timeout_s: float | None, head: list[bytes],
                        body: bytes) -> tuple[_Connection, int, list[tuple[bytes, bytes]]]:
        scheme = url.scheme
        origin = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        connection = self._acquire_idle(origin) or await self._connect(origin, connect_timeout_s or self.connect_timeout_s)
        try:
            status, headers = await connection.request(b"".join(head) + b"\r\n" + body)
        except BaseException:
            if connection.transport is not None:
                connection.transport.close()
            raise
        return connection, status, headers

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                if connection.transport is not None:
                    connection.transport.close()
        self._idle.clear()
