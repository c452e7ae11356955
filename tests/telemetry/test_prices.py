from __future__ import annotations

from telemetry.prices import prices_at, record_prices
from telemetry.store import EventStore


def history(store):
    return store.query("SELECT * FROM price_history ORDER BY endpoint_id, valid_from").rows()


def test_price_history_opens_and_closes_rows(store_path):
    with EventStore(store_path) as store:
        assert record_prices(store, {"a/m": (1e-6, 2e-6, 0.0), "b/m": (3e-6, 4e-6, 0.0)}, now=100.0) == 2
        assert record_prices(store, {"a/m": (1e-6, 2e-6, 0.0), "b/m": (3e-6, 4e-6, 0.0)}, now=200.0) == 0
        assert history(store) == [("a/m", 1e-6, 2e-6, 0.0, 100.0, None), ("b/m", 3e-6, 4e-6, 0.0, 100.0, None)]
        # b changes its completion price; a is absent from this observation and stays open.
        assert record_prices(store, {"b/m": (3e-6, 5e-6, 0.0)}, now=300.0) == 1
        assert history(store) == [
            ("a/m", 1e-6, 2e-6, 0.0, 100.0, None),
            ("b/m", 3e-6, 4e-6, 0.0, 100.0, 300.0),
            ("b/m", 3e-6, 5e-6, 0.0, 300.0, None),
        ]
        assert record_prices(store, {"a/m": (1e-6, 2e-6, 0.01)}, now=400.0) == 1  # a per-request fee counts too
        assert prices_at(store, 250.0).rows() == [("a/m", 1e-6, 2e-6, 0.0), ("b/m", 3e-6, 4e-6, 0.0)]
        assert prices_at(store, 450.0).rows() == [("a/m", 1e-6, 2e-6, 0.01), ("b/m", 3e-6, 5e-6, 0.0)]
        assert prices_at(store, 50.0).height == 0
        assert record_prices(store, {}, now=500.0) == 0
