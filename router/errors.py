"""One error shape for every failure: OpenAI's `{"error": {"code", "message", "type", ...}}`."""
from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["GatewayError", "error_body", "error_response"]

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class GatewayError(Exception):
    """An error that the client should see, with its HTTP status and OpenAI-shaped body."""

    def __init__(self, status: int, message: str, *, param: str | None = None,
                 metadata: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.metadata = metadata
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, param=self.param, metadata=self.metadata)


def error_body(status: int, message: str, *, param: str | None = None,
               metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "type": _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
        "param": param,
    }
    if metadata:
        error["metadata"] = metadata
    return {"error": error}


def error_response(exc: GatewayError) -> Response:
    return Response(orjson.dumps(exc.body()), status_code=exc.status,
                    media_type="application/json", headers=exc.headers)
