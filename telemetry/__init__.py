"""Telemetry: attempt events, the DuckDB store and its single writer, rollups, routing stats, jobs."""
from .events import ERROR_CLASSES, EVENT_FIELDS, UPTIME_EXCLUDED, AttemptEvent, counts_against_uptime
from .snapshot import EndpointStats, LiveStats, Percentiles, build_snapshot
from .store import DEFAULT_STORE_PATH, EventStore, events_frame
from .writer import TelemetryWriter

__all__ = [
    "AttemptEvent", "DEFAULT_STORE_PATH", "ERROR_CLASSES", "EVENT_FIELDS", "EndpointStats", "EventStore",
    "LiveStats", "Percentiles", "TelemetryWriter", "UPTIME_EXCLUDED", "build_snapshot", "counts_against_uptime",
    "events_frame",
]
