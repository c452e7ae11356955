"""Per-minute latency/uptime history of a model's endpoints, read from the telemetry store.

Minutes already rolled up come from `endpoint_minute`; minutes at or after the rollup job's dirty
mark (events written since its last run) are aggregated from raw events with the rollup's own SQL,
so the chart is current without waiting for the next scheduled rollup and both parts agree on
every definition. Runs on a private read cursor (`TelemetryWriter.read_frame`), never on the
request path of completions.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import polars as pl

from telemetry.rollups import ROLLUP_SELECT_SQL
from telemetry.writer import TelemetryWriter

__all__ = ["HISTORY_COLUMNS", "endpoint_history", "history_payload", "MAX_HISTORY_MINUTES"]

MAX_HISTORY_MINUTES = 7 * 24 * 60
HISTORY_COLUMNS = ("requests", "errors", "ttft_p50_s", "latency_p50_s", "tokens_per_s_p50", "uptime")
_SELECT = f"endpoint_id, epoch(minute) AS t, {', '.join(HISTORY_COLUMNS)}"
_DIRTY_SQL = "SELECT dirty_from FROM rollup_state WHERE name = 'endpoint_minute'"
_ROLLED_SQL = f"""
    SELECT {_SELECT} FROM endpoint_minute
    WHERE list_contains($ids, endpoint_id)
      AND minute >= make_timestamp(CAST($since * 1e6 AS BIGINT))
      AND minute < make_timestamp(CAST($fresh_from * 1e6 AS BIGINT))
"""
_FRESH_SQL = f"SELECT {_SELECT} FROM ({ROLLUP_SELECT_SQL}) WHERE list_contains($ids, endpoint_id)"


def endpoint_history(telemetry: TelemetryWriter, endpoint_ids: Sequence[str], since: float,
                     until: float) -> pl.DataFrame:
    """Rows (endpoint_id, t = minute start in unix seconds, *HISTORY_COLUMNS) for minutes in [since, until)."""
    since = since // 60 * 60
    ids = list(endpoint_ids)
    (dirty_from,) = telemetry.read_frame(_DIRTY_SQL).row(0)
    fresh_from = until if dirty_from is None else max(since, min(until, dirty_from // 60 * 60))
    parts = [telemetry.read_frame(_ROLLED_SQL, {"ids": ids, "since": since, "fresh_from": fresh_from})]
    if fresh_from < until:
        parts.append(telemetry.read_frame(_FRESH_SQL, {"ids": ids, "from_ts": fresh_from}))
    return pl.concat(parts, how="vertical_relaxed").filter(pl.col("t") < until).sort("endpoint_id", "t")


def _clean(values: list) -> list:
    # JSON has no NaN; a minute without successful attempts has no percentiles.
    return [None if isinstance(v, float) and math.isnan(v) else v for v in values]


def history_payload(model_id: str, providers: dict[str, str], frame: pl.DataFrame | None, since: float,
                    until: float) -> dict[str, Any]:
    """Column-wise series per endpoint (in `providers` order), ready for the page's charts."""
    series = []
    by_endpoint = {} if frame is None else {key[0]: part for key, part in frame.partition_by(
        "endpoint_id", as_dict=True, maintain_order=True).items()}
    for endpoint_id, provider in providers.items():
        part = by_endpoint.get(endpoint_id)
        points = {"t": [] if part is None else part["t"].to_list()}
        for column in HISTORY_COLUMNS:
            points[column] = [] if part is None else _clean(part[column].to_list())
        series.append({"endpoint_id": endpoint_id, "provider": provider, "points": points})
    return {"model": model_id, "since": since, "until": until, "minute_s": 60, "telemetry": frame is not None,
            "series": series}
