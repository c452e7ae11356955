"""The model marketplace page: models, prices, capabilities and live provider health, in the browser.

Mounted by the app at the root (public, no auth)::

    app.include_router(build_marketplace_router(lambda: app.state))

The page is static HTML + vanilla JavaScript shipped in `static/` (no build step, no CDN); it
draws from the JSON routes listed in `routes.py`.
"""
from .history import endpoint_history, history_payload
from .listing import (CAPABILITIES, capabilities, catalog_listing, endpoint_card, endpoint_live, live_listing,
                      model_card, model_detail)
from .routes import STATIC_DIR, build_marketplace_router

__all__ = ["build_marketplace_router", "STATIC_DIR", "CAPABILITIES", "capabilities", "endpoint_card", "endpoint_live",
           "model_card", "model_detail", "catalog_listing", "live_listing", "endpoint_history", "history_payload"]
