"""The one table from domain errors to the contract's error bodies (API.md)."""

from __future__ import annotations

from typing import Any

from chalice.app import Response

from ..domain.errors import DomainError

STATUS_BY_CODE = {
    "invalid_request": 400,
    "unauthorized": 401,
    "not_found": 404,
    "unification_not_allowed": 409,
    "already_delivered": 409,
    "user_unified": 409,
    "invalid_state": 409,
    "idempotency_key_reused": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "method_not_allowed": 405,
    "unavailable": 503,
    "internal_error": 500,
}


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


def error_response(code: str, message: str, headers: dict[str, str] | None = None, **details: Any) -> Response:
    return Response(
        body=error_body(code, message, **details),
        status_code=STATUS_BY_CODE[code],
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def domain_error_response(error: DomainError) -> Response:
    return error_response(error.code, error.message, **error.details)
