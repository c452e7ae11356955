"""Prometheus metrics for `GET /metrics`, in a registry of their own (never the global one).

Labels are endpoint ids, providers and error classes only: never key ids, keys or prompt text.
"""
from __future__ import annotations

from typing import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .events import AttemptEvent

__all__ = ["Metrics"]

# Seconds; LLM calls range from sub-second TTFTs to multi-minute streams.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)


class _WriterCollector(Collector):
    """Reads the writer's counters at scrape time, so the request path does no metric work for them."""

    def __init__(self, writer_counters: Callable[[], tuple[int, int, int, int]]):
        self._writer_counters = writer_counters

    def collect(self) -> Iterator:
        queue_depth, dropped, written, failed = self._writer_counters()
        yield GaugeMetricFamily("switchyard_telemetry_queue_depth", "Events waiting for the telemetry writer",
                                value=queue_depth)
        yield CounterMetricFamily("switchyard_telemetry_dropped_events", "Events dropped because the queue was full",
                                  value=dropped)
        yield CounterMetricFamily("switchyard_telemetry_written_events", "Events written to the telemetry store",
                                  value=written)
        yield CounterMetricFamily("switchyard_telemetry_failed_events", "Events lost because their batch failed to insert",
                                  value=failed)


class Metrics:
    def __init__(self, writer=None, registry: CollectorRegistry | None = None):
        """`writer`: anything with `queue_depth`, `dropped`, `written` and `failed` (a TelemetryWriter)."""
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.attempts = Counter("switchyard_attempts", "Upstream attempts by outcome",
                                ("endpoint_id", "provider", "outcome"), registry=self.registry)
        self.errors = Counter("switchyard_attempt_errors", "Failed upstream attempts by error class",
                              ("endpoint_id", "error_class"), registry=self.registry)
        self.latency = Histogram("switchyard_attempt_latency_seconds", "Total attempt latency",
                                 ("endpoint_id",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.ttft = Histogram("switchyard_attempt_ttft_seconds", "Time to first token",
                              ("endpoint_id",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.tokens = Counter("switchyard_tokens", "Tokens processed", ("endpoint_id", "kind"), registry=self.registry)
        self.cost = Counter("switchyard_cost_usd", "USD billed", ("endpoint_id",), registry=self.registry)
        self._children: dict[tuple, object] = {}
        if writer is not None:
            self.registry.register(_WriterCollector(lambda: (writer.queue_depth, writer.dropped, writer.written, writer.failed)))

    def observe(self, event: AttemptEvent) -> None:
        endpoint = event.endpoint_id
        child = self._child
        if event.error_class is None:
            child(self.attempts, endpoint, event.provider, "success").inc()
        else:
            child(self.attempts, endpoint, event.provider, "error").inc()
            child(self.errors, endpoint, event.error_class).inc()
        if event.latency_s is not None:
            child(self.latency, endpoint).observe(event.latency_s)
        if event.ttft_s is not None:
            child(self.ttft, endpoint).observe(event.ttft_s)
        if event.prompt_tokens:
            child(self.tokens, endpoint, "prompt").inc(event.prompt_tokens)
        if event.completion_tokens:
            child(self.tokens, endpoint, "completion").inc(event.completion_tokens)
        if event.cost:
            child(self.cost, endpoint).inc(event.cost)

    def _child(self, metric, *labels: str):
        # `labels()` validates and takes a lock on every call (~1.5 us, up to six per attempt); the
        # labelled children are looked up once. Created on first use, so no zero series appear.
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for the `/metrics` response."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
