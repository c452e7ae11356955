"""The lean HTTP/1.1 transport against raw loopback servers that answer byte-exactly."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from router.transport import LeanTransport, UpstreamRequest

# Both ways in: under httpx.AsyncClient (handle_async_request), and the gateway's own `send`.
VIA = pytest.mark.parametrize("native", [False, True], ids=["httpx-client", "send"])


async def _serve(responses: list[bytes], connections: list[int], heads: list[bytes] | None = None):
    """A server that answers each request with the next canned response (b"" = drop the connection)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while responses:
                head = await reader.readuntil(b"\r\n\r\n")
                if heads is not None:
                    heads.append(head)
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                await reader.readexactly(length)
                answer = responses.pop(0)
                if not answer:
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _run(responses: list[bytes], n_requests: int, stream: bool = False, native: bool = False):
    connections: list[int] = []

    async def go():
        server = await _serve(responses, connections)
        port = server.sockets[0].getsockname()[1]
        results = []
        if native:
            transport = LeanTransport()
            for _ in range(n_requests):
                try:
                    response = await transport.send(UpstreamRequest(httpx.URL(f"http://127.0.0.1:{port}/x"), {}, b"{}"))
                    try:
                        if stream:
                            results.append([chunk async for chunk in response.aiter_bytes()])
                        else:
                            results.append((response.status_code, await response.aread()))
                    finally:
                        await response.aclose()
                except httpx.TransportError as exc:
                    results.append(exc)
            await transport.aclose()
            server.close()
            return results
        async with httpx.AsyncClient(transport=LeanTransport()) as client:
            for _ in range(n_requests):
                try:
                    if stream:
                        async with client.stream("POST", f"http://127.0.0.1:{port}/x", content=b"{}") as response:
                            results.append([chunk async for chunk in response.aiter_bytes()])
                    else:
                        response = await client.post(f"http://127.0.0.1:{port}/x", content=b"{}")
                        results.append((response.status_code, response.content))
                except httpx.TransportError as exc:
                    results.append(exc)
        server.close()
        return results

    return asyncio.run(go()), len(connections)


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: text/plain\r\n\r\nhello"


@VIA
def test_keep_alive_reuses_one_connection(native):
    results, n_connections = _run([OK, OK, OK], 3, native=native)
    assert results == [(200, b"hello")] * 3 and n_connections == 1


@VIA
def test_chunked_and_close_delimited_bodies(native):
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    close_delimited = b"HTTP/1.1 201 Created\r\nconnection: close\r\n\r\nuntil the end"
    results, n_connections = _run([chunked, close_delimited], 2, native=native)
    assert results == [(200, b"abcde"), (201, b"until the end")] and n_connections == 1


@VIA
def test_dropped_connection_and_truncated_body_are_transport_errors(native):
    truncated = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\nonly this"
    results, _ = _run([b"", truncated], 2, native=native)
    assert all(isinstance(r, httpx.RemoteProtocolError) for r in results)


@VIA
def test_streaming_yields_chunks_as_they_arrive(native):
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + b"".join(
        f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (b"data: 1\n\n", b"data: 2\n\n")) + b"0\r\n\r\n"
    results, _ = _run([chunked], 1, stream=True, native=native)
    assert b"".join(results[0]) == b"data: 1\n\ndata: 2\n\n"


def test_connection_refused_is_connect_error():
    async def go():
        async with httpx.AsyncClient(transport=LeanTransport()) as client:
            await client.post("http://127.0.0.1:9/x", content=b"{}")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(go())


def test_send_writes_host_length_and_headers_and_refuses_line_breaks():
    heads: list[bytes] = []

    async def go():
        server = await _serve([OK], [], heads)
        port = server.sockets[0].getsockname()[1]
        transport = LeanTransport()
        url = httpx.URL(f"http://127.0.0.1:{port}/v1/chat?x=1")
        response = await transport.send(UpstreamRequest(url, {"authorization": "Bearer k1"}, b'{"a": 1}'))
        assert (response.status_code, await response.aread()) == (200, b"hello")
        assert response.headers["content-type"] == "text/plain"
        await response.aclose()
        for bad in ({"authorization": "Bearer k\r\nx-evil: 1"}, {"x-api-key": "k\nx"}):
            with pytest.raises(httpx.LocalProtocolError):
                await transport.send(UpstreamRequest(url, bad, b"{}"))
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.LocalProtocolError):
                await client.post(url, content=b"{}", headers={"authorization": "Bearer k\r\nx-evil: 1"})
        server.close()

    asyncio.run(go())
    lines = heads[0].decode().split("\r\n")
    assert lines[0] == "POST /v1/chat?x=1 HTTP/1.1"
    assert {"host: 127.0.0.1:%s" % lines[1].split(":")[-1], "content-length: 8", "authorization: Bearer k1"} <= set(lines)
    assert len(heads) == 1  # nothing with a line break reached the server
