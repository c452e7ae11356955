"""Serving the app with uvicorn, each sized response written to the socket in one piece.

uvicorn writes a response's status line and headers the moment the app sends them, and its body in
a second write. The client wakes for the head, finds no body, sleeps, and wakes again: on this
project's 2-core VM waking a sleeping peer over loopback costs ~150 µs of the gateway's time
(`benchmarks/bench_gateway.py`), on every request. A response with a Content-Length is complete as
soon as its body arrives, so its head is held until then and both go out in one write. Streams
(no Content-Length) are untouched: their head goes out at once, so clients see the status early.
"""
from __future__ import annotations

from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["OneWriteHttpProtocol", "serve"]


class _BufferedWrites:
    """Stands in for the transport while a held head and its body are written, then writes both
    at once. Everything but `write` goes to the real transport (after a flush, for `close`)."""

    def __init__(self, transport: Any):
        self._transport = transport
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    def flush(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts.clear()
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _OneWriteSend:
    """A request cycle's `send`, holding a sized response's start message until its first body."""

    __slots__ = ("cycle", "send", "held_start")

    def __init__(self, cycle: Any):
        self.cycle = cycle
        self.send = cycle.send
        self.held_start: dict[str, Any] | None = None

    async def __call__(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.cycle.response_started and _is_sized(message):
            # A later start (uvicorn's own 500 after an app error) replaces a held one.
            self.held_start = message
            return
        if self.held_start is None:
            await self.send(message)
            return
        start, self.held_start = self.held_start, None
        cycle = self.cycle
        transport = cycle.transport
        buffered = cycle.transport = _BufferedWrites(transport)
        try:
            await self.send(start)
            await self.send(message)
        finally:
            cycle.transport = transport
            buffered.flush()


def _is_sized(message: dict[str, Any]) -> bool:
    return any(name.lower() == b"content-length" for name, _ in message.get("headers", ()))


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with each request cycle's `send` wrapped by `_OneWriteSend`."""

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        # The cycle's task is scheduled, not yet started: it reads `cycle.send` when it runs.
        if self.cycle is not None and self.cycle is not before:
            self.cycle.send = _OneWriteSend(self.cycle)


def serve(app: Any, *, host: str, port: int, **options: Any) -> None:
    """`uvicorn.run` with `OneWriteHttpProtocol`; `options` go to uvicorn."""
    uvicorn.run(app, host=host, port=port, http=OneWriteHttpProtocol, **options)
