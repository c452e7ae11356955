"""The marketplace's HTTP surface: the page, its static files and its JSON API (public, no auth).

| route | what |
|---|---|
| `GET /`, `GET /models`, `GET /models/{model_id}` | the page (one static HTML file; the JS routes on the path) |
| `GET /marketplace/static/...` | its JavaScript and CSS, shipped in the package (no CDN, no build step) |
| `GET /marketplace/api/models` | every model with prices, capabilities and providers (cached per catalog) |
| `GET /marketplace/api/stats` | live p50 TTFT, latency, throughput and uptime per endpoint that has data |
| `GET /marketplace/api/models/{model_id}` | one model with its endpoints and detailed live stats |
| `GET /marketplace/api/models/{model_id}/history?minutes=60` | per-minute TTFT/latency/uptime per endpoint |

Model ids may contain slashes (`meta-llama/llama-3.1-8b`) or none (`gpt-4o-mini`), hence `:path`.
The history route is a plain `def`, so FastAPI runs its DuckDB read in the thread pool instead of
on the event loop that serves completions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import orjson
from fastapi import APIRouter, Query
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

from ..catalog import Catalog, ModelInfo
from ..errors import GatewayError
from .history import MAX_HISTORY_MINUTES, endpoint_history, history_payload
from .listing import catalog_listing, live_listing, model_detail

__all__ = ["build_marketplace_router", "STATIC_DIR"]

STATIC_DIR = Path(__file__).with_name("static")
_NO_STORE = {"cache-control": "no-store"}  # live figures: a cached copy would be stale at once


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json", headers=_NO_STORE)


def build_marketplace_router(get_state: Callable[[], Any]) -> APIRouter:
    """Routes reading `catalog`, `live_stats`, `telemetry` and `dispatcher.clock` from `get_state()`."""
    router = APIRouter(include_in_schema=False)
    router.mount("/marketplace/static", StaticFiles(directory=STATIC_DIR), name="marketplace-static")
    page = STATIC_DIR / "index.html"

    def model_or_404(model_id: str) -> ModelInfo:
        catalog: Catalog = get_state().catalog
        model = catalog.model(model_id)
        if model is None:
            raise GatewayError(404, f"model {model_id!r} not found")
        return model

    def now() -> float:
        return get_state().dispatcher.clock()

    @router.get("/")
    @router.get("/models")
    @router.get("/models/{model_id:path}")
    async def marketplace_page() -> FileResponse:
        return FileResponse(page, media_type="text/html")

    # (catalog, serialised listing): ~10 ms to build for 744 models, so once per catalog, not per request.
    listing_cache: list = [None, b""]

    @router.get("/marketplace/api/models")
    async def list_models() -> Response:
        catalog = get_state().catalog
        if listing_cache[0] is not catalog:
            listing_cache[:] = [catalog, orjson.dumps(catalog_listing(catalog))]
        return Response(listing_cache[1], media_type="application/json", headers=_NO_STORE)

    @router.get("/marketplace/api/stats")
    async def live_stats() -> Response:
        return _json(live_listing(get_state().live_stats.snapshot(), now()))

    # Registered before the detail route: `{model_id:path}` would otherwise swallow "/history".
    @router.get("/marketplace/api/models/{model_id:path}/history")
    def model_history(model_id: str, minutes: int = Query(60, ge=1, le=MAX_HISTORY_MINUTES)) -> Response:
        model = model_or_404(model_id)
        until = now()
        since = until - minutes * 60
        providers = {e.endpoint_id: e.provider.name for e in model.endpoints}
        telemetry = getattr(get_state(), "telemetry", None)
        frame = None
        if telemetry is not None and telemetry.running:
            frame = endpoint_history(telemetry, list(providers), since, until)
        return _json(history_payload(model.id, providers, frame, since, until))

    @router.get("/marketplace/api/models/{model_id:path}")
    async def model_view(model_id: str) -> Response:
        return _json(model_detail(model_or_404(model_id), get_state().live_stats.snapshot()))

    return router
