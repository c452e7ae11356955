"""Unified billing: API keys, prepaid credits, platform and BYOK fees, reservations, spend limits.

The app calls one `Billing` object (see `service.py`); `routes.build_billing_router` serves the key
and credit endpoints, `cli.add_subcommands` the `keys`/`credits` commands.
"""
from .errors import (AuthenticationError, BillingError, InsufficientCredits, InvalidRequest, LimitExceeded,
                     NotFound, PermissionDenied)
from .money import from_nanos, parse_usd, request_cost, to_nanos
from .service import DEFAULT_ACCOUNT, Billing, Principal
from .sqlite_store import SQLiteBillingStore
from .store import BillingStore, Reservation

__all__ = [
    "Billing", "Principal", "Reservation", "DEFAULT_ACCOUNT", "BillingStore", "SQLiteBillingStore",
    "BillingError", "AuthenticationError", "PermissionDenied", "InsufficientCredits", "LimitExceeded",
    "NotFound", "InvalidRequest", "request_cost", "parse_usd", "to_nanos", "from_nanos",
]
