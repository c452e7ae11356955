"""`create_app(settings)` builds the gateway; long-lived resources live in the lifespan."""
from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from telemetry.snapshot import LiveStats

from .catalog import Catalog, load_catalog
from .demo import Behaviour, DemoProviders
from .dispatch import Dispatcher, Principal
from .errors import GatewayError, error_response
from .model_views import endpoints_view, model_view
from .policy_book import PolicyBook
from .schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from .settings import Settings
from .streaming import open_relay
from .transport import LeanTransport

__all__ = ["create_app", "demo_behaviours"]

log = logging.getLogger("switchyard")
_KINDS = {"chat": ChatCompletionRequest, "completion": CompletionRequest, "embedding": EmbeddingRequest}


def demo_behaviours(catalog: Catalog, speed: float = 1.0) -> dict[str, Behaviour]:
    """One demo upstream per catalog provider, imitating the provider's measured profile."""
    return {name: Behaviour(api_style=p.api_style, profile=p.demo_profile, speed=speed)
            for name, p in catalog.providers.items()}


def _wants_demo(settings: Settings, catalog: Catalog) -> bool:
    if settings.demo != "auto":
        return settings.demo == "on"
    has_any_key = any(
        name in settings.provider_keys or (p.key_env and os.environ.get(p.key_env))
        for name, p in catalog.providers.items())
    return not has_any_key


def create_app(settings: Settings | None = None, catalog: Catalog | None = None,
               transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    catalog = catalog or load_catalog(settings.catalog_path)
    demo_mode = _wants_demo(settings, catalog)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        demo = None
        served_catalog = catalog
        if demo_mode:
            demo = DemoProviders(demo_behaviours(catalog, settings.demo_speed), port=settings.demo_port,
                                 seed=settings.seed or 0).start()
            served_catalog = catalog.with_base_urls({name: demo.base_url(name) for name in catalog.providers})
            log.info("demo mode: no provider key configured; demo upstreams on 127.0.0.1:%d", demo.port)
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=500, keepalive_expiry=30)
        if transport is None and settings.http_transport == "lean":
            upstream_transport = LeanTransport()
        else:
            upstream_transport = transport
        client = httpx.AsyncClient(transport=upstream_transport, limits=limits,
                                   timeout=httpx.Timeout(None, connect=10.0), follow_redirects=False)
        policies = PolicyBook(settings.policy, settings.policy_per_model, settings.policy_params,
                              min_prob=settings.min_prob, seed=settings.seed)
        live_stats = LiveStats()
        recorder = app.state.recorder_factory(settings) if hasattr(app.state, "recorder_factory") else None
        app.state.settings = settings
        app.state.catalog = served_catalog
        app.state.demo = demo
        app.state.live_stats = live_stats
        app.state.dispatcher = Dispatcher(client, served_catalog, settings, recorder, live_stats, policies,
                                          demo_mode=demo_mode)
        try:
            yield
        finally:
            await client.aclose()
            if recorder is not None and hasattr(recorder, "stop"):
                recorder.stop()
            if demo is not None:
                demo.stop()

    app = FastAPI(title="Switchyard", version="0.1.0", lifespan=lifespan,
                  description="OpenAI-compatible LLM gateway with learned routing")

    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> Response:
        return error_response(exc)

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
        return data

    def principal_for(request: Request) -> Principal:
        master = settings.master_key
        if master:
            header = request.headers.get("authorization", "")
            if header.removeprefix("Bearer ").strip() != master:
                raise GatewayError(401, "invalid or missing API key")
        return Principal()

    async def routed(request: Request, kind: str) -> Response:
        principal = principal_for(request)
        data = await read_json(request)
        try:
            parsed = _KINDS[kind].model_validate(data)
        except ValidationError as exc:
            raise GatewayError(400, _validation_message(exc), param=_first_param(exc)) from None
        dispatcher: Dispatcher = request.app.state.dispatcher
        plan = dispatcher.plan(kind, parsed, principal)
        headers = {"x-generation-id": plan.generation_id}
        if plan.stream and kind != "embedding":
            relay = await open_relay(dispatcher, plan)
            headers.update({"cache-control": "no-cache", "x-accel-buffering": "no"})
            return StreamingResponse(relay, media_type="text/event-stream", headers=headers)
        answer, _endpoint, _cost, _byok = await dispatcher.complete(plan)
        return Response(orjson.dumps(answer), media_type="application/json", headers=headers)

    for prefix in ("/v1", "/api/v1"):
        app.add_api_route(prefix + "/chat/completions", _bind(routed, "chat"), methods=["POST"], include_in_schema=prefix == "/v1")
        app.add_api_route(prefix + "/completions", _bind(routed, "completion"), methods=["POST"], include_in_schema=prefix == "/v1")
        app.add_api_route(prefix + "/embeddings", _bind(routed, "embedding"), methods=["POST"], include_in_schema=prefix == "/v1")
        app.add_api_route(prefix + "/models", _list_models, methods=["GET"], include_in_schema=prefix == "/v1")
        app.add_api_route(prefix + "/models/{author}/{slug}/endpoints", _model_endpoints, methods=["GET"],
                          include_in_schema=prefix == "/v1")

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        return {"status": "ok", "demo": request.app.state.demo is not None}

    return app


def _bind(handler, kind: str):
    async def endpoint(request: Request) -> Response:
        return await handler(request, kind)
    endpoint.__name__ = f"{kind}_endpoint"
    return endpoint


async def _list_models(request: Request) -> Response:
    catalog: Catalog = request.app.state.catalog
    return Response(orjson.dumps({"data": [model_view(m) for m in catalog.models.values()]}),
                    media_type="application/json")


async def _model_endpoints(request: Request) -> Response:
    catalog: Catalog = request.app.state.catalog
    model_id = f"{request.path_params['author']}/{request.path_params['slug']}"
    model = catalog.model(model_id)
    if model is None:
        raise GatewayError(404, f"model {model_id!r} not found")
    stats = request.app.state.live_stats.snapshot()
    return Response(orjson.dumps({"data": endpoints_view(model, stats, request.app.state.dispatcher.clock())}),
                    media_type="application/json")


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        location = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{location}: {err['msg']}")
    return "invalid request: " + "; ".join(parts)


def _first_param(exc: ValidationError) -> str | None:
    errors = exc.errors()
    return ".".join(str(p) for p in errors[0]["loc"]) if errors else None
