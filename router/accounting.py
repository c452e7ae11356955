"""Money on the request path: hold before dispatch, settle on success, release otherwise.

Rule: an attempt is billed if and only if it succeeded (a stream that reached its end); failed
attempts, mid-stream failures and client cancellations release the hold. The same rule decides
the `cost` of telemetry events, so the ledger and the telemetry always agree.
"""
from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any, Callable

from .billing import Billing, BillingError, from_nanos, request_cost
from .catalog import Endpoint
from .errors import GatewayError

__all__ = ["Accountant", "as_gateway_error"]


def as_gateway_error(error: BillingError) -> GatewayError:
    return GatewayError(error.status, error.message)


class Accountant:
    def __init__(self, billing: Billing):
        self.billing = billing

    def reserve(self, plan: Any) -> None:
        who = plan.principal.handle
        if who is None:
            return
        # What each endpoint could take from the balance: list price plus the platform fee, or only
        # the BYOK fee where the caller's own key pays the provider. The store adds the larger fee
        # to whatever it is given, so the worst case is handed over net of that factor.
        byok = plan.principal.byok_keys
        billing = self.billing
        paid, own_key, larger = billing.fee_factors
        # In floats, then one exact Decimal: a hold is an upper bound rounded up to whole nano-dollars,
        # far coarser than a float's 1e-16 relative error.
        worst = max((cost * (own_key if endpoint.provider.name in byok else paid)
                     for endpoint, cost in plan.max_costs()), default=0.0)
        try:
            plan.hold = billing.reserve(who, Decimal(repr(worst / larger)))
        except BillingError as error:
            raise as_gateway_error(error) from None

    def settle(self, plan: Any, endpoint: Endpoint, prompt_tokens: int, completion_tokens: int,
               is_byok: bool) -> float:
        """Charge the served request now; returns what the caller pays (USD, fees included)."""
        charged, booking = self.settle_later(plan, endpoint, prompt_tokens, completion_tokens, is_byok)
        if booking is not None:
            booking()
        return charged

    def settle_later(self, plan: Any, endpoint: Endpoint, prompt_tokens: int, completion_tokens: int,
                     is_byok: bool) -> tuple[float, Callable[[], Any] | None]:
        """What the caller pays (USD, fees included), and the booking that charges it, to run once the
        answer is on its way: the ledger write is a SQLite transaction (~0.1-0.2 ms, more with cold caches)
        that the caller need not wait for. The hold leaves the plan here, so `release` cannot drop it."""
        hold = getattr(plan, "hold", None)
        cost = request_cost(prompt_tokens, completion_tokens, prompt_price=endpoint.prompt_price,
                            completion_price=endpoint.completion_price, request_price=endpoint.request_price)
        if hold is None:
            return float(cost), None
        plan.hold = None
        billing = self.billing
        charge = billing.charge_for(hold, cost, is_byok, generation_id=plan.generation_id)
        if charge is None:
            return 0.0, partial(billing.release, hold)
        return float(from_nanos(charge.total_nanos)), partial(billing.commit, hold, charge)

    def release(self, plan: Any) -> None:
        hold = getattr(plan, "hold", None)
        if hold is not None:
            plan.hold = None
            self.billing.release(hold)
