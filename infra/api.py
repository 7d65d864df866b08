"""API Gateway: its own answers, the access log, tracing and the stage's throttling.

CORS (API.md): the customer-side routes take OPTIONS in app.py, so their
preflight reaches the app through the same proxy integration as every other
method; Open API routes have no OPTIONS method at all.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.api.web import RETRY_AFTER_SECONDS  # the app's own 503 says the same

from .names import ACCESS_LOG, REST_API
from .skips import checkov_skips
from .stages import limits_for

# API Gateway's own answers (unknown route, body too large, throttling, ...) in the
# contract's error shape: {"error": {"code", "message"}}. Throttling (the stage's
# limits, infra/stages.py) is the contract's busy answer: 503 `unavailable` with
# `Retry-After`, which clients (the SDK) retry. They carry no CORS headers: a gateway
# response applies to every route, Open API ones included, and cannot pick the
# caller's origin from ALLOWED_ORIGINS (infra/README.md, "CORS").
GATEWAY_RESPONSES: dict[str, tuple[str, str | None, str, str, bool]] = {
    # logical id: (response type, status or None to keep the gateway's, code, message, Retry-After)
    "MissingRouteResponse": ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found", "no such route", False),
    "TooLargeResponse": ("REQUEST_TOO_LARGE", "413", "payload_too_large", "$context.error.messageString", False),
    "ThrottledResponse": ("THROTTLED", "503", "unavailable", "the service is busy; try again", True),
    "Default4xxResponse": ("DEFAULT_4XX", None, "invalid_request", "$context.error.messageString", False),
    "Default5xxResponse": ("DEFAULT_5XX", None, "unavailable", "$context.error.messageString", True),
}

# One JSON line per request: what happened, never who (no source IP, user agent,
# path parameters or query: resourcePath is the route's template).
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "time": "$context.requestTimeEpoch",
    "method": "$context.httpMethod",
    "route": "$context.resourcePath",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "errorType": "$context.error.responseType",
    "responseLength": "$context.responseLength",
    "xrayTraceId": "$context.xrayTraceId",
}


def access_log_name(prefix: str) -> str:
    return f"/aws/apigateway/{prefix}/access"


def gateway_responses() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for logical_id, (response_type, status, code, message, retry) in GATEWAY_RESPONSES.items():
        body = json.dumps({"error": {"code": code, "message": message}})
        properties: dict[str, Any] = {
            "RestApiId": {"Ref": REST_API},
            "ResponseType": response_type,
            "ResponseTemplates": {"application/json": body},
        }
        if status is not None:
            properties["StatusCode"] = status
        if retry:
            properties["ResponseParameters"] = {"gatewayresponse.header.Retry-After": f"'{RETRY_AFTER_SECONDS}'"}
        resources[logical_id] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": properties}
    return resources


def method_path(path: str) -> str:
    """A route as MethodSettings names it: `/v1/imports` → `/~1v1~1imports`."""
    return "/" + path.replace("/", "~1")


def method_settings(stage: str, routes: dict[str, Any]) -> list[dict[str, Any]]:
    limits = limits_for(stage)
    settings = [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": limits.api.rate,
            "ThrottlingBurstLimit": limits.api.burst,
            "MetricsEnabled": False,  # per-route metrics are billed as custom metrics; the stage's are free
            "DataTraceEnabled": False,  # would log request and response bodies: personal data
        }
    ]
    for (path, method), throttle in sorted(limits.routes.items()):
        if method not in routes.get(path, {}):
            continue  # API Gateway refuses settings for a method it does not have (a test checks app.py)
        settings.append(
            {
                "ResourcePath": method_path(path),
                "HttpMethod": method,
                "ThrottlingRateLimit": throttle.rate,
                "ThrottlingBurstLimit": throttle.burst,
            }
        )
    return settings


def rest_api(stage: str, prefix: str, routes: dict[str, Any]) -> dict[str, Any]:
    """Name, tracing, access log and throttling of Chalice's REST API.

    CORS (API.md): the customer-side routes take OPTIONS in app.py, so their
    preflight reaches the app through the same proxy integration as every
    other method; Open API routes have no OPTIONS method at all.
    """
    return {
        "Metadata": checkov_skips("api"),
        "Properties": {
            "Name": prefix,  # the ApiName of its CloudWatch metrics: one per stage
            "DefinitionBody": {"info": {"title": prefix}},
            "TracingEnabled": True,
            "AccessLogSetting": {
                "DestinationArn": {
                    "Fn::Sub": f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}"
                    f":log-group:${{{ACCESS_LOG}}}"
                },
                "Format": json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":")),
            },
            "MethodSettings": method_settings(stage, routes),
        },
    }
