from __future__ import annotations

import pytest

from telemetry import analyst
from telemetry.prices import record_prices
from telemetry.rollups import update_rollups
from telemetry.store import EventStore

from telemetry_testdata import T0


def test_analyst_frames_from_a_closed_file(store_path, make_event):
    events = [make_event(endpoint_id="a/m", ts=T0 + i, latency_s=1.0 + i) for i in range(4)]
    events += [make_event(endpoint_id="b/m", ts=T0 + 90, error_class="5xx"), make_event(endpoint_id="b/m", ts=T0 + 95)]
    with EventStore(store_path) as store:
        store.append(events)
        update_rollups(store)
        record_prices(store, {"a/m": (1e-6, 2e-6, 0.0)}, now=T0)
    frame = analyst.events(store_path)
    assert frame.height == 6 and "started_at" in frame.columns
    assert analyst.events(store_path, since=T0 + 2, until=T0 + 91)["request_id"].to_list() == [
        e.request_id for e in events[2:5]]
    assert analyst.events(store_path, endpoint_id="b/m").height == 2
    rollups = analyst.rollups(store_path)
    assert rollups.select("endpoint_id", "requests").rows() == [("a/m", 4), ("b/m", 2)]
    assert analyst.rollups(store_path, since=T0 + 60).height == 1
    assert analyst.price_history(store_path)["endpoint_id"].to_list() == ["a/m"]
    health = analyst.endpoint_health(store_path).rows(named=True)
    assert [(h["endpoint_id"], h["attempts"], h["errors"]) for h in health] == [("a/m", 4, 0), ("b/m", 2, 1)]
    assert health[1]["uptime"] == pytest.approx(0.5)
    assert health[0]["latency_p50_p90_p99_s"][0] == pytest.approx(2.5)
