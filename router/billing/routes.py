"""HTTP routes for keys, credits and BYOK keys, shaped like OpenRouter's `/api/v1/key`, `/credits`, `/keys`.

Mount the same router under `/v1` and `/api/v1`. Any key may read its own `/key` and `/credits` and
manage its account's BYOK keys; `/keys` and `POST /credits` need a management key.

Request bodies are parsed here rather than by FastAPI's validator, because FastAPI's 422 body echoes
the input back — and for `POST /byok` the input is a provider key. Errors are OpenAI-shaped.
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Callable, Coroutine, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from .errors import BillingError, InvalidRequest, NotFound, PermissionDenied
from .service import DEFAULT_ACCOUNT, Billing, Principal

__all__ = ["build_billing_router", "billing_error_response", "json_response"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The store keeps nano-dollars in a signed 64-bit integer (±9.2e9 USD): larger amounts are a 400, not an overflow.
Usd = Annotated[Decimal, Field(ge=Decimal("-1e9"), le=Decimal("1e9"), allow_inf_nan=False)]


class CreateKeyBody(_Body):
    name: str
    account: str = DEFAULT_ACCOUNT
    limit: Usd | None = None
    limit_reset: Literal["daily", "weekly", "monthly"] | None = None
    expires_at: datetime | None = None
    include_byok_in_limit: bool = False
    management: bool = False


class UpdateKeyBody(_Body):
    name: str | None = None
    limit: Usd | None = None
    limit_reset: Literal["daily", "weekly", "monthly"] | None = None
    expires_at: datetime | None = None
    include_byok_in_limit: bool | None = None
    disabled: bool | None = None


class TopUpBody(_Body):
    account: str
    amount: Usd
    note: str = ""


class ByokBody(_Body):
    provider: str
    key: SecretStr  # SecretStr keeps the key out of reprs and tracebacks
    account: str | None = None  # management keys only


def build_billing_router(get_billing: Callable[[], Billing],
                         settle_pending: Callable[[], None] = lambda: None) -> APIRouter:
    """The billing APIRouter; `get_billing` returns the app's Billing (e.g. from `app.state`).

    `settle_pending` runs on the event loop before a read of usage or balance, so the answer counts
    every request already answered (the gateway defers their ledger writes by a few ms)."""
    router = APIRouter(tags=["billing"], route_class=_BillingRoute)

    def caller(authorization: str | None = Header(default=None)) -> Principal:
        return get_billing().authenticate(authorization)

    def manager(principal: Principal = Depends(caller)) -> Principal:
        if not principal.is_management:
            raise PermissionDenied("This route needs a management key")
        return principal

    @router.get("/key")
    async def current_key(principal: Principal = Depends(caller)) -> Response:
        settle_pending()
        usage = await run_in_threadpool(get_billing().key_usage, principal)
        return json_response({"data": _public(usage)})

    @router.get("/credits")
    async def credits(principal: Principal = Depends(caller)) -> Response:
        settle_pending()
        return json_response({"data": await run_in_threadpool(get_billing().credits, principal.account_id)})

    @router.post("/credits")
    async def add_credits(request: Request, _: Principal = Depends(manager)) -> Response:
        body = _parse(TopUpBody, await _read_body(request))
        billing = get_billing()
        billing.add_credits(body.account, body.amount, note=body.note)
        return json_response({"data": {"account": body.account, **billing.credits(body.account)}})

    @router.get("/keys")
    def list_keys(account: str | None = None, _: Principal = Depends(manager)) -> Response:
        return json_response({"data": [_public(key) for key in get_billing().list_keys(account)]})

    @router.post("/keys")
    async def create_key(request: Request, _: Principal = Depends(manager)) -> Response:
        body = _parse(CreateKeyBody, await _read_body(request))
        secret, info = get_billing().create_key(
            name=body.name, account_id=body.account, limit=body.limit, limit_reset=body.limit_reset,
            expires_at=_timestamp(body.expires_at), include_byok_in_limit=body.include_byok_in_limit,
            is_management=body.management)
        return json_response({"data": _public(info), "key": secret}, status=201)

    @router.get("/keys/{key_id}")
    def get_key(key_id: str, _: Principal = Depends(manager)) -> Response:
        return json_response({"data": _public(get_billing().get_key(key_id))})

    @router.patch("/keys/{key_id}")
    async def update_key(key_id: str, request: Request, _: Principal = Depends(manager)) -> Response:
        body = _parse(UpdateKeyBody, await _read_body(request))
        changes = {field: getattr(body, field) for field in body.model_fields_set}
        if "expires_at" in changes:
            changes["expires_at"] = _timestamp(changes["expires_at"])
        for field in ("name", "include_byok_in_limit", "disabled"):
            if field in changes and changes[field] is None:
                raise InvalidRequest(f"{field} cannot be null")
        return json_response({"data": _public(get_billing().update_key(key_id, **changes))})

    @router.delete("/keys/{key_id}")
    def revoke_key(key_id: str, _: Principal = Depends(manager)) -> Response:
        return json_response({"data": _public(get_billing().revoke_key(key_id)), "deleted": True})

    @router.get("/byok")
    def list_byok(account: str | None = None, principal: Principal = Depends(caller)) -> Response:
        account_id = _account_for(principal, account)
        return json_response({"data": [{"provider": provider, "account": account_id}
                                       for provider in get_billing().byok_providers(account_id)]})

    @router.post("/byok")
    async def register_byok(request: Request, principal: Principal = Depends(caller)) -> Response:
        body = _parse(ByokBody, await _read_body(request))
        account_id = _account_for(principal, body.account)
        get_billing().set_byok_key(account_id, body.provider, body.key.get_secret_value())
        return json_response({"data": {"provider": body.provider, "account": account_id}}, status=201)

    @router.delete("/byok/{provider}")
    def delete_byok(provider: str, account: str | None = None, principal: Principal = Depends(caller)) -> Response:
        account_id = _account_for(principal, account)
        if not get_billing().delete_byok_key(account_id, provider):
            raise NotFound(f"no {provider} key registered for this account")
        return json_response({"data": {"provider": provider, "account": account_id}, "deleted": True})

    return router


class _BillingRoute(APIRoute):
    """Renders BillingError (raised in a handler or a dependency) as an OpenAI-shaped response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except BillingError as error:
                return billing_error_response(error)

        return handle


def billing_error_response(error: BillingError) -> Response:
    """The response for a BillingError; the app can reuse it in its own exception handler."""
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return Response(orjson.dumps(error.body()), status_code=error.status, media_type="application/json",
                    headers=headers)


def json_response(content: Any, status: int = 200) -> Response:
    """JSON with Decimals as numbers (amounts are exact in the store; JSON clients read floats)."""
    return Response(orjson.dumps(content, default=_encode), status_code=status, media_type="application/json")


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


MAX_BODY_BYTES = 64 * 1024  # billing bodies are a few hundred bytes; a provider key at most a few KB


class PayloadTooLarge(InvalidRequest):
    status = 413


async def _read_body(request: Request) -> bytes:
    """The body, refused with a 413 once it passes MAX_BODY_BYTES (any key may POST /byok)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is larger than the {MAX_BODY_BYTES}-byte limit")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"request body is larger than the {MAX_BODY_BYTES}-byte limit")
    return bytes(body)


def _parse(model: type[_Body], raw: bytes) -> Any:
    """Validate a JSON body; error messages name fields and problems, never the submitted values."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as invalid:
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
                             for error in invalid.errors(include_input=False, include_url=False))
        raise InvalidRequest(f"Invalid request body: {problems}") from None


def _account_for(principal: Principal, requested: str | None) -> str:
    if requested is None or requested == principal.account_id:
        return principal.account_id
    if not principal.is_management:
        raise PermissionDenied("Only a management key may act on another account")
    return requested


def _timestamp(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # naive times are taken as UTC
    return moment.timestamp()


def _public(info: dict[str, Any]) -> dict[str, Any]:
    """Unix timestamps → ISO 8601 UTC strings, as OpenRouter returns them."""
    out = dict(info)
    for field in ("expires_at", "created_at", "revoked_at"):
        if out.get(field) is not None:
            out[field] = datetime.fromtimestamp(out[field], tz=timezone.utc).isoformat().replace("+00:00", "Z")
    return out
