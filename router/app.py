"""`create_app(settings)` builds the gateway; long-lived resources live in the lifespan."""
from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Awaitable, Callable

import httpx
import orjson
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from telemetry.api import endpoint_live_stats, generation_detail

from .accounting import as_gateway_error
from .billing import BillingError
from .billing import Principal as BillingPrincipal
from .billing.routes import build_billing_router
from .catalog import Catalog, load_catalog
from .dispatch import Dispatcher, Principal
from .errors import GatewayError, error_response
from .model_views import endpoints_view, model_view
from .schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from .services import demo_behaviours, describe, open_services
from .settings import Settings
from .streaming import EventStreamResponse, open_relay

__all__ = ["create_app", "demo_behaviours"]

log = logging.getLogger("switchyard")
_MAX_JSON_DEPTH = 254
_KINDS = {"chat": ChatCompletionRequest, "completion": CompletionRequest, "embedding": EmbeddingRequest}


def _internal_error() -> Response:
    """A bug, not the caller's fault: OpenAI's error shape, and nothing of the exception's text."""
    return error_response(GatewayError(500, "internal error in the gateway; it has been logged"))


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


class AfterSendResponse(Response):
    """A JSON response that runs `after` once it has been sent, or failed to be (the client left):
    what the caller need not wait for (see `Dispatcher.complete`) but must happen regardless."""

    def __init__(self, content: bytes, after: Callable[[], None], headers: dict[str, str] | None = None):
        super().__init__(content, media_type="application/json", headers=headers)
        self.after = after

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.after()


class GatewayApp(FastAPI):
    """FastAPI, plus a direct lane for the completion routes.

    A completion otherwise passes seven ASGI layers (error, telemetry and body-limit middleware,
    exception wrapping, routing, dependency solving) that it does not use: ~0.25 ms of CPU per
    request at concurrency 64, when a request cost ~1.2 ms in all. The lane calls the same handlers the routes are registered
    with, and maps errors the way the exception handlers do. It steps aside when user middleware
    (CORS) is configured, so that middleware still sees every request.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lanes: dict[str, Callable[[Request], Awaitable[Response]]] = {}

    async def __call__(self, scope, receive, send) -> None:
        handler = self.lanes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST" or self.user_middleware:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        try:
            response = await handler(Request(scope, receive))
        except GatewayError as exc:
            response = error_response(exc)
        except BillingError as exc:
            response = error_response(as_gateway_error(exc))
        except Exception:
            log.exception("unhandled error serving %s", scope["path"])
            response = _internal_error()
        await response(scope, receive, send)


def create_app(settings: Settings | None = None, catalog: Catalog | None = None,
               transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    catalog = catalog or load_catalog(settings.catalog_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        services = open_services(settings, catalog, transport)
        app.state.services = services
        services.on_catalog_swap = lambda new: setattr(app.state, "catalog", new)
        app.state.settings = settings
        app.state.catalog = services.catalog
        app.state.live_stats = services.live_stats
        app.state.dispatcher = services.dispatcher
        app.state.telemetry = services.telemetry
        app.state.billing = services.billing
        app.state.demo = services.demo
        # Everything loaded so far (~175k objects: catalog, libraries, policies) lives as long as
        # the process. Frozen, the collector stops re-scanning it: a full collection over it takes
        # ~60 ms of CPU, a pause for every request in flight whenever one comes due.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await services.close()

    app = GatewayApp(title="Switchyard", version="0.1.0", lifespan=lifespan,
                  description="OpenAI-compatible LLM gateway with learned routing")

    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> Response:
        return error_response(exc)

    @app.exception_handler(BillingError)
    async def _billing_error(request: Request, exc: BillingError) -> Response:
        return error_response(as_gateway_error(exc))

    @app.exception_handler(Exception)  # Starlette logs the exception after sending this
    async def _internal(request: Request, exc: Exception) -> Response:
        return _internal_error()

    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"])

    async def read_json(request: Request) -> dict[str, Any]:
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise GatewayError(413, f"request body is larger than the {limit}-byte limit")
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > limit:
                raise GatewayError(413, f"request body is larger than the {limit}-byte limit")
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise GatewayError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise GatewayError(400, "request body must be a JSON object")
        if body.count(b"{") + body.count(b"[") > _MAX_JSON_DEPTH:  # cheap bound first; exact check only then
            try:
                orjson.dumps(data)  # orjson writes at most 254 levels (it reads 1024): a deeper body cannot go upstream
            except orjson.JSONEncodeError:
                raise GatewayError(400, f"request body nests deeper than {_MAX_JSON_DEPTH} levels") from None
        return data

    def caller(request: Request) -> BillingPrincipal:
        return request.app.state.billing.authenticate(request.headers.get("authorization"))

    def principal_for(request: Request, who: BillingPrincipal) -> Principal:
        billing = request.app.state.billing
        return Principal(key_id=who.key_id, account_id=who.account_id, byok_keys=billing.byok_keys(who.account_id),
                         handle=who)

    async def routed(request: Request, kind: str) -> Response:
        who = caller(request)
        data = await read_json(request)
        try:
            parsed = _KINDS[kind].model_validate(data)
        except ValidationError as exc:
            raise GatewayError(400, _validation_message(exc), param=_first_param(exc)) from None
        dispatcher: Dispatcher = request.app.state.dispatcher
        plan = dispatcher.plan(kind, parsed, principal_for(request, who), body=data)
        if request.headers.get("x-switchyard-explain", "").lower() in ("1", "true", "yes"):
            plan.explain = True
        dispatcher.accountant.reserve(plan)  # 402 before any upstream call
        headers = {"x-generation-id": plan.generation_id}
        if plan.stream and kind != "embedding":
            try:
                relay = await open_relay(dispatcher, plan)
            except BaseException:
                dispatcher.release(plan)
                raise
            headers.update({"cache-control": "no-cache", "x-accel-buffering": "no"})
            return EventStreamResponse(relay, media_type="text/event-stream", headers=headers)
        answer, _endpoint, _cost, _byok = await dispatcher.complete(plan, defer_bookkeeping=True)
        try:
            body = orjson.dumps(answer)
        except BaseException:
            plan.run_after_send()
            raise
        return AfterSendResponse(body, partial(dispatcher.bookkeeper.defer, plan.run_after_send), headers=headers)

    async def generation(request: Request) -> Response:
        who = caller(request)
        generation_id = request.query_params.get("id")
        if not generation_id:
            raise GatewayError(400, "query parameter 'id' is required", param="id")
        writer = request.app.state.telemetry
        request.app.state.dispatcher.bookkeeper.flush()  # the requests just answered owe their events
        # Flushing and querying DuckDB can take a while: in a worker thread, never on the event loop.
        detail = await run_in_threadpool(_generation_for, writer, generation_id, who)
        if detail is None:
            raise GatewayError(404, f"generation {generation_id!r} not found")
        return _json({"data": detail})

    for prefix in ("/v1", "/api/v1"):
        schema = prefix == "/v1"
        for path, kind in (("/chat/completions", "chat"), ("/completions", "completion"), ("/embeddings", "embedding")):
            endpoint = _bind(routed, kind)
            app.add_api_route(prefix + path, endpoint, methods=["POST"], include_in_schema=schema)
            app.lanes[prefix + path] = endpoint
        app.add_api_route(prefix + "/models", _list_models, methods=["GET"], include_in_schema=schema)
        app.add_api_route(prefix + "/models/{author}/{slug}/endpoints", _model_endpoints, methods=["GET"],
                          include_in_schema=schema)
        app.add_api_route(prefix + "/generation", generation, methods=["GET"], include_in_schema=schema)
        app.include_router(build_billing_router(lambda: app.state.billing,
                                                lambda: app.state.dispatcher.bookkeeper.flush()),
                           prefix=prefix, include_in_schema=schema)

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        return {"status": "ok", **describe(request.app.state.services)}

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        body, content_type = request.app.state.services.metrics.render()
        return Response(body, media_type=content_type)

    try:
        from .marketplace import build_marketplace_router
    except ImportError:
        pass  # the marketplace page is optional
    else:
        app.include_router(build_marketplace_router(lambda: app.state))
    return app


def _generation_for(writer, generation_id: str, who: BillingPrincipal) -> dict[str, Any] | None:
    """Every attempt of one generation, if it exists and the caller may see it (owner or management)."""
    if writer is None:
        return None
    writer.flush(timeout=5.0)  # events of a request that just finished may still be queued
    detail = generation_detail(writer, generation_id)
    if detail is None or who.is_management:
        return detail
    owner = writer.read_frame("SELECT key_id FROM events WHERE generation_id = $id LIMIT 1", {"id": generation_id})
    return detail if owner.height and owner["key_id"][0] == who.key_id else None


def _bind(handler, kind: str):
    async def endpoint(request: Request) -> Response:
        return await handler(request, kind)
    endpoint.__name__ = f"{kind}_endpoint"
    return endpoint


async def _list_models(request: Request) -> Response:
    catalog: Catalog = request.app.state.catalog
    return _json({"data": [model_view(m) for m in catalog.models.values()]})


async def _model_endpoints(request: Request) -> Response:
    catalog: Catalog = request.app.state.catalog
    model_id = f"{request.path_params['author']}/{request.path_params['slug']}"
    model = catalog.model(model_id)
    if model is None:
        raise GatewayError(404, f"model {model_id!r} not found")
    snapshot = request.app.state.live_stats.snapshot()
    view = endpoints_view(model, snapshot, request.app.state.dispatcher.clock())
    for endpoint in view["endpoints"]:
        endpoint.update(endpoint_live_stats(snapshot, endpoint["endpoint_id"]))
    return _json({"data": view})


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        location = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{location}: {err['msg']}")
    return "invalid request: " + "; ".join(parts)


def _first_param(exc: ValidationError) -> str | None:
    errors = exc.errors()
    return ".".join(str(p) for p in errors[0]["loc"]) if errors else None
