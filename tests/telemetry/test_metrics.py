from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from telemetry.metrics import Metrics


class FakeWriter:
    queue_depth, dropped, written, failed = 7, 3, 120, 0


def samples(text: bytes) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}


def test_metrics_text_contains_expected_series(make_event):
    metrics = Metrics(writer=FakeWriter())
    metrics.observe(make_event(endpoint_id="alpha/m", provider="alpha", latency_s=1.3, ttft_s=0.3, key_id="secret-key-hash"))
    metrics.observe(make_event(endpoint_id="alpha/m", provider="alpha", latency_s=0.7, ttft_s=0.2))
    metrics.observe(make_event(endpoint_id="beta/m", provider="beta", error_class="429", status=429, ttft_s=None,
                               latency_s=0.05, completion_tokens=0, cost=0.0))
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    found = samples(body)
    assert found[("switchyard_attempts_total", (("endpoint_id", "alpha/m"), ("outcome", "success"), ("provider", "alpha")))] == 2
    assert found[("switchyard_attempts_total", (("endpoint_id", "beta/m"), ("outcome", "error"), ("provider", "beta")))] == 1
    assert found[("switchyard_attempt_errors_total", (("endpoint_id", "beta/m"), ("error_class", "429")))] == 1
    assert found[("switchyard_attempt_latency_seconds_count", (("endpoint_id", "alpha/m"),))] == 2
    assert found[("switchyard_attempt_latency_seconds_sum", (("endpoint_id", "alpha/m"),))] == 2.0
    assert found[("switchyard_attempt_latency_seconds_bucket", (("endpoint_id", "alpha/m"), ("le", "1.0")))] == 1
    assert ("switchyard_attempt_ttft_seconds_count", (("endpoint_id", "beta/m"),)) not in found
    assert found[("switchyard_tokens_total", (("endpoint_id", "alpha/m"), ("kind", "completion")))] == 100
    assert found[("switchyard_telemetry_queue_depth", ())] == 7
    assert found[("switchyard_telemetry_dropped_events_total", ())] == 3
    assert found[("switchyard_telemetry_written_events_total", ())] == 120
    assert found[("switchyard_telemetry_failed_events_total", ())] == 0
    assert b"secret-key-hash" not in body and b"key_id" not in body


def test_metrics_use_their_own_registry(make_event):
    first, second = Metrics(), Metrics()  # two instances must not clash on metric names
    first.observe(make_event())
    assert b"switchyard_attempts_total{" not in second.render()[0]
    assert REGISTRY.get_sample_value("switchyard_attempts_total",
                                     {"endpoint_id": "alpha/llama-3-8b", "provider": "alpha", "outcome": "success"}) is None
