"""Plain-dict payloads for the gateway's telemetry routes; the router wraps them in responses.

- `generation_detail` backs `GET /v1/generation?id=gen-...` (reads the store: not on the routing path).
- `endpoint_live_stats` backs the live figures in `GET /v1/models/{author}/{slug}/endpoints`
  (reads the in-memory snapshot only). Shapes follow OpenRouter: uptimes in percent, latency =
  time to first token in seconds, throughput in tokens/s with p99 the slow tail.
"""
from __future__ import annotations

from typing import Mapping

import polars as pl

from .snapshot import EndpointStats, Percentiles
from .store import EventStore
from .writer import TelemetryWriter

__all__ = ["generation_detail", "endpoint_live_stats"]

# Every attempt of the request the generation belongs to, whether the router gives attempts one
# shared generation id or one each.
_ATTEMPTS_SQL = """
    SELECT * FROM events
    WHERE request_id IN (SELECT request_id FROM events WHERE generation_id = $generation_id)
    ORDER BY attempt, ts
"""

_ATTEMPT_FIELDS = ("attempt", "generation_id", "endpoint_id", "provider", "served_model", "status", "error_class",
                   "ttft_s", "latency_s", "tokens_per_s", "prompt_tokens", "completion_tokens", "cost",
                   "propensity", "ts")


def _query(source: TelemetryWriter | EventStore, sql: str, params: Mapping) -> pl.DataFrame:
    if isinstance(source, TelemetryWriter):
        return source.read_frame(sql, params)
    return source.query(sql, params)


def generation_detail(source: TelemetryWriter | EventStore, generation_id: str) -> dict | None:
    """Model, provider, latency, TTFT, tokens, cost and every attempt of one generation; None if unknown.

    Given a running writer, an id not found while events are still queued triggers one flush and
    retry, so a client asking right after its request finds it.
    """
    attempts = _query(source, _ATTEMPTS_SQL, {"generation_id": generation_id})
    if attempts.height == 0 and isinstance(source, TelemetryWriter) and source.queue_depth:
        source.flush()
        attempts = _query(source, _ATTEMPTS_SQL, {"generation_id": generation_id})
    if attempts.height == 0:
        return None
    rows = attempts.to_dicts()
    first, final = rows[0], rows[-1]
    finished_at = max(r["ts"] + (r["latency_s"] or 0.0) for r in rows)
    return {
        "id": generation_id,
        "request_id": final["request_id"],
        "created_at": first["ts"],
        "requested_model": final["requested_model"],
        "model": final["served_model"],
        "provider": final["provider"],
        "endpoint_id": final["endpoint_id"],
        "success": final["error_class"] is None,
        "status": final["status"],
        "error_class": final["error_class"],
        "latency_s": final["latency_s"],
        "total_latency_s": finished_at - first["ts"],  # includes failed attempts and fallbacks
        "ttft_s": final["ttft_s"],
        "tokens_per_s": final["tokens_per_s"],
        "tokens_prompt": final["prompt_tokens"],
        "tokens_completion": final["completion_tokens"],
        "total_cost": sum(r["cost"] or 0.0 for r in rows),
        "is_byok": final["is_byok"],
        "stream": final["stream"],
        "policy": final["policy"],
        "policy_version": final["policy_version"],
        "num_attempts": len(rows),
        "attempts": [{name: r[name] for name in _ATTEMPT_FIELDS} for r in rows],
    }


def _percent(uptime: float | None) -> float | None:
    return None if uptime is None else round(100.0 * uptime, 3)


def _as_dict(percentiles: Percentiles | None) -> dict[str, float] | None:
    return None if percentiles is None else percentiles.as_dict()


def endpoint_live_stats(snapshot: Mapping[str, EndpointStats], endpoint_id: str) -> dict:
    """Live figures for one endpoint (all None when nothing has been observed yet)."""
    stats = snapshot.get(endpoint_id) or EndpointStats(endpoint_id)
    return {
        "uptime_last_5m": _percent(stats.uptime_5m),
        "uptime_last_30m": _percent(stats.uptime_30m),
        "uptime_last_1d": _percent(stats.uptime_1d),
        "latency_last_30m": _as_dict(stats.ttft_30m),
        "e2e_latency_last_30m": _as_dict(stats.latency_30m),
        "throughput_last_30m": _as_dict(stats.tokens_per_s_30m),
    }
