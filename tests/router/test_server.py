"""`router.server.OneWriteHttpProtocol`: a sized response leaves in one write, a stream's head at once.

Each app pauses between the head and the body, so a client reading the socket sees the difference:
with two writes, its first read returns the head alone.
"""
from __future__ import annotations

import asyncio
import socket

import pytest

from tests.conftest import ServerThread

PAUSE_S = 0.2


def _app(headers, parts, fail_after_start=False):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await asyncio.sleep(PAUSE_S)
        if fail_after_start:
            raise RuntimeError("the app failed after starting its response")
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": i < len(parts) - 1})
    return app


def _first_read(url: str, request_headers: bytes = b"") -> tuple[bytes, socket.socket]:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n" + request_headers + b"\r\n")
    return sock.recv(65536), sock


def _read_rest(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_sized_response_arrives_in_one_read():
    body = b'{"ok": true}'
    app = _app([(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())], [body])
    with ServerThread(app) as server:
        first, sock = _first_read(server.url)
        sock.close()
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert first.endswith(b"\r\n\r\n" + body), first


def test_connection_close_still_flushes_the_held_head_and_body():
    body = b"bye"
    app = _app([(b"content-length", b"3")], [body])
    with ServerThread(app) as server:
        first, sock = _first_read(server.url, b"connection: close\r\n")
        rest = _read_rest(sock)  # ends: the server closed the connection after the body
        sock.close()
    assert (first + rest).endswith(b"\r\n\r\n" + body)
    assert b"connection: close" in first.lower()


def test_stream_head_is_not_held():
    app = _app([(b"content-type", b"text/event-stream")], [b"data: 1\n\n", b"data: [DONE]\n\n"])
    with ServerThread(app) as server:
        first, sock = _first_read(server.url)
        sock.settimeout(5)
        rest = b""
        while not rest.endswith(b"0\r\n\r\n"):
            rest += sock.recv(65536)
        sock.close()
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b"\r\n\r\n"), first  # the head alone
    assert b"data: 1" in rest and b"data: [DONE]" in rest


def test_app_failing_after_a_held_start_gets_a_500_not_a_broken_response():
    # The held start never reached uvicorn, so uvicorn still answers the failure with its own 500.
    app = _app([(b"content-length", b"2")], [b"ok"], fail_after_start=True)
    with ServerThread(app) as server:
        first, sock = _first_read(server.url)
        rest = _read_rest(sock)
        sock.close()
    response = first + rest
    assert response.startswith(b"HTTP/1.1 500 "), response
    assert response.endswith(b"Internal Server Error")


@pytest.mark.parametrize("protocol", ["h11", "httptools"])
def test_plain_uvicorn_protocols_send_the_head_first(protocol):
    # The control: what the tests above guard against really happens without the wrapper.
    body = b"x" * 10
    app = _app([(b"content-length", b"10")], [body])
    with ServerThread(app, http=protocol) as server:
        first, sock = _first_read(server.url)
        sock.close()
    assert first.endswith(b"\r\n\r\n"), first
