"""Typed billing errors, each carrying its HTTP status and an OpenAI-shaped body.

Messages never contain a key, clear or hashed: the caller only ever learns *why* a key was refused.
The attributes (`status`, `message`, `body()`) match `router.errors.GatewayError`, so the app can
render either the same way.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "BillingError", "AuthenticationError", "PermissionDenied", "InsufficientCredits",
    "LimitExceeded", "NotFound", "InvalidRequest",
]


class BillingError(Exception):
    status: int = 400
    error_type: str = "invalid_request_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.status, "message": self.message, "type": self.error_type,
                          "param": None}}


class AuthenticationError(BillingError):
    """Missing, malformed, unknown, disabled, revoked or expired key → 401."""

    status = 401
    error_type = "authentication_error"


class PermissionDenied(BillingError):
    """A valid key that is not a management key on an admin route → 403."""

    status = 403
    error_type = "permission_error"


class InsufficientCredits(BillingError):
    """The account's balance minus its open holds cannot cover the request's maximum cost → 402."""

    status = 402
    error_type = "insufficient_quota"


class LimitExceeded(InsufficientCredits):
    """The key's spend limit for the current window cannot cover the request → 402."""


class NotFound(BillingError):
    status = 404
    error_type = "not_found_error"


class InvalidRequest(BillingError):
    status = 400
    error_type = "invalid_request_error"
