"""API.md, "Browser access (CORS)": the customer-side routes answer browsers from the
allowed origins, errors included; the Open API never does."""

from __future__ import annotations

import pytest

from .conftest import Service
from .support import Api

SHOP = "https://shop.example.jp"
PREFLIGHT = {
    "Origin": SHOP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
}
CUSTOMER_PATHS = ["/v1/boot", "/v1/session", "/v1/session/events", "/v1/session/chats/c1/messages", "/v1/health"]


def headers_of(api: Api, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    response = api.client.http.request(method, path, headers=headers, body=b"")
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}


@pytest.mark.parametrize("path", CUSTOMER_PATHS)
def test_a_preflight_from_an_allowed_origin_answers_204_with_the_four_headers(
    api: Api, service: Service, path: str
) -> None:
    service.configure(ALLOWED_ORIGINS=f"https://other.example, {SHOP}")
    status, headers = headers_of(api, "OPTIONS", path, PREFLIGHT)
    assert status == 204
    assert headers["access-control-allow-origin"] == SHOP
    assert "origin" in headers["vary"].lower()
    assert headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert headers["access-control-allow-headers"] == "Authorization, Content-Type, X-Plugin-Key, Idempotency-Key"
    assert headers["access-control-max-age"] == "600"


def test_an_origin_not_in_the_list_gets_no_cors_headers(api: Api, service: Service) -> None:
    service.configure(ALLOWED_ORIGINS=SHOP)
    status, headers = headers_of(api, "OPTIONS", "/v1/boot", {**PREFLIGHT, "Origin": "https://evil.example"})
    assert status == 204
    assert not [h for h in headers if h.startswith("access-control-")]
    _, headers = headers_of(api, "GET", "/v1/health", {"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers


def test_no_origin_is_allowed_until_allowed_origins_is_set(api: Api, service: Service) -> None:
    service.configure(ALLOWED_ORIGINS=None)
    _, headers = headers_of(api, "OPTIONS", "/v1/boot", PREFLIGHT)
    assert "access-control-allow-origin" not in headers


def test_every_answer_to_an_allowed_origin_carries_it_errors_included(api: Api, service: Service) -> None:
    service.configure(ALLOWED_ORIGINS="*")
    cases = {
        "boot without a plugin key (401)": ("POST", "/v1/boot", {}),
        "a made-up session token (401)": ("GET", "/v1/session", {"Authorization": "Bearer nope"}),
        "health (200)": ("GET", "/v1/health", {}),
    }
    for name, (method, path, extra) in cases.items():
        _, headers = headers_of(api, method, path, {"Origin": SHOP, **extra})
        assert headers.get("access-control-allow-origin") in (SHOP, "*"), name
        assert "retry-after" in headers.get("access-control-expose-headers", "").lower(), name


@pytest.mark.parametrize("path", ["/v1/users/u1", "/v1/unifications", "/v1/members/m1", "/v1/imports"])
def test_open_api_routes_never_send_allow_origin(api: Api, service: Service, path: str) -> None:
    service.configure(ALLOWED_ORIGINS="*")
    _, headers = headers_of(api, "GET", path, {"Origin": SHOP, **api.credentials.admin_headers})
    assert "access-control-allow-origin" not in headers
