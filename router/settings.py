"""Gateway settings: validated once at the edge into a frozen object (env vars SWITCHYARD_*)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    catalog_path: str | None = None  # None = the embedded default catalog
    data_dir: str = "var"  # DuckDB telemetry, key/ledger store, fitted policies
    catalog_refresh_s: float = 60.0  # re-read the catalog file (and record price changes) this often
    demo: str = "auto"  # "auto": local demo upstreams when no provider key is set; "on" | "off"
    demo_port: int = 0  # 0 = any free port
    demo_speed: float = 1.0  # >1 makes demo upstreams faster than the real measurements
    policy: str = "openrouter"
    policy_per_model: dict[str, str] = field(default_factory=dict)
    policy_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    min_prob: float = 0.02
    stats_refresh_s: float = 0.25  # live stats summaries refresh this often on success (failures: at once)
    policy_refit_s: float = 300.0  # how often learned policies are refitted from telemetry (0 = never)
    policy_history_s: float = 86_400.0  # how much telemetry a refit reads
    seed: int | None = None
    connect_timeout_s: float = 10.0  # TCP (and TLS) connect to an upstream; a dead host fails over fast
    attempt_timeout_s: float = 60.0  # one upstream attempt, until the last byte (non-stream) or first byte (stream)
    stream_idle_timeout_s: float = 60.0  # longest silence between two chunks of a started stream
    request_deadline_s: float = 180.0  # all attempts of one request together
    keepalive_s: float = 2.0  # SSE comment interval while waiting for the first token
    max_body_bytes: int = 4 * 1024 * 1024
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    http_transport: str = "lean"  # "lean" (router.transport, HTTP/1.1) or "httpx" (httpcore: HTTP/2, proxies)
    telemetry: bool = True
    telemetry_queue: int = 100_000
    # Each DuckDB commit has a fixed cost of several ms (WAL write, checkpoint work): batches of 1 s
    # cost ~10 us per event at 700 req/s, batches of 0.2 s ~60 us (see the telemetry benchmark).
    telemetry_flush_s: float = 1.0
    # A served request's telemetry, policy update and ledger write wait this long after the answer,
    # so a client's next request goes first (router.bookkeeping); 0 runs them right after the answer.
    bookkeeping_delay_s: float = 0.005
    master_key: str | None = None  # SWITCHYARD_MASTER_KEY; generated at first start when unset
    cors_origins: tuple[str, ...] = ()  # closed by default
    provider_keys: dict[str, str] = field(default_factory=dict, repr=False)  # provider -> key (overrides env)

    @property
    def telemetry_path(self) -> Path:
        return Path(self.data_dir) / "telemetry.duckdb"

    @property
    def billing_path(self) -> Path:
        return Path(self.data_dir) / "billing.sqlite"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> "Settings":
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"SWITCHYARD_{f.name.upper()}")
            if raw is None or f.name in ("policy_params", "provider_keys"):
                continue
            if f.name == "policy_per_model":  # "model=policy;model=policy"
                values[f.name] = dict(item.split("=", 1) for item in raw.split(";") if "=" in item)
                continue
            values[f.name] = _coerce(f.name, raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.demo not in ("auto", "on", "off"):
            raise ValueError(f"demo: {self.demo!r} is not one of auto, on, off")
        for name in ("connect_timeout_s", "attempt_timeout_s", "stream_idle_timeout_s", "request_deadline_s",
                     "keepalive_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0")
        if self.http_transport not in ("lean", "httpx"):
            raise ValueError(f"http_transport: {self.http_transport!r} is not one of lean, httpx")
        if not 0 <= self.bookkeeping_delay_s <= 1:
            raise ValueError("bookkeeping_delay_s: must be in [0, 1]")
        if not 0 <= self.min_prob < 1:
            raise ValueError("min_prob: must be in [0, 1)")

    def with_(self, **changes: Any) -> "Settings":
        return replace(self, **changes)


def _coerce(name: str, raw: str, annotation: Any) -> Any:
    text = str(annotation)
    try:
        if "tuple" in text:
            return tuple(v.strip() for v in raw.split(",") if v.strip())
        if text.startswith("int"):
            return int(raw)
        if text.startswith("float"):
            return float(raw)
        if text.startswith("bool"):
            return raw.lower() in ("1", "true", "yes", "on")
        if "int" in text and raw.isdigit():
            return int(raw)
    except ValueError:
        raise ValueError(f"SWITCHYARD_{name.upper()}: cannot parse {raw!r} as {text}") from None
    return raw
