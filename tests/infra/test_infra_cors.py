"""CORS when deployed (issue 11.1, API.md "Browser access (CORS)").

API Gateway hands a customer-side route's preflight `OPTIONS` to the API
handler through the same proxy integration as its other methods; the Open API
routes have no OPTIONS method, so a browser's preflight to them never gets an
`Access-Control-Allow-Origin`. The deployed stage's `ALLOWED_ORIGINS` is empty
until the operator sets it. The handler is driven here with the event API
Gateway sends (Lambda proxy integration, format 1.0) and the stage's own
environment from the template.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from infra_support import only, template_of

import app
from chalicelib import bootstrap
from chalicelib.api import cors

SHOP = "https://shop.example"
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": SHOP,
    "Vary": "Origin",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-Plugin-Key, Idempotency-Key",
    "Access-Control-Max-Age": "600",
}


def paths_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    _, rest = only(template, "AWS::Serverless::Api")
    paths: dict[str, dict[str, Any]] = rest["Properties"]["DefinitionBody"]["paths"]
    return paths


def proxy_event(resource: str, method: str, headers: dict[str, str]) -> dict[str, Any]:
    """What API Gateway sends the API handler for one request (REST API, Lambda proxy integration)."""
    params = {name: "x1" for name in re.findall(r"\{(\w+)\}", resource)}
    path = re.sub(r"\{(\w+)\}", "x1", resource)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": "test-request",
            "identity": {"sourceIp": "192.0.2.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.fixture
def deployed_handler(built: Any, monkeypatch: pytest.MonkeyPatch, fake_aws: dict[str, str]) -> Iterator[Any]:
    """`app.app` under the API handler's environment from the template (no SSM path: nothing to read)."""
    variables = template_of(built)["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    for name, value in variables.items():
        if isinstance(value, str) and name != "SECRETS_SSM_PATH":
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", f"unification-{built.stage}")
    monkeypatch.delenv("SECRETS_SSM_PATH", raising=False)
    bootstrap.reset()

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        bootstrap.reset()  # settings read afresh, as a new container would
        result: dict[str, Any] = app.app(event, None)
        return result

    yield handle
    bootstrap.reset()


def test_customer_side_preflights_reach_the_api_handler_and_open_api_routes_take_none(built: Any) -> None:
    paths = paths_of(template_of(built))
    customer = [p for p in paths if cors.is_customer_path(p)]
    assert {"/v1/boot", "/v1/session", "/v1/health"} <= set(customer)
    for path in customer:
        integration = paths[path]["options"]["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy", path  # not a mock answer with fixed headers
        assert "${APIHandler.Arn}" in integration["uri"]["Fn::Sub"], path
    open_api = [p for p in paths if not cors.is_customer_path(p)]
    assert open_api
    assert [p for p in open_api if "options" in paths[p]] == []


def test_a_deployed_stage_allows_no_origin_until_it_is_set(built: Any, deployed_handler: Any) -> None:
    variables = template_of(built)["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["ALLOWED_ORIGINS"] == ""
    answer = deployed_handler(proxy_event("/v1/boot", "OPTIONS", {"Origin": SHOP}))
    assert answer["statusCode"] == 204
    assert not [h for h in answer["headers"] if h.lower().startswith("access-control")]


def test_a_preflight_from_an_allowed_origin_is_answered_as_api_md_says(
    built: Any, deployed_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", f"{SHOP},https://www.shop.example")
    headers = {
        "Origin": SHOP,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    for path in [p for p in paths_of(template_of(built)) if cors.is_customer_path(p)]:
        answer = deployed_handler(proxy_event(path, "OPTIONS", headers))
        assert answer["statusCode"] == 204, path
        got = {k: v for k, v in answer["headers"].items() if k in PREFLIGHT_HEADERS}
        assert got == PREFLIGHT_HEADERS, path

    stranger = deployed_handler(proxy_event("/v1/boot", "OPTIONS", {**headers, "Origin": "https://evil.example"}))
    assert not [h for h in stranger["headers"] if h.lower().startswith("access-control")]


def test_answers_carry_the_origin_on_customer_routes_and_never_on_open_api_routes(
    deployed_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOWED_ORIGINS", "*")
    health = deployed_handler(proxy_event("/v1/health", "GET", {"Origin": SHOP}))
    assert health["statusCode"] == 200
    assert health["headers"]["Access-Control-Allow-Origin"] == SHOP
    refused = deployed_handler(proxy_event("/v1/session", "GET", {"Origin": SHOP}))  # no session token
    assert refused["statusCode"] == 401
    assert refused["headers"]["Access-Control-Allow-Origin"] == SHOP  # errors included

    open_api = deployed_handler(proxy_event("/v1/users", "GET", {"Origin": SHOP}))  # no access key: 401
    assert open_api["statusCode"] == 401
    assert not [h for h in open_api["headers"] if h.lower().startswith("access-control")]
