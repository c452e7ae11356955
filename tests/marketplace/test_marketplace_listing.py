"""Cards are pure functions of the catalog and a stats snapshot."""
from __future__ import annotations

from router.catalog import parse_catalog
from router.marketplace import capabilities, catalog_listing, live_listing, model_card, model_detail
from telemetry.snapshot import EndpointStats, Percentiles

CATALOG = parse_catalog({
    "providers": {"alpha": {"base_url": "http://127.0.0.1:1"}, "beta": {"base_url": "http://127.0.0.1:2"}},
    "models": [
        {"id": "acme/seer", "name": "Seer", "input_modalities": ["text", "image"], "context_length": 200_000,
         "endpoints": [
             {"provider": "alpha", "prompt_price": 3e-6, "completion_price": 1.5e-5,
              "supported_parameters": ["max_tokens", "tools", "reasoning"]},
             {"provider": "beta", "prompt_price": 2.5e-6, "completion_price": 1e-5,
              "supported_parameters": ["max_tokens", "response_format"]}]},
        {"id": "plain", "endpoints": [{"provider": "beta", "prompt_price": 0, "completion_price": 0,
                                        "supported_parameters": ["max_tokens"]}]},
    ],
})


def test_capabilities_come_from_parameters_of_any_endpoint_and_from_modalities():
    assert capabilities(CATALOG.model("acme/seer")) == ["tools", "vision", "structured_output", "reasoning"]
    assert capabilities(CATALOG.model("plain")) == []


def test_card_prices_are_the_cheapest_endpoints_per_million_tokens():
    card = model_card(CATALOG.model("acme/seer"))
    assert (card["prompt_per_m"], card["completion_per_m"]) == (2.5, 10.0)
    assert card["providers"] == ["alpha", "beta"]
    assert [e["prompt_per_m"] for e in card["endpoints"]] == [3.0, 2.5]
    assert model_card(CATALOG.model("plain"))["prompt_per_m"] == 0.0


def test_endpoint_cards_carry_live_stats_and_none_without_them():
    stats = EndpointStats("beta/acme/seer", n_recent=12, successes_5m=11, failures_5m=1, ttft_p50_s=0.4,
                          latency_p50_s=2.0, tokens_per_s_p50=80.0, successes_30m=99, failures_30m=1,
                          ttft_30m=Percentiles(0.4, 0.5, 0.7, 1.2))
    alpha, beta = model_detail(CATALOG.model("acme/seer"), {"beta/acme/seer": stats})["endpoints"]
    assert (beta["ttft_p50_s"], beta["tokens_per_s_p50"], beta["uptime_30m"]) == (0.4, 80.0, 0.99)
    assert beta["uptime_5m"] == 11 / 12 and beta["requests_5m"] == 12
    assert beta["ttft_30m"] == {"p50": 0.4, "p75": 0.5, "p90": 0.7, "p99": 1.2}
    assert alpha["ttft_p50_s"] is None and alpha["uptime_30m"] is None and alpha["requests_5m"] == 0


def test_catalog_listing_has_no_live_figures_and_live_listing_only_those():
    listing = catalog_listing(CATALOG)
    assert listing["providers"] == ["alpha", "beta"]
    assert [m["id"] for m in listing["models"]] == ["acme/seer", "plain"]
    assert "description" not in listing["models"][0] and "ttft_p50_s" not in listing["models"][0]["endpoints"][0]
    assert set(listing["capabilities"]) == {"tools", "vision", "structured_output", "reasoning"}
    stats = EndpointStats("beta/plain", successes_30m=3, failures_30m=1, tokens_per_s_p50=50.0)
    live = live_listing({"beta/plain": stats}, now=123.0)
    assert live == {"generated_at": 123.0, "endpoints": {"beta/plain": {
        "ttft_p50_s": None, "latency_p50_s": None, "tokens_per_s_p50": 50.0, "uptime_30m": 0.75}}}
