"""The gateway in a child process, as `switchyard serve` runs it, against demo upstreams in this one.

A child process gives the soak and shutdown suites what an in-process server cannot: its own RSS
(read from /proc), a real SIGTERM, and a log stream captured to a file for the secrecy scans.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx

from router.demo import Behaviour, DemoProviders

__all__ = ["FAST", "GatewayProcess", "Listener", "free_port", "control", "upstream_stats", "telemetry_events",
           "catalog_for"]

REPO = Path(__file__).resolve().parents[2]
FAST = dict(ttft_s=0.005, tokens_per_s=5000.0, error_rate=0.0, rate_429=0.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def control(demo: DemoProviders, provider: str, **changes: Any) -> None:
    httpx.post(f"http://127.0.0.1:{demo.port}/_control/{provider}", json=changes).raise_for_status()


def upstream_stats(demo: DemoProviders) -> dict[str, int]:
    return httpx.get(f"http://127.0.0.1:{demo.port}/_stats").json()["requests"]


def catalog_for(demo: DemoProviders, behaviours: dict[str, Behaviour], models: list[dict],
                key_envs: dict[str, str] | None = None) -> dict:
    providers = {name: {"base_url": demo.base_url(name), "api_style": b.api_style} for name, b in behaviours.items()}
    for name, env in (key_envs or {}).items():
        providers[name]["key_env"] = env
    return {"providers": providers, "models": models}


def telemetry_events(data_dir: Path) -> list[dict[str, Any]]:
    """Every event row the gateway wrote, read once it has shut down."""
    with duckdb.connect(str(Path(data_dir) / "telemetry.duckdb"), read_only=True) as con:
        cursor = con.execute("SELECT generation_id, endpoint_id, provider, attempt, status, error_class, cost FROM events")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


class GatewayProcess:
    """`python -m router.cli serve` on a free port; `settings` become SWITCHYARD_* variables."""

    def __init__(self, catalog: dict, data_dir: Path, master_key: str, env: dict[str, str] | None = None,
                 log_level: str = "info", **settings: Any):
        self.log_level = log_level
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.catalog_path = self.data_dir / "catalog.json"
        self.catalog_path.write_text(json.dumps(catalog))
        self.port = free_port()
        self.log_path = self.data_dir / "gateway.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
        self.env.update({"SWITCHYARD_MASTER_KEY": master_key, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.env.update({f"SWITCHYARD_{k.upper()}": str(v) for k, v in settings.items()})
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 30.0) -> "GatewayProcess":
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "router.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--config", str(self.catalog_path), "--demo", "off", "--data-dir", str(self.data_dir),
             "--log-level", self.log_level],
            cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited at start:\n{self.log_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gateway did not start:\n{self.log_text()}")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line")

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            self._log.close()

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> "GatewayProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


class Listener:
    """A loopback 'internal service' that counts every connection made to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)
        self.sock.close()
