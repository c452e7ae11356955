"""The marketplace JSON routes over a real socket, on the real 744-model catalog."""
from __future__ import annotations

import httpx

from tests.marketplace.conftest import BUSY_MODEL, HISTORY_MINUTES, finite


def test_listing_has_every_catalog_model_with_prices_per_million(listing, real_catalog):
    assert len(listing["models"]) == len(real_catalog.models) == 744
    cards = {card["id"]: card for card in listing["models"]}
    gpt = cards["gpt-4o-mini"]
    cheapest = real_catalog.model("gpt-4o-mini").cheapest
    assert gpt["prompt_per_m"] == round(cheapest.prompt_price * 1e6, 6) == 0.15
    assert gpt["completion_per_m"] == 0.6
    assert set(gpt["capabilities"]) == {"tools", "vision", "structured_output"}
    assert cards[BUSY_MODEL]["providers"] == sorted(e.provider.name for e in real_catalog.model(BUSY_MODEL).endpoints)
    assert listing["providers"] == sorted(real_catalog.providers)


def test_live_stats_cover_the_endpoints_that_served_traffic(marketplace_gateway, listing):
    live = httpx.get(marketplace_gateway.url + "/marketplace/api/stats").json()["endpoints"]
    busy = [card for card in listing["models"] if card["id"] == BUSY_MODEL][0]["endpoints"]
    for endpoint in busy:
        figures = live[endpoint["endpoint_id"]]
        assert figures["ttft_p50_s"] > 0 and figures["tokens_per_s_p50"] > 0 and figures["uptime_30m"] == 1.0
    assert "openai/gpt-4-turbo" not in live  # no traffic, no entry


def test_detail_has_endpoints_with_percentiles(marketplace_gateway):
    detail = httpx.get(f"{marketplace_gateway.url}/marketplace/api/models/{BUSY_MODEL}").json()
    assert len(detail["endpoints"]) == 8
    endpoint = detail["endpoints"][0]
    assert endpoint["requests_5m"] >= 3
    assert endpoint["ttft_30m"]["p50"] <= endpoint["ttft_30m"]["p90"] <= endpoint["ttft_30m"]["p99"]
    assert "supported_parameters" in detail and "description" in detail


def test_history_joins_rolled_up_minutes_with_fresh_ones(marketplace_gateway):
    history = httpx.get(f"{marketplace_gateway.url}/marketplace/api/models/{BUSY_MODEL}/history",
                        params={"minutes": 60}).json()
    assert history["telemetry"] is True
    assert [s["provider"] for s in history["series"]] == [
        "cerebras", "deepinfra", "fireworks", "groq", "openrouter", "sambanova", "together", "novita"]
    for series in history["series"]:
        points = series["points"]
        assert points["t"] == sorted(points["t"]) and len(set(points["t"])) == len(points["t"])
        # ~HISTORY_MINUTES earlier minutes from the rollup table plus this minute's live traffic.
        assert len(points["t"]) >= HISTORY_MINUTES * 0.8
        assert points["t"][-1] >= history["until"] - 120
        assert all(0.0 <= u <= 1.0 for u in finite(points["uptime"]))
        assert sum(points["requests"]) >= 3
    shorter = httpx.get(f"{marketplace_gateway.url}/marketplace/api/models/{BUSY_MODEL}/history",
                        params={"minutes": 5}).json()
    assert max(len(s["points"]["t"]) for s in shorter["series"]) <= 6


def test_unknown_model_is_an_openai_shaped_404(marketplace_gateway):
    for path in ("/marketplace/api/models/no-such-model", "/marketplace/api/models/no/such/model/history"):
        response = httpx.get(marketplace_gateway.url + path)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"


def test_history_window_is_validated(marketplace_gateway):
    response = httpx.get(f"{marketplace_gateway.url}/marketplace/api/models/{BUSY_MODEL}/history",
                         params={"minutes": 0})
    assert response.status_code in (400, 422)


def test_page_and_its_assets_are_served_without_auth(marketplace_gateway):
    for path in ("/", "/models", f"/models/{BUSY_MODEL}", "/models/meta-llama/llama-3.1-8b"):
        response = httpx.get(marketplace_gateway.url + path)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert "/marketplace/static/marketplace.js" in response.text
    script = httpx.get(marketplace_gateway.url + "/marketplace/static/marketplace.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "http://" not in script.text.replace("http://www.w3.org/2000/svg", "")  # nothing loaded from elsewhere
    assert httpx.get(marketplace_gateway.url + "/marketplace/static/marketplace.css").status_code == 200
