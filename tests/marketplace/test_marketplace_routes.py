"""Route behaviour that needs no server: the listing cache and history without telemetry."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson

from router.marketplace import build_marketplace_router
from telemetry.snapshot import LiveStats
from tests.marketplace.test_marketplace_listing import CATALOG


def handler(router, path: str):
    return next(route.endpoint for route in router.routes if getattr(route, "path", None) == path)


def fake_state(catalog=CATALOG) -> SimpleNamespace:
    return SimpleNamespace(catalog=catalog, live_stats=LiveStats(), telemetry=None,
                           dispatcher=SimpleNamespace(clock=lambda: 1_800_000_000.0))


def test_catalog_listing_is_built_once_per_catalog():
    state = fake_state()
    list_models = handler(build_marketplace_router(lambda: state), "/marketplace/api/models")
    first, second = asyncio.run(list_models()), asyncio.run(list_models())
    assert first.body is second.body  # the cached bytes, not a rebuild
    state.catalog = CATALOG.with_base_urls({})  # a reloaded catalog is a new object: rebuilt
    third = asyncio.run(list_models())
    assert third.body is not first.body and third.body == first.body


def test_history_without_telemetry_is_an_empty_series_per_endpoint():
    state = fake_state()
    history = handler(build_marketplace_router(lambda: state), "/marketplace/api/models/{model_id:path}/history")
    payload = orjson.loads(history("acme/seer", minutes=30).body)
    assert payload["telemetry"] is False and payload["until"] - payload["since"] == 1800
    assert [(s["provider"], s["points"]["t"]) for s in payload["series"]] == [("alpha", []), ("beta", [])]
