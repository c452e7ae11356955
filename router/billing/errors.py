"""Typed billing errors, each carrying its HTTP status and an OpenAI-shaped body.

Messages never contain a key, clear or hashed: the caller only ever learns *why* a key was refused.
The attributes (`status`, `message`, `body()`) match `router.errors.GatewayError`, and the body is
built by the same `error_body`, so the two can never drift apart.
"""
from __future__ import annotations

from typing import Any

from ..errors import error_body

__all__ = [
    "BillingError", "AuthenticationError", "PermissionDenied", "InsufficientCredits",
    "LimitExceeded", "NotFound", "InvalidRequest",
]


class BillingError(Exception):
    status: int = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message)


class AuthenticationError(BillingError):
    """Missing, malformed, unknown, disabled, revoked or expired key → 401."""

    status = 401


class PermissionDenied(BillingError):
    """A valid key that is not a management key on an admin route → 403."""

    status = 403


class InsufficientCredits(BillingError):
    """The account's balance minus its open holds cannot cover the request's maximum cost → 402."""

    status = 402


class LimitExceeded(InsufficientCredits):
    """The key's spend limit for the current window cannot cover the request → 402."""


class NotFound(BillingError):
    status = 404


class InvalidRequest(BillingError):
    status = 400
