"""Test helpers: an injectable clock, a Billing on a temporary store, and a minimal app that wires billing
into a stand-in completion route the way the gateway does (authenticate → reserve → upstream with the
BYOK or platform key → settle, or release on failure)."""
from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from starlette.responses import Response

from router.billing import Billing, BillingError, request_cost
from router.billing.routes import billing_error_response, build_billing_router, json_response

MASTER_KEY = "sk-sy-test-master-key-0123456789abcdef"
PLATFORM_PROVIDER_KEY = "sk-platform-upstream-key"
PROMPT_PRICE = Decimal("0.0000015")
COMPLETION_PRICE = Decimal("0.0000061")
# A Tuesday, so "this week" began the day before and "this month" nine days before.
START = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc).timestamp()


class FakeClock:
    def __init__(self, start: float = START):
        self.current = start

    def __call__(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


@dataclass
class Upstream:
    """A fake provider that records the key it was called with; `fail` answers 500."""

    seen_keys: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen_keys.append(request.headers["authorization"].removeprefix("Bearer "))
        body = httpx.Response(200, content=request.content).json()
        if body.get("fail"):
            return httpx.Response(500, json={"error": {"message": "upstream broke"}})
        return httpx.Response(200, json={"usage": {"prompt_tokens": body["prompt_tokens"],
                                                   "completion_tokens": body["completion_tokens"]}})


def build_app(billing: Billing, upstream: Upstream) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(upstream.handle),
                                     base_url="http://upstream.test") as client:
            app.state.upstream = client
            yield

    app = FastAPI(lifespan=lifespan)
    for prefix in ("/v1", "/api/v1"):
        app.include_router(build_billing_router(lambda: billing), prefix=prefix)

    @app.exception_handler(BillingError)
    async def on_billing_error(request: Request, error: BillingError) -> Response:
        return billing_error_response(error)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        principal = billing.authenticate(request.headers.get("authorization"))
        prompt_tokens, max_tokens = body["prompt_tokens"], body["max_tokens"]
        prices = {"prompt_price": PROMPT_PRICE, "completion_price": COMPLETION_PRICE}
        hold = billing.reserve(principal, request_cost(prompt_tokens, max_tokens, **prices))
        provider = body.get("provider", "openai")
        byok_key = billing.byok_key(principal.account_id, provider)
        upstream_key = byok_key or PLATFORM_PROVIDER_KEY
        answer = await request.app.state.upstream.post("/chat", json=body, headers={"authorization": f"Bearer {upstream_key}"})
        if answer.status_code != 200:
            billing.release(hold)
            return json_response({"error": {"code": 502, "message": "upstream failed", "type": "upstream_error"}},
                                 status=502)
        usage = answer.json()["usage"]
        cost = request_cost(usage["prompt_tokens"], usage["completion_tokens"], **prices)
        if usage["completion_tokens"] == 0:
            cost = Decimal(0)  # an empty completion is not billed
        charged = billing.settle(hold, cost, is_byok=byok_key is not None)
        return json_response({"usage": {**usage, "cost": charged, "cost_exact": str(charged),
                                        "is_byok": byok_key is not None}})

    return app


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


ADMIN = bearer(MASTER_KEY)
