"""HTTP routes, the stream consumer and scheduled jobs: parse, call one service, shape."""

from __future__ import annotations

import functools
import logging
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Rate, Request, Response

from chalicelib.api.auth import bearer_token, require_access, require_plugin_key
from chalicelib.api.errors import domain_error_response, error_response
from chalicelib.bootstrap import container
from chalicelib.domain.errors import (
    DomainError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RetriesExhausted,
    UnsupportedMediaType,
)
from chalicelib.lazy import LazyModule

# Imported on first use (chalicelib/lazy.py): the stream consumer's and the
# schedule's Lambdas never load the HTTP layer, its pydantic bodies or the use
# cases they do not run.
if TYPE_CHECKING:
    from chalicelib.api import schemas as s
    from chalicelib.api import views
    from chalicelib.domain import contacts, models
    from chalicelib.service import messengers
    from chalicelib.service import users as user_cases
    from chalicelib.service.history import ChatView
    from chalicelib.store import streams
    from chalicelib.store.dynamo import Page
else:
    s = LazyModule("chalicelib.api.schemas")
    views = LazyModule("chalicelib.api.views")
    contacts = LazyModule("chalicelib.domain.contacts")
    models = LazyModule("chalicelib.domain.models")
    messengers = LazyModule("chalicelib.service.messengers")
    user_cases = LazyModule("chalicelib.service.users")
    streams = LazyModule("chalicelib.store.streams")

app = Chalice(app_name="unification")
app.log.setLevel(logging.INFO)
log = logging.getLogger("unification")

# Every body reaches the view, which answers a wrong one in the contract's shape.
ANY_BODY = ["*/*"]

View = Callable[..., Any]


def req() -> Request:
    request = app.current_request
    assert request is not None, "only called while serving a request"
    return request


CHALICE_CODES = {
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "BadRequestError": "invalid_request",
}


@app.middleware("http")
def contract_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice's own refusals (405, 415, ...) in the contract's error shape too."""
    response = get_response(event)
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = CHALICE_CODES.get(str(body["Code"]), "internal_error")
        reshaped = error_response(code, str(body["Message"]))
        reshaped.headers.update({k: v for k, v in response.headers.items() if k.lower() == "allow"})
        return reshaped
    return response


def contract(view: View) -> View:
    """Every answer in the contract's shape, whatever goes wrong."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except DomainError as error:
            return domain_error_response(error)
        except RetriesExhausted:
            log.exception("retries exhausted")
            return error_response("unavailable", "the service is busy; try again")
        except Exception:
            log.exception("unexpected error")
            return error_response("internal_error", "unexpected error")

    return wrapper


def route(path: str, methods: list[str], open_api: bool = True) -> Callable[[View], View]:
    def register(view: View) -> View:
        @functools.wraps(view)
        def guarded(**path_params: str) -> Any:
            settings = container().settings
            if open_api:
                require_access(req().headers, settings)
            if settings.decode_path_params:
                path_params = {k: urllib.parse.unquote(v) for k, v in path_params.items()}
            return view(**path_params)

        registered: View = app.route(path, methods=methods, content_types=ANY_BODY)(contract(guarded))
        return registered

    return register


def body(model: type[s.B]) -> s.B:
    raw = req().raw_body
    return s.parse_body(raw.encode() if isinstance(raw, str) else raw, model)


def params(*allowed: str) -> dict[str, str]:
    return s.only_params(req().query_params, set(allowed))


def created(payload: dict[str, Any]) -> Response:
    return Response(body=payload, status_code=201, headers={"Content-Type": "application/json"})


def consent_of(b: s.ProfileWrite) -> user_cases.Consent:
    return user_cases.Consent(b.unsubscribeEmail, b.unsubscribeTexting)


def chat_payload(view: ChatView) -> dict[str, Any]:
    return views.chat_json(view, container().history.name_messages(view.messages))


def page(items_key: str, items: list[Any], result: Page[Any]) -> dict[str, Any]:
    """A list answer; `resolvedFrom` is added when a unified user was read as its member (R3.5)."""
    body = {items_key: items, "nextCursor": result.next_cursor}
    if result.resolved_from is not None:
        body["resolvedFrom"] = result.resolved_from
    return body


# health ----------------------------------------------------------------------


@route("/v1/health", ["GET"], open_api=False)
def health() -> dict[str, Any]:
    return {"status": "ok"}


@route("/v1/openapi.json", ["GET"], open_api=False)
def openapi_document() -> dict[str, Any]:
    # Imported here: the document and its response models are not worth a cold start.
    from chalicelib.api import openapi

    return openapi.document()


# customer side (R4, R5) ------------------------------------------------------------


@route("/v1/boot", ["POST"], open_api=False)
def boot() -> dict[str, Any]:
    c = container()
    require_plugin_key(req().headers, c.settings)
    b = body(s.BootIn)
    result = c.sessions.boot(b.veilId, b.memberId, b.memberHash, s.profile_of(b, c.settings.default_phone_region))
    return {
        "veilId": result.device.veil_id,
        "sessionToken": result.token,
        "session": views.session_json(result.device),
        "user": views.user_json(result.user),
        "unification": views.unification_json(result.unification) if result.unification else None,
    }


def session_token() -> str:
    return bearer_token(req().headers)


@route("/v1/session", ["GET"], open_api=False)
def get_session() -> dict[str, Any]:
    result = container().sessions.current(session_token())
    return {"session": views.session_json(result.device), "user": views.user_json(result.user)}


@route("/v1/session/login", ["POST"], open_api=False)
def login() -> dict[str, Any]:
    c = container()
    token = session_token()
    b = body(s.LoginIn)
    result = c.sessions.login(token, b.memberId, b.memberHash, s.profile_of(b, c.settings.default_phone_region))
    return {
        "session": views.session_json(result.device),
        "user": views.user_json(result.user),
        "unification": views.unification_json(result.unification) if result.unification else None,
    }


@route("/v1/session/logout", ["POST"], open_api=False)
def logout() -> dict[str, Any]:
    result = container().sessions.logout(session_token())
    return {"session": views.session_json(result.device), "user": views.user_json(result.user)}


@route("/v1/session/events", ["POST"], open_api=False)
def session_event() -> Response:
    c = container()
    device = c.sessions.authenticate(session_token())
    b = body(s.EventIn).checked()
    event = c.history.record_event(device.user_id, b.name, b.properties, follow=True)
    return created({"event": views.event_json(event)})


@route("/v1/session/chats", ["POST", "GET"], open_api=False)
def session_chats() -> Any:
    c = container()
    device = c.sessions.authenticate(session_token())
    user = c.sessions.session_user(device)
    if req().method == "GET":
        q = params("limit", "cursor")
        result = c.history.list_chats(user.id, s.cursor_of(q), s.limit_of(q))
        return page("chats", [chat_payload(v) for v in result.items], result)
    b = body(s.TextIn)
    chat, message = c.history.start_chat(user, b.text)
    named = c.history.name_messages([message], known=[user])
    return created({"chat": views.chat_json(chat, named), "message": views.message_json(named[0])})


@route("/v1/session/chats/{chat_id}/messages", ["POST"], open_api=False)
def session_message(chat_id: str) -> Response:
    c = container()
    device = c.sessions.authenticate(session_token())
    b = body(s.TextIn)
    user, message = c.history.post_own_message(device.user_id, chat_id, b.text)
    return created({"message": views.message_json(c.history.name_messages([message], known=[user])[0])})


# Open API: members and users (R9) ---------------------------------------------------


@route("/v1/members/{member_id}", ["PUT", "GET"])
def member(member_id: str) -> Any:
    c = container()
    if req().method == "GET":
        return {"user": views.user_json(c.users.get_member(member_id))}
    b = body(s.ProfileWrite)
    result = c.users.upsert_member(member_id, s.profile_of(b, c.settings.default_phone_region), consent_of(b))
    payload = {"user": views.user_json(result.user)}
    return created(payload) if result.created else payload


@route("/v1/users", ["POST", "GET"])
def users() -> Any:
    c = container()
    if req().method == "GET":
        q = params("mobileNumber", "email", "memberId", "limit")
        keys = [k for k in ("mobileNumber", "email", "memberId") if k in q]
        if len(keys) != 1:
            raise InvalidRequest("give exactly one of mobileNumber, email or memberId")
        field = keys[0]
        value = (
            q[field]
            if field == "memberId"
            else contacts.normalize_contact(field, q[field], c.settings.default_phone_region)
        )
        found = c.users.search(field, value, s.limit_of(q))
        return {"users": [views.user_json(u) for u in found]}
    b = body(s.ProfileWrite)
    result = c.users.create_lead(s.profile_of(b, c.settings.default_phone_region), consent_of(b))
    candidate = views.unification_json(result.candidate) if result.candidate else None
    return created({"user": views.user_json(result.user), "unificationCandidate": candidate})


@route("/v1/users/{user_id}", ["GET", "PATCH"])
def user(user_id: str) -> Any:
    c = container()
    if req().method == "GET":
        q = params("resolve")
        found, resolved_from = c.users.get(user_id, resolve=s.flag_of(q, "resolve", True))
        return {"user": views.user_json(found), "resolvedFrom": resolved_from}
    b = body(s.ProfileWrite)
    result = c.users.edit(user_id, s.profile_of(b, c.settings.default_phone_region), consent_of(b))
    candidate = views.unification_json(result.candidate) if result.candidate else None
    return {"user": views.user_json(result.user), "unificationCandidate": candidate}


@route("/v1/users/{user_id}/chats", ["GET"])
def user_chats(user_id: str) -> dict[str, Any]:
    q = params("limit", "cursor")
    result = container().history.list_chats(user_id, s.cursor_of(q), s.limit_of(q))
    return page("chats", [chat_payload(v) for v in result.items], result)


@route("/v1/users/{user_id}/events", ["GET", "POST"])
def user_events(user_id: str) -> Any:
    c = container()
    if req().method == "GET":
        q = params("limit", "cursor")
        result = c.history.list_events(user_id, s.cursor_of(q), s.limit_of(q))
        return page("events", [views.event_json(e) for e in result.items], result)
    b = body(s.EventIn).checked()
    c.users.get(user_id, resolve=False)
    event = c.history.record_event(user_id, b.name, b.properties, follow=False)
    return created({"event": views.event_json(event)})


@route("/v1/users/{user_id}/marketing-deliveries", ["GET", "POST"])
def user_deliveries(user_id: str) -> Any:
    c = container()
    if req().method == "GET":
        q = params("limit", "cursor")
        result = c.history.list_deliveries(user_id, s.cursor_of(q), s.limit_of(q))
        return page("deliveries", [views.delivery_json(d) for d in result.items], result)
    b = body(s.DeliveryIn)
    delivery = c.history.deliver(user_id, b.campaignId)
    return created({"delivery": views.delivery_json(delivery)})


@route("/v1/chats/{chat_id}/messages", ["POST"])
def manager_reply(chat_id: str) -> Response:
    c = container()
    b = body(s.ManagerReplyIn)
    message = c.history.manager_reply(chat_id, b.text, b.managerName)
    return created({"message": views.message_json(c.history.name_messages([message])[0])})


# manual unification (R7) -------------------------------------------------------------


@route("/v1/unifications", ["GET", "POST"])
def unifications() -> Any:
    c = container()
    if req().method == "GET":
        q = params("status", "userId", "limit", "cursor")
        result = c.unifications.list(q.get("status"), q.get("userId"), s.cursor_of(q), s.limit_of(q))
        return page("unifications", [views.unification_json(u) for u in result.items], result)
    b = body(s.UnificationIn)
    return created({"unification": views.unification_json(c.unifications.propose(b.sourceUserId, b.targetUserId))})


@route("/v1/unifications/{unification_id}", ["GET"])
def unification(unification_id: str) -> dict[str, Any]:
    return {"unification": views.unification_json(container().unifications.get(unification_id))}


@route("/v1/unifications/{unification_id}/approve", ["POST"])
def approve(unification_id: str) -> dict[str, Any]:
    return {"unification": views.unification_json(container().unifications.approve(unification_id))}


@route("/v1/unifications/{unification_id}/reject", ["POST"])
def reject(unification_id: str) -> dict[str, Any]:
    return {"unification": views.unification_json(container().unifications.reject(unification_id))}


# channels and imports (R8) ------------------------------------------------------------


@route("/v1/messengers/{channel}/messages", ["POST"])
def messenger_message(channel: str) -> Response:
    c = container()
    if channel not in (models.Channel.LINE.value, models.Channel.INSTAGRAM.value):
        raise NotFound(f"no messenger channel {channel!r} (line or instagram)")
    raw = req().raw_body
    data = s.json_object(raw.encode() if isinstance(raw, str) else raw)
    profile = data.get("profile")
    if isinstance(profile, dict):
        contact = sorted(set(profile) & {"mobileNumber", "email"})
        if contact:
            raise InvalidRequest(
                f"a messenger cannot hand over contact info ({', '.join(contact)}); a manager adds it (R8.1)",
                fields=contact,
            )
    b = s.validate(data, s.MessengerIn)
    received = c.messengers.receive(
        models.Channel(channel),
        b.externalId,
        b.text,
        messengers.MessengerProfile(b.profile.name, b.profile.avatarUrl, b.profile.username),
    )
    named = c.history.name_messages([received.message])
    return created(
        {
            "user": views.user_json(received.user),
            "chat": chat_payload(received.chat),
            "message": views.message_json(named[0]),
        }
    )


@route("/v1/imports", ["POST"])
def imports() -> dict[str, Any]:
    c = container()
    q = params("autoApprove")
    media_type, charset = s.content_type(req().headers)
    if media_type not in ("text/csv", "application/csv"):
        raise UnsupportedMediaType("imports take Content-Type: text/csv")
    raw = req().raw_body or b""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > s.MAX_CSV_BYTES:
        raise PayloadTooLarge(f"CSV bodies are limited to {s.MAX_CSV_BYTES} bytes; split larger files")
    result = c.imports.run(data, charset, s.flag_of(q, "autoApprove", False))
    return {
        "import": {
            "rows": result.rows,
            "members": result.members,
            "leads": result.leads,
            "candidates": [views.unification_json(u) for u in result.candidates],
            "errors": [{"row": row, "message": message} for row, message in result.errors],
        }
    }


# stream consumer and schedules --------------------------------------------------------


@app.lambda_function(name="stream_consumer")
def stream_consumer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """DynamoDB stream → unification work; per-record failures, lowest first."""
    failed = container().consumers.handle_records(streams.decode_records(event))
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}


@app.schedule(Rate(1, unit=Rate.MINUTES), name="finish_unifications")
def finish_unifications(event: Any) -> dict[str, Any]:
    """Finish what the stream left undone: deferred unifications whose member has
    logged in since approval (R7.4), then history moves (R10)."""
    consumers = container().consumers
    return {
        "deferred": consumers.finish_deferred_unifications(),
        "moved": consumers.finish_running_unifications(),
    }
