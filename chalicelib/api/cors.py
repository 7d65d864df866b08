"""Browser access to the customer-side routes (API.md, "Browser access (CORS)").

A shop's page on its own origin calls `/v1/boot`, `/v1/session…` and
`/v1/health`; those answer the origins in `ALLOWED_ORIGINS` (or any, with
`*`). The Open API never sends `Access-Control-Allow-Origin`: its secret
belongs to servers, never to a web page.
"""

from __future__ import annotations

from collections.abc import Mapping

CUSTOMER_PREFIXES = ("/v1/boot", "/v1/session", "/v1/health")
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, X-Plugin-Key, Idempotency-Key"
# Read by the SDK across origins: when to come back after a 503.
EXPOSE_HEADERS = "Retry-After, Idempotency-Replayed"
MAX_AGE = "600"


def is_customer_path(path: str) -> bool:
    """A customer-side route (the SDK's), as the route table names it."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in CUSTOMER_PREFIXES)


def allowed_origin(origin: str | None, allowed: tuple[str, ...]) -> str | None:
    """The origin to echo, when the request's origin may read the answer."""
    if not origin:
        return None
    normalized = origin.strip().rstrip("/").lower()
    if "*" in allowed or normalized in allowed:
        return origin.strip()
    return None


def answer_headers(origin: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    """Headers every answer to an allowed origin carries, errors included."""
    echoed = allowed_origin(origin, allowed)
    if echoed is None:
        return {}
    return {"Access-Control-Allow-Origin": echoed, "Vary": "Origin", "Access-Control-Expose-Headers": EXPOSE_HEADERS}


def preflight_headers(origin: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    """A preflight's answer (204): nothing for an origin not in the list."""
    headers = answer_headers(origin, allowed)
    if not headers:
        return {}
    return {
        **headers,
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": MAX_AGE,
    }


def origin_of(headers: Mapping[str, str]) -> str | None:
    return headers.get("origin") or headers.get("Origin")
