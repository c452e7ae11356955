"""The frames behind the notebooks' figures, checked against hand-computed numbers."""
from __future__ import annotations

import polars as pl
import pytest

from telemetry.notebook_frames import (error_class_shares, fee_breakdown, observed_prices, spend_by, spend_over_time,
                                       uptime_over_time)
from telemetry.notebook_plots import plot_error_classes, plot_fees, plot_uptime_over_time, save_figure, short_labels
from telemetry.rollups import rebuild_rollups
from telemetry.store import EVENT_SCHEMA, EventStore

T0 = 1_800_000_000.0


def event(n: int, **fields) -> dict:
    row = dict(request_id=f"r{n}", generation_id=f"g{n}", ts=T0 + n, key_id="k1", requested_model="m",
               served_model="m", endpoint_id="a/m", provider="a", attempt=0, candidates=["a/m", "b/m"],
               policy="p", policy_version="1", propensity=0.5, prompt_tokens=100, max_tokens=None, stream=False,
               has_tools=False, completion_tokens=10, ttft_s=0.2, latency_s=1.0, tokens_per_s=12.5, status=200,
               error_class=None, prompt_price=1e-6, completion_price=2e-6, cost=1.2e-4, is_byok=False,
               source="test")
    row.update(fields)
    return row


@pytest.fixture
def events() -> pl.DataFrame:
    rows = [
        event(0), event(1, key_id="k2", is_byok=True),
        event(2, endpoint_id="b/m", provider="b", error_class="5xx", status=500, cost=0.0, completion_tokens=0),
        event(3, endpoint_id="b/m", provider="b", error_class="429", status=429, cost=0.0, completion_tokens=0),
        event(4, endpoint_id="b/m", provider="b", cost=3e-4),
        event(400, prompt_price=5e-7, cost=0.7e-4),  # a price cut, minutes later
    ]
    frame = pl.DataFrame(rows, schema=EVENT_SCHEMA)
    return frame.with_columns(started_at=pl.from_epoch(pl.col("ts") * 1e6, time_unit="us"))


def test_spend_by_sums_cost_and_counts_requests(events):
    by_key = spend_by(events, "key_id")
    assert by_key.rows() == [("k1", pytest.approx(4.9e-4), 5, 300, 30), ("k2", pytest.approx(1.2e-4), 1, 100, 10)]
    assert spend_by(events, "provider")["provider"].to_list() == ["a", "b"]  # largest spend first: 3.1e-4 vs 3e-4
    assert spend_over_time(events, every="5m")["cost_usd"].sum() == pytest.approx(6.1e-4)


def test_observed_prices_keep_only_changes(events):
    prices = observed_prices(events)
    assert prices.filter(pl.col("endpoint_id") == "a/m")["prompt_price"].to_list() == [1e-6, 5e-7]
    assert prices.filter(pl.col("endpoint_id") == "b/m").height == 1


def test_fee_breakdown_follows_the_billing_rule(events):
    fees = {row["provider"]: row for row in fee_breakdown(events, platform_fee=0.05, byok_fee=0.1).iter_rows(named=True)}
    a = fees["a"]
    assert a["list_cost_usd"] == pytest.approx(3.1e-4) and a["byok_cost_usd"] == pytest.approx(1.2e-4)
    assert a["platform_fee_usd"] == pytest.approx(1.9e-4 * 0.05)
    assert a["byok_fee_usd"] == pytest.approx(1.2e-4 * 0.1)
    assert a["user_pays_usd"] == pytest.approx(3.1e-4 + 1.9e-4 * 0.05 + 1.2e-4 * 0.1)
    assert a["all_byok_fee_usd"] == pytest.approx(3.1e-4 * 0.1) and a["all_credits_fee_usd"] == pytest.approx(3.1e-4 * 0.05)


def test_error_class_shares_per_endpoint(events):
    shares = {row["endpoint_id"]: row for row in error_class_shares(events).iter_rows(named=True)}
    assert shares["b/m"]["attempts"] == 3
    assert shares["b/m"]["5xx"] == pytest.approx(1 / 3) and shares["b/m"]["429"] == pytest.approx(1 / 3)
    assert shares["a/m"]["5xx"] == 0.0 and shares["a/m"]["timeout"] == 0.0


def test_uptime_over_time_ignores_rate_limits_and_sums_counts(events, tmp_path):
    path = tmp_path / "telemetry.duckdb"
    with EventStore(path) as store:
        store.append_frame(events.drop("started_at"))
        rebuild_rollups(store)
        rollups = store.query("SELECT * FROM endpoint_minute")
    uptime = uptime_over_time(rollups, every="1h")
    b = uptime.filter(pl.col("endpoint_id") == "b/m").row(0, named=True)
    assert (b["successes"], b["counted"], b["uptime"]) == (1, 1, 0.5)  # the 429 does not count
    figure = plot_uptime_over_time(uptime)
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["a", "b"]
    assert save_figure(figure, tmp_path / "uptime.png").stat().st_size > 0


def test_plots_label_endpoints_by_provider_when_one_model_is_served(events):
    assert short_labels(["a/m", "b/m"]) == {"a/m": "a", "b/m": "b"}
    assert short_labels(["a/m", "b/n"]) == {"a/m": "a/m", "b/n": "b/n"}
    bars = plot_error_classes(error_class_shares(events)).axes[0]
    assert {t.get_text() for t in bars.get_legend().get_texts()} == {"5xx", "429"}
    fees = plot_fees(fee_breakdown(events, 0.05, 0.05))
    assert len(fees.axes) == 2
