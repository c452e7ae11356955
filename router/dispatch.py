"""Request -> candidates -> decision -> attempts with fallback -> OpenAI-shaped answer.

Every attempt, failed or not, becomes one telemetry event carrying the policy's decision and
propensity; the live stats and circuit breakers learn from it at once.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Protocol

import httpx
import numpy as np

from policies.base import Observation, RequestFeatures, RoutingContext
from policies.serving import explain
from telemetry.events import AttemptEvent
from telemetry.snapshot import LiveStats

from .adapters import ADAPTERS, UpstreamError
from .bookkeeping import Bookkeeper
from .breaker import BreakerBoard
from .candidates import ModelRef, filter_endpoints, parse_model
from .catalog import Catalog, Endpoint, ModelInfo
from .errors import GatewayError
from .ordering import Decision, decide
from .policy_book import PolicyBook
from .schemas import ROUTING_FIELDS, ProviderPreferences
from .settings import Settings
from .tokens import estimate_prompt_tokens, estimate_text_tokens
from .transport import UpstreamRequest
from .upstream import send_json

__all__ = ["Dispatcher", "Plan", "Principal", "Recorder"]

log = logging.getLogger("switchyard.dispatch")
_DEFAULT_EXPECTED_OUTPUT = 256  # prior for output length when max_tokens is not given


class Recorder(Protocol):
    def record(self, event: AttemptEvent) -> bool: ...


@dataclass(frozen=True)
class Principal:
    """Who is calling: the hashed key id for telemetry, the account for billing and BYOK."""

    key_id: str = "anonymous"
    account_id: str = "default"
    byok_keys: dict[str, str] = field(default_factory=dict, repr=False)
    handle: Any = None  # billing's own object for this caller


@dataclass
class Route:
    ref: ModelRef
    model: ModelInfo
    decision: Decision


@dataclass
class Plan:
    kind: str  # chat | completion | embedding
    payload: dict[str, Any]  # the body forwarded upstream (routing fields removed)
    routes: list[Route]
    prefs: ProviderPreferences
    features: RequestFeatures
    context: RoutingContext
    principal: Principal
    stream: bool
    request_id: str
    generation_id: str
    requested_model: str
    output_cap: int | None
    explain: bool = False
    started: float = 0.0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    hold: Any = None  # the billing reservation while the request is in flight
    last_error: Any = None  # the latest attempt's UpstreamError (the stream relay's all_failed reads it)
    after_send: list[Callable[[], Any]] = field(default_factory=list)  # see Dispatcher.complete

    def run_after_send(self) -> None:
        """Run the book-keeping `Dispatcher.complete` deferred; each job runs once, whatever the others do."""
        jobs, self.after_send = self.after_send, []
        for job in jobs:
            try:
                job()
            except Exception:  # the answer has been sent: a failed ledger or telemetry write can only be logged
                log.exception("book-keeping after request %s failed", self.generation_id)

    def attempt_list(self) -> list[tuple[Route, Endpoint]]:
        pairs: list[tuple[Route, Endpoint]] = []
        for route in self.routes:
            endpoints = route.decision.order
            if not self.prefs.allow_fallbacks and not self.prefs.order:
                endpoints = endpoints[:1]
            pairs.extend((route, e) for e in endpoints)
            if not self.prefs.allow_fallbacks:
                break  # no model fallback either
        return pairs

    def max_costs(self) -> list[tuple[Endpoint, float]]:
        """The most this request can cost, at list price, on each endpoint it may try (for reservations)."""
        prompt = self.features.prompt_tokens
        bounds = []
        for _route, endpoint in self.attempt_list():
            cap = self.output_cap or endpoint.max_output_tokens or max(endpoint.context_length - prompt, 0)
            bounds.append((endpoint, endpoint.cost(prompt, cap)))
        return bounds


class Dispatcher:
    def __init__(self, transport: httpx.AsyncBaseTransport, catalog: Catalog, settings: Settings, recorder: Recorder | None,
                 live_stats: LiveStats, policies: PolicyBook, demo_mode: bool = False,
                 clock: Callable[[], float] = time.time, accountant: Any = None):
        # Requests go straight to the transport: httpx.AsyncClient's auth, redirect, cookie and URL
        # merging layers cost ~0.25 ms per request and the gateway uses none of them.
        self.transport = transport
        self.catalog = catalog
        self.settings = settings
        self.recorder = recorder
        self.live_stats = live_stats
        self.policies = policies
        self.demo_mode = demo_mode
        self.clock = clock
        self.accountant = accountant  # router.accounting.Accountant, or None to charge nobody
        self.breakers = BreakerBoard(settings.breaker_failures, settings.breaker_cooldown_s)
        self.in_flight: dict[str, int] = {}
        self.rng = np.random.default_rng(settings.seed)
        self.bookkeeper = Bookkeeper(settings.bookkeeping_delay_s)  # runs what `complete` defers

    # ---- keys -------------------------------------------------------------------------------------
    def provider_key(self, endpoint: Endpoint, principal: Principal) -> tuple[str | None, bool]:
        """(key, is_byok). The caller's own key wins; then the platform key; demo upstreams need none."""
        name = endpoint.provider.name
        if name in principal.byok_keys:
            return principal.byok_keys[name], True
        if name in self.settings.provider_keys:
            return self.settings.provider_keys[name], False
        env = endpoint.provider.key_env
        if env and os.environ.get(env):
            return os.environ[env], False
        return None, False

    def has_key(self, endpoint: Endpoint, principal: Principal) -> bool:
        # A provider without `key_env` (a self-hosted vLLM, say) needs no key.
        if self.demo_mode or endpoint.provider.key_env is None:
            return True
        return self.provider_key(endpoint, principal)[0] is not None

    # ---- planning ---------------------------------------------------------------------------------
    def plan(self, kind: str, request, principal: Principal, body: dict[str, Any] | None = None) -> Plan:
        """Route a validated request. `body` is the client's raw JSON (forwarded as sent, minus
        routing fields and nulls); without it the validated model is dumped, which costs more."""
        now = self.clock()
        chain = request.model_chain()
        prefs = request.provider or ProviderPreferences()
        if body is None:
            body = request.model_dump(exclude_none=True, exclude_unset=True)
        payload = {k: v for k, v in body.items() if v is not None and k not in ROUTING_FIELDS}
        prompt_tokens = estimate_prompt_tokens(payload)
        output_cap = request.output_cap()
        expected_output = output_cap if output_cap else (0 if kind == "embedding" else _DEFAULT_EXPECTED_OUTPUT)
        used_parameters = [k for k in payload if k not in ("messages", "prompt", "input", "stream", "user", "n")]
        stream = bool(getattr(request, "stream", False))
        features = RequestFeatures(
            prompt_tokens=prompt_tokens, max_tokens=output_cap, expected_output_tokens=expected_output,
            stream=stream, has_tools=bool(payload.get("tools")), hour_of_day=time.gmtime(now).tm_hour)
        routes: list[Route] = []
        reasons: list[str] = []
        for slug in chain:
            model = self.catalog.model(slug)  # ids may themselves end in ":free" (OpenRouter's do)
            ref = ModelRef(slug, None) if model is not None else parse_model(slug)
            model = model or self.catalog.model(ref.model_id)
            if model is None:
                raise GatewayError(404, f"model {slug!r} not found; GET /v1/models lists the available models",
                                   param="model")
            wanted_kind = "embedding" if kind == "embedding" else "chat"
            if model.kind != wanted_kind:
                raise GatewayError(400, f"model {slug!r} is a {model.kind} model and cannot serve {kind} requests",
                                   param="model")
            endpoints, dropped = filter_endpoints(model, ref, prefs, prompt_tokens, output_cap, used_parameters,
                                                  lambda e: self.has_key(e, principal))
            reasons.extend(dropped)
            if not endpoints:
                continue
            sort = prefs.sort or ref.sort
            context = RoutingContext(features=features, now=now, stats=self.live_stats.snapshot(), sort=sort,
                                     in_flight=self.in_flight)
            policy = self.policies.for_model(model.id)
            routes.append(Route(ref, model, decide(endpoints, prefs, sort, policy, context, self.rng)))
        if not routes:
            raise GatewayError(404, "no endpoint can serve this request: " + "; ".join(reasons[:20]),
                               metadata={"reasons": reasons})
        context = RoutingContext(features=features, now=now, stats=self.live_stats.snapshot(), sort=prefs.sort,
                                 in_flight=self.in_flight)
        return Plan(kind=kind, payload=payload, routes=routes, prefs=prefs, features=features, context=context,
                    principal=principal, stream=stream, request_id=os.urandom(16).hex(),
                    generation_id=f"gen-{int(now)}-{os.urandom(10).hex()}", requested_model=chain[0],
                    output_cap=output_cap, explain=bool(getattr(request, "explain", False)), started=now)

    # ---- one attempt ------------------------------------------------------------------------------
    def build_request(self, plan: Plan, endpoint: Endpoint, stream: bool) -> tuple[UpstreamRequest, bool]:
        key, is_byok = self.provider_key(endpoint, plan.principal)
        adapter = ADAPTERS[endpoint.provider.api_style]
        payload = dict(plan.payload)
        payload["model"] = endpoint.upstream_model
        request = adapter.build_request(endpoint.provider.base_url, key, plan.kind, payload, stream)
        request.connect_timeout_s = self.settings.connect_timeout_s
        return request, is_byok

    def attempt_timeout(self, plan: Plan, endpoint: Endpoint) -> float:
        remaining = plan.started + self.settings.request_deadline_s - self.clock()
        if remaining <= 0:
            raise UpstreamError("timeout", "request deadline exceeded", retryable=False)
        return min(endpoint.provider.timeout_s or self.settings.attempt_timeout_s, remaining)

    def begin(self, plan: Plan, route: Route, endpoint: Endpoint) -> bool:
        """Start an attempt, or note that the endpoint's circuit breaker skipped it (False)."""
        now = self.clock()
        if not self.breakers.get(endpoint.endpoint_id).allow(now):
            plan.attempts.append({"endpoint": endpoint.endpoint_id, "provider": endpoint.provider.name,
                                  "model": route.model.id, "status": 0, "error_class": "circuit-open",
                                  "error": "circuit breaker open", "latency_s": 0.0})
            # Tell the policy: an endpoint skipped by its breaker yields no outcome otherwise, and a
            # bandit that hears nothing keeps choosing it first (the simulator halved regret with this).
            policy = self.policies.for_model(route.model.id)
            if route.decision.policy == policy.name:
                policy.update(Observation(endpoint_id=endpoint.endpoint_id, context=plan.context, success=False,
                                          error_class="circuit-open", propensity=self._propensity(route, endpoint),
                                          now=now))
            return False
        self.in_flight[endpoint.endpoint_id] = self.in_flight.get(endpoint.endpoint_id, 0) + 1
        return True

    @staticmethod
    def _propensity(route: Route, endpoint: Endpoint) -> float:
        """The first choice's sampling probability; for a fallback, its probability under the policy."""
        decision = route.decision
        if decision.order and endpoint is decision.order[0]:
            return decision.propensity
        return decision.probabilities.get(endpoint.endpoint_id, 0.0)

    def finish(self, plan: Plan, route: Route, endpoint: Endpoint, attempt: int, started: float, *,
               error: UpstreamError | None, status: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0,
               ttft_s: float | None = None, is_byok: bool = False, error_class: str | None = None,
               now: float | None = None) -> float:
        """Book-keeping after an attempt that ended at `now` (default: the clock); returns its cost in USD
        (0 when it failed)."""
        now = self.clock() if now is None else now
        self.in_flight[endpoint.endpoint_id] = max(self.in_flight.get(endpoint.endpoint_id, 1) - 1, 0)
        error_class = error_class or (error.error_class if error else None)
        if error is not None:
            plan.last_error = error
        ok = error_class is None
        latency = now - started
        cost = endpoint.cost(prompt_tokens, completion_tokens) if ok else 0.0
        decode_time = latency - (ttft_s or 0.0)
        tokens_per_s = completion_tokens / decode_time if ok and completion_tokens > 1 and decode_time > 0 else None
        breaker = self.breakers.get(endpoint.endpoint_id)
        if error_class != "client-cancel" and error_class != "user":
            breaker.record(ok, now)
        else:
            breaker.trial_in_flight = False  # an abandoned half-open trial proves nothing: let another try
        counts = error_class not in ("user", "429", "client-cancel")
        self.live_stats.observe(endpoint.endpoint_id, now, ok, counts_against_uptime=counts,
                                ttft_s=ttft_s if ok else None, latency_s=latency if ok else None,
                                tokens_per_s=tokens_per_s)
        decision = route.decision
        propensity = self._propensity(route, endpoint)
        policy = self.policies.for_model(route.model.id)
        if decision.policy == policy.name:
            policy.update(Observation(endpoint_id=endpoint.endpoint_id, context=plan.context, success=ok,
                                      error_class=error_class, ttft_s=ttft_s, latency_s=latency,
                                      output_tokens=completion_tokens, tokens_per_s=tokens_per_s, cost=cost,
                                      propensity=propensity, now=now))
        plan.attempts.append({"endpoint": endpoint.endpoint_id, "provider": endpoint.provider.name,
                              "model": route.model.id, "status": status, "error_class": error_class,
                              "error": error.message if error else None, "latency_s": round(latency, 4)})
        if self.recorder is not None:
            self.recorder.record(AttemptEvent(
                request_id=plan.request_id, generation_id=plan.generation_id, ts=started,
                key_id=plan.principal.key_id, requested_model=plan.requested_model, served_model=route.model.id,
                endpoint_id=endpoint.endpoint_id, provider=endpoint.provider.name, attempt=attempt,
                candidates=tuple(e.endpoint_id for e in decision.order), policy=decision.policy,
                policy_version=decision.policy_version, propensity=propensity,
                prompt_tokens=prompt_tokens or plan.features.prompt_tokens, max_tokens=plan.output_cap,
                stream=plan.stream, has_tools=plan.features.has_tools, completion_tokens=completion_tokens,
                ttft_s=ttft_s, latency_s=latency, tokens_per_s=tokens_per_s, status=status, error_class=error_class,
                prompt_price=endpoint.prompt_price, completion_price=endpoint.completion_price, cost=cost,
                is_byok=is_byok))
        return cost

    # ---- non-streaming ----------------------------------------------------------------------------
    async def complete(self, plan: Plan, *, defer_bookkeeping: bool = False) -> tuple[dict[str, Any], Endpoint, float, bool]:
        """Try the attempt list in order; returns (OpenAI response, endpoint, charged USD, is_byok).

        With `defer_bookkeeping`, the successful attempt's telemetry, policy update and ledger write
        (~0.3 ms together at low load, when caches are cold) wait in `plan.after_send`, and the caller
        must call `plan.run_after_send()` once the answer is sent, whatever happens to the send (the
        app's `AfterSendResponse` does). The charge in the answer is computed before, exactly."""
        try:
            result = await self._complete(plan)
        finally:
            self.release(plan)  # no-op once the hold has moved into a settle
        if not defer_bookkeeping:
            plan.run_after_send()
        return result

    def settle(self, plan: Plan, endpoint: Endpoint, prompt_tokens: int, completion_tokens: int,
               is_byok: bool, list_cost: float) -> float:
        if self.accountant is None:
            return list_cost
        return self.accountant.settle(plan, endpoint, prompt_tokens, completion_tokens, is_byok)

    def release(self, plan: Plan) -> None:
        if self.accountant is not None:
            self.accountant.release(plan)

    async def _complete(self, plan: Plan) -> tuple[dict[str, Any], Endpoint, float, bool]:
        attempt = 0
        last_error: UpstreamError | None = None
        for route, endpoint in plan.attempt_list():
            if not self.begin(plan, route, endpoint):
                continue
            started = self.clock()
            is_byok = False
            try:
                timeout = self.attempt_timeout(plan, endpoint)
                request, is_byok = self.build_request(plan, endpoint, stream=False)
                adapter = ADAPTERS[endpoint.provider.api_style]
                data, status = await send_json(self.transport, adapter, request, plan.kind, timeout)
            except UpstreamError as error:
                self.finish(plan, route, endpoint, attempt, started, error=error, status=error.status, is_byok=is_byok)
                attempt += 1
                last_error = error
                if not error.retryable:
                    break
                continue
            except BaseException:
                self.finish(plan, route, endpoint, attempt, started, error=None, error_class="client-cancel",
                            is_byok=is_byok)
                raise
            ended = self.clock()
            usage = data.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or plan.features.prompt_tokens)
            completion_tokens = int(usage.get("completion_tokens") or _estimate_completion(data))
            cost = endpoint.cost(prompt_tokens, completion_tokens)
            commit = None
            if self.accountant is not None:
                cost, commit = self.accountant.settle_later(plan, endpoint, prompt_tokens, completion_tokens, is_byok)
            plan.after_send.append(partial(self._book_success, plan, route, endpoint, attempt, started, ended, status,
                                           prompt_tokens, completion_tokens, is_byok, commit))
            if plan.explain:  # the explanation lists this attempt
                plan.run_after_send()
            return self.decorate(plan, data, route, endpoint, prompt_tokens, completion_tokens, cost, is_byok), \
                endpoint, cost, is_byok
        raise self.all_failed(plan, last_error)

    def _book_success(self, plan: Plan, route: Route, endpoint: Endpoint, attempt: int, started: float, ended: float,
                      status: int, prompt_tokens: int, completion_tokens: int, is_byok: bool,
                      commit: Callable[[], Any] | None) -> None:
        try:
            self.finish(plan, route, endpoint, attempt, started, error=None, status=status, prompt_tokens=prompt_tokens,
                        completion_tokens=completion_tokens, is_byok=is_byok, now=ended)
        finally:
            if commit is not None:
                commit()

    def decorate(self, plan: Plan, data: dict[str, Any], route: Route, endpoint: Endpoint, prompt_tokens: int,
                 completion_tokens: int, cost: float, is_byok: bool) -> dict[str, Any]:
        data["id"] = plan.generation_id
        data["model"] = route.model.id
        data["provider"] = endpoint.provider.name
        data.setdefault("object", {"chat": "chat.completion", "completion": "text_completion",
                                   "embedding": "list"}[plan.kind])
        if plan.kind != "embedding":
            data.setdefault("created", int(plan.started))
        data["usage"] = {**(data.get("usage") or {}), "prompt_tokens": prompt_tokens,
                         "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens,
                         "cost": round(cost, 12), "is_byok": is_byok}
        if plan.explain:
            data["switchyard_metadata"] = self.explanation(plan)
        return data

    def explanation(self, plan: Plan) -> dict[str, Any]:
        """The routing decision in the spirit of OpenRouter's metadata: candidates, predictions, order."""
        routes = []
        for route in plan.routes:
            policy = self.policies.for_model(route.model.id)
            candidates = [e.candidate for e in route.decision.order]
            routes.append({
                "model": route.model.id, "policy": route.decision.policy,
                "policy_version": route.decision.policy_version, "propensity": route.decision.propensity,
                "order": [e.endpoint_id for e in route.decision.order],
                "candidates": explain(policy, candidates, plan.context)
                if route.decision.policy == policy.name else
                [{"endpoint_id": e.endpoint_id, "probability": route.decision.probabilities.get(e.endpoint_id, 0.0)}
                 for e in route.decision.order]})
        return {"routes": routes, "attempts": plan.attempts}

    def all_failed(self, plan: Plan, last_error: UpstreamError | None) -> GatewayError:
        last_error = last_error or plan.last_error
        tried = ", ".join(f"{a['endpoint']} ({a['error_class']}{' ' + str(a['status']) if a['status'] else ''})"
                          for a in plan.attempts) or "none"
        if last_error is not None and not last_error.retryable and last_error.error_class == "user":
            status = last_error.status if 400 <= last_error.status < 500 else 400
            return GatewayError(status, f"upstream rejected the request: {last_error.message}",
                                metadata={"attempts": plan.attempts})
        classes = {a["error_class"] for a in plan.attempts}
        status = 429 if classes == {"429"} else 504 if classes == {"timeout"} else 502
        if classes == {"circuit-open"}:
            status = 503
        message = f"all {len(plan.attempts)} attempts failed; tried: {tried}"
        if last_error is not None:
            message += f"; last error: {last_error.message}"
        headers = None
        if status == 429 and last_error is not None and last_error.retry_after_s is not None:
            # Pass the provider's Retry-After on: the official SDKs wait that long before retrying.
            headers = {"retry-after": str(max(math.ceil(last_error.retry_after_s), 0))}
        return GatewayError(status, message, metadata={"attempts": plan.attempts}, headers=headers)


def _estimate_completion(data: dict[str, Any]) -> int:
    total = 0
    for choice in data.get("choices") or ():
        message = choice.get("message") or {}
        text = message.get("content") or choice.get("text") or ""
        total += estimate_text_tokens(text if isinstance(text, str) else str(text))
        for call in message.get("tool_calls") or ():
            total += estimate_text_tokens(str(call.get("function", {}).get("arguments", "")))
    return total
