"""Shared fixtures: real servers on 127.0.0.1 (demo upstreams and the gateway)."""
from __future__ import annotations

import threading
import time

import pytest
import uvicorn

from router.server import OneWriteHttpProtocol


class ServerThread:
    """Run an ASGI app with uvicorn on a free loopback port in a background thread, with the HTTP
    protocol `switchyard serve` uses."""

    def __init__(self, app, host: str = "127.0.0.1", http=OneWriteHttpProtocol):
        self.config = uvicorn.Config(app, host=host, port=0, log_level="warning", access_log=False,
                                     timeout_graceful_shutdown=2, lifespan="on", http=http)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server_thread():
    return ServerThread
