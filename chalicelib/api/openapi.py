"""The OpenAPI 3.1 document of the contract, generated from the pydantic schemas.

One table of routes: method, path, who may call it, what it takes (request model
from `schemas`, query parameters) and what it answers (response models from
`responses`). Error answers follow from the route: every route may answer 400
(bad parameters or body), an authenticated one 401, one with a path parameter
404, one with a body 413, and 503 when the store stays busy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import cors
from . import responses as r
from . import schemas as s

REF = "#/components/schemas/{model}"
Auth = Literal["none", "access", "plugin", "session", "console"]
JSON = "application/json"
CSV = "text/csv"


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    auth: Auth
    answers: dict[int, type[BaseModel]]
    body: type[BaseModel] | Literal["csv"] | None = None
    query: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = field(default=())  # the 409 codes it may answer
    found: bool = False  # answers 404 without a path parameter (an id in the body)
    keyed: bool = False  # takes an Idempotency-Key (API.md, "Retries without duplicates")
    refuses: tuple[int, ...] = ()  # statuses beyond those that follow from the rest
    media: str = JSON  # what a success answers: JSON, or a file served beside the API


ROUTES = [
    Op("GET", "/v1/health", "Liveness; needs no credentials", "none", {200: r.Health}),
    Op("GET", "/v1/openapi.json", "This document", "none", {200: r.OpenApiDocument}),
    # pages and files served beside the API
    Op("GET", "/sdk/v1/unification.js", "The browser SDK (one script, no dependencies)", "none",
       {200: r.File}, media="text/javascript", found=True),
    Op("GET", "/console", "The managers' console (HTML)", "none", {200: r.File}, media="text/html", found=True),
    Op("GET", "/console/{name}", "One of the console's files (JS, CSS)", "none", {200: r.File}, media="text/plain",
       found=True),
    # the managers' console
    Op("POST", "/v1/console/session", "Sign in to the console with the Open API credentials: an HttpOnly, Secure,"
       " SameSite=Strict session cookie (1 hour) and the CSRF token its state-changing requests carry"
       " (X-CSRF-Token)", "none", {200: r.ConsoleSession}, s.ConsoleSignIn, refuses=(401,)),
    Op("GET", "/v1/console/session", "The console session the cookie names (401 when it ended)", "console",
       {200: r.ConsoleSession}),
    Op("DELETE", "/v1/console/session", "Sign out: the session ends and the cookie is cleared", "console",
       {204: r.NoContent}),
    # customer side (R4, R5)
    Op("POST", "/v1/boot", "Start or continue the device's session; with memberId a login", "plugin",
       {200: r.BootOut}, s.BootIn, conflicts=("unification_not_allowed",)),
    Op("GET", "/v1/session", "The session and its user", "session", {200: r.SessionOut}),
    Op("POST", "/v1/session/login", "Log the session in as a member (R5)", "session", {200: r.LoginOut},
       s.LoginIn, conflicts=("unification_not_allowed",)),
    Op("POST", "/v1/session/logout", "Log out; the member stays the session's user (R4.2)", "session",
       {200: r.SessionOut}),
    Op("POST", "/v1/session/events", "Record an event for the session's user", "session", {201: r.EventOut},
       s.EventIn, keyed=True),
    Op("POST", "/v1/session/chats", "Start a chat (R1.2)", "session", {201: r.ChatStarted}, s.TextIn, keyed=True),
    Op("GET", "/v1/session/chats", "The user's chats, unified ones included", "session", {200: r.ChatPage},
       query=("limit", "cursor", "order")),
    Op("GET", "/v1/session/chats/{chatId}/messages", "All messages of one of the user's chats, paged", "session",
       {200: r.MessagePage}, query=("limit", "cursor", "order")),
    Op("POST", "/v1/session/chats/{chatId}/messages", "Write in one of the user's chats", "session",
       {201: r.MessageOut}, s.TextIn, keyed=True),
    # Open API: members and users (R9)
    Op("PUT", "/v1/members/{memberId}", "Upsert a member by memberId (R9.1)", "access",
       {200: r.UserOut, 201: r.UserOut}, s.ProfileWrite, conflicts=("user_unified",)),
    Op("GET", "/v1/members/{memberId}", "A member", "access", {200: r.UserOut}),
    Op("POST", "/v1/users", "Create a lead by profile (R9.2)", "access", {201: r.UserWithCandidate}, s.ProfileWrite,
       conflicts=("unification_not_allowed",), keyed=True),
    Op("GET", "/v1/users", "Un-unified users matching exactly one of mobileNumber, email, memberId", "access",
       {200: r.UserList}, query=("mobileNumber", "email", "memberId", "limit")),
    Op("GET", "/v1/users/{userId}", "A user; a unified one resolves to its member unless resolve=false",
       "access", {200: r.UserResolved}, query=("resolve",)),
    Op("PATCH", "/v1/users/{userId}", "Manager edit (R7)", "access", {200: r.UserWithCandidate}, s.ProfileWrite,
       conflicts=("user_unified", "unification_not_allowed")),
    Op("GET", "/v1/users/{userId}/chats", "A user's chats, each with its latest messages", "access",
       {200: r.ChatPage}, query=("limit", "cursor", "order")),
    Op("GET", "/v1/users/{userId}/events", "A user's events", "access", {200: r.EventPage},
       query=("limit", "cursor", "order")),
    Op("POST", "/v1/users/{userId}/events", "Record an event", "access", {201: r.EventOut}, s.EventIn,
       conflicts=("user_unified",), keyed=True),
    Op("GET", "/v1/users/{userId}/marketing-deliveries", "A user's marketing deliveries", "access",
       {200: r.DeliveryPage}, query=("limit", "cursor")),
    Op("POST", "/v1/users/{userId}/marketing-deliveries", "Record a delivery, once per campaign and member",
       "access", {201: r.DeliveryOut}, s.DeliveryIn, conflicts=("already_delivered", "user_unified")),
    Op("POST", "/v1/chats/{chatId}/messages", "A manager's reply", "access", {201: r.MessageOut}, s.ManagerReplyIn,
       keyed=True),
    Op("GET", "/v1/chats/{chatId}/messages", "All messages of a chat, paged", "access", {200: r.MessagePage},
       query=("limit", "cursor", "order")),
    # manual unification (R7)
    Op("GET", "/v1/unifications", "Unifications, by status and user", "access", {200: r.UnificationPage},
       query=("status", "userId", "limit", "cursor")),
    Op("POST", "/v1/unifications", "Propose a unification directly; R2 is checked at once", "access",
       {201: r.UnificationOut}, s.UnificationIn, conflicts=("unification_not_allowed",), found=True),
    Op("GET", "/v1/unifications/{unificationId}", "A unification", "access", {200: r.UnificationOut}),
    Op("POST", "/v1/unifications/{unificationId}/approve", "Approve a candidate (R7.3)", "access",
       {200: r.UnificationOut}, conflicts=("invalid_state", "unification_not_allowed")),
    Op("POST", "/v1/unifications/{unificationId}/reject", "Reject a candidate", "access", {200: r.UnificationOut},
       conflicts=("invalid_state",)),
    # channels and imports (R8)
    Op("POST", "/v1/messengers/{channel}/messages", "A message from LINE or Instagram (R8.1)", "access",
       {201: r.MessengerOut}, s.MessengerIn, keyed=True),
    Op("POST", "/v1/imports", "Import a CSV of members and leads (R8.2)", "access", {200: r.ImportOut}, "csv",
       query=("autoApprove",)),
    # erasure (R11)
    Op("POST", "/v1/users/{userId}/erasure", "Erase the whole person this user belongs to (202); dryRun=true"
       " counts what would go (200) and changes nothing", "access", {202: r.ErasureOut, 200: r.ErasureOut},
       query=("dryRun",)),
    Op("GET", "/v1/erasures/{erasureId}", "An erasure and its progress", "access", {200: r.ErasureOut}),
    # webhooks (R12)
    Op("POST", "/v1/webhooks", "Subscribe a URL to events; the answer shows its signing secret once", "access",
       {201: r.WebhookOut}, s.WebhookIn),
    Op("GET", "/v1/webhooks", "The subscriptions (no secrets)", "access", {200: r.WebhookList}),
    Op("DELETE", "/v1/webhooks/{webhookId}", "Unsubscribe: the webhook gets nothing more", "access",
       {204: r.NoContent}),
    Op("GET", "/v1/webhooks/{webhookId}/deliveries", "A webhook's messages and how their delivery went, newest first",
       "access", {200: r.WebhookDeliveryPage}, query=("limit", "cursor")),
]  # fmt: skip

QUERY: dict[str, dict[str, Any]] = {
    "limit": {
        "description": "page size",
        "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_LIMIT, "default": s.DEFAULT_LIMIT},
    },
    "cursor": {
        "description": "the nextCursor of the previous page",
        "schema": {"type": "string", "minLength": 1, "maxLength": 4096},
    },
    "status": {"schema": {"type": "string", "enum": list(get_args(r.UnificationStatus))}},
    "order": {
        "description": "oldest (default) or newest first; a cursor keeps the order it was handed out with",
        "schema": {"type": "string", "enum": ["oldest", "newest"]},
    },
    "userId": {"description": "as source or as target", "schema": {"type": "string", "minLength": 1}},
    "resolve": {"description": "false: the frozen record itself", "schema": {"type": "boolean", "default": True}},
    "mobileNumber": {"description": "normalized before matching", "schema": {"type": "string"}},
    "email": {"description": "normalized before matching", "schema": {"type": "string"}},
    "memberId": {"schema": {"type": "string"}},
    "autoApprove": {"description": "approve candidates at once", "schema": {"type": "boolean", "default": False}},
    "dryRun": {
        "description": "count what would be erased; change nothing",
        "schema": {"type": "boolean", "default": False},
    },
}
PATH: dict[str, dict[str, Any]] = {
    "channel": {"type": "string", "enum": ["line", "instagram"]},
}
SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    "none": [],
    "access": [{"accessKey": [], "accessSecret": []}],
    "plugin": [{"pluginKey": []}],
    "session": [{"sessionToken": []}],
    "console": [{"consoleSession": []}],
}
SECURITY_SCHEMES = {
    "accessKey": {"type": "apiKey", "in": "header", "name": "X-Access-Key", "description": "Open API key"},
    "accessSecret": {"type": "apiKey", "in": "header", "name": "X-Access-Secret", "description": "Open API secret"},
    "pluginKey": {"type": "apiKey", "in": "header", "name": "X-Plugin-Key", "description": "the SDK's plugin key"},
    "sessionToken": {"type": "http", "scheme": "bearer", "description": "the sessionToken POST /v1/boot answers"},
    "consoleSession": {
        "type": "apiKey",
        "in": "cookie",
        "name": "uconsole",
        "description": "the console's session (POST /v1/console/session); with it every Open API route answers the"
        " console, and state-changing requests also carry X-CSRF-Token",
    },
}
SUCCESS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}
ERRORS = {  # status → (component name, description); 409's description lists the route's codes
    400: ("InvalidRequest", "invalid_request: bad JSON, wrong types, unknown or read-only fields, bad parameters"),
    401: ("Unauthorized", "unauthorized: missing or wrong credentials, bad or expired session token, bad memberHash"),
    404: ("NotFound", "not_found: no such user, member, chat or unification"),
    413: ("PayloadTooLarge", "payload_too_large: JSON bodies over 1 MiB, CSV bodies over 10 MiB"),
    415: ("UnsupportedMediaType", "unsupported_media_type: imports take text/csv"),
    503: ("Unavailable", "unavailable: the store stayed busy; try again"),
}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "the same key from the same caller within 24 h answers the first answer again and writes"
    " nothing; with another route or body: 409 idempotency_key_reused",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
}
PREFLIGHT = {
    "summary": "CORS preflight (API.md, Browser access): 204 with the Access-Control-Allow-* headers for an"
    " origin in ALLOWED_ORIGINS, none otherwise",
    "security": [],
    "responses": {"204": {"description": "No Content"}},
}


def path_parameters(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def error_statuses(op: Op) -> list[int]:
    statuses = (set() if op.auth == "none" else {401, 503}) | set(op.refuses)
    if op.keyed:
        statuses |= {400, 409}
    if op.body is not None or op.query or path_parameters(op.path):
        statuses.add(400)  # a path parameter must be valid UTF-8 without control characters
    if path_parameters(op.path) or op.found:
        statuses.add(404)
    if op.conflicts or op.keyed:
        statuses.add(409)
    if op.body is not None:
        statuses.add(413)
    if op.body == "csv":
        statuses.add(415)
    return sorted(statuses)


def operation_id(op: Op) -> str:
    """`GET /v1/users/{userId}/events` → `getUsersByUserIdEvents`."""
    words = [f"By{p[1].upper()}{p[2:-1]}" if p.startswith("{") else p for p in op.path.split("/")[2:]]
    return op.method.lower() + "".join(w[:1].upper() + w[1:] for w in re.split(r"[-.]", "-".join(words)) if w)


def json_content(ref: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": ref}}


def operation(op: Op, refs: Mapping[Any, dict[str, Any]]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": PATH.get(name, {"type": "string", "minLength": 1})}
        for name in path_parameters(op.path)
    ]
    parameters += [{"name": name, "in": "query", "required": False, **QUERY[name]} for name in op.query]
    if op.keyed:
        parameters.append(IDEMPOTENCY_KEY)
    answers: dict[str, Any] = {
        str(status): {
            "description": SUCCESS[status],
            "content": json_content(refs[model]) if op.media == JSON else {op.media: {"schema": {"type": "string"}}},
        }
        if status != 204
        else {"description": SUCCESS[status]}
        for status, model in op.answers.items()
    }
    for status in error_statuses(op):
        if status == 409:
            codes = [*op.conflicts, *(["idempotency_key_reused"] if op.keyed else [])]
            answers["409"] = {"description": ", ".join(codes), "content": json_content(refs[r.ErrorBody])}
        else:
            answers[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    spec: dict[str, Any] = {
        "operationId": operation_id(op),
        "summary": op.summary,
        "security": SECURITY[op.auth],
        "responses": answers,
    }
    if parameters:
        spec["parameters"] = parameters
    if op.body == "csv":
        spec["requestBody"] = {
            "required": True,
            "description": "a header line, then one row per member or lead",
            "content": {CSV: {"schema": {"type": "string"}}},
        }
    elif op.body is not None:
        required = any(f.is_required() for f in op.body.model_fields.values())
        spec["requestBody"] = {"required": required, "content": json_content(refs[op.body])}
    return spec


@cache
def document() -> dict[str, Any]:
    inputs = {op.body for op in ROUTES if isinstance(op.body, type)}
    outputs = {model for op in ROUTES for model in op.answers.values()} | {r.ErrorBody}
    keys, schemas = models_json_schema(
        [(m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)]
        + [(m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    refs = {model: ref for (model, _), ref in keys.items()}
    paths: dict[str, dict[str, Any]] = {}
    for op in ROUTES:
        paths.setdefault(op.path, {})[op.method.lower()] = operation(op, refs)
    for path, ops in paths.items():
        if cors.is_customer_path(path):
            preflight: dict[str, Any] = {"operationId": operation_id(Op("OPTIONS", path, "", "none", {})), **PREFLIGHT}
            names = path_parameters(path)
            if names:
                preflight["parameters"] = [
                    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
                ]
            ops["options"] = preflight
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Customer unification service",
            "version": "1",
            "description": "JSON over HTTP; errors are {error: {code, message, ...details}}. See API.md.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "responses": {
                name: {"description": description, "content": json_content(refs[r.ErrorBody])}
                for name, description in ERRORS.values()
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
